"""Property tests of the parsers that face the sandbox, with well-kept libraries as oracles.

- HTTP request heads: what :func:`read_request` accepts, h11 accepts too, with the same
  method, target and headers; it never accepts a CR, LF, NUL or other control byte in a field.
- Request bodies (where one request ends) and the injection's response filter: checked
  against h11's framing.
- DNS questions: dnslib builds valid queries; ours must read the same name and type, and
  what we answer must be a packet dnslib can read.
- TLS ClientHello: OpenSSL (``ssl``) builds real ones with random names.
- Arbitrary bytes never raise anything but the parser's documented refusal.

The examples are bounded here; ``scripts/fuzz_parsers.py`` runs the same properties longer.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct

import dnslib
import h11
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bwsandbox.net._dns import Question, answer, parse_query, refuse
from bwsandbox.net._http1 import Body, Chunked, ResponseError, ResponseFilter
from bwsandbox.net._names import SyntheticNames
from bwsandbox.net._proxy import _target
from bwsandbox.net._sniff import (
    HEAD_LIMIT,
    HeadError,
    complete,
    looks_like_http,
    read_request,
    tls_server_name,
)

#: bounded here; ``scripts/fuzz_parsers.py`` raises it for a longer run
FUZZ_EXAMPLES = int(os.environ.get("BWSANDBOX_FUZZ_EXAMPLES", "150"))
EXAMPLES = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_token = st.text(TCHAR, min_size=1, max_size=12).map(str.encode)
#: bytes that are interesting in a head: controls, separators, obs-text, plain letters
_nasty = st.sampled_from(
    [b"\r", b"\n", b"\r\n", b"\0", b"\t", b" ", b":", b"\x7f", b"\x0b", b"\x1b", b"\xff", b"a"]
)
_value = st.lists(st.one_of(_nasty, st.binary(max_size=4)), max_size=6).map(b"".join)
_eol = st.sampled_from([b"\r\n"] * 12 + [b"\n", b"\r", b"\r\r\n"])
_printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"CONNECT", b"PUT"]) | _token)
    target = draw(st.sampled_from([b"/", b"/a?b=c", b"http://web.test/x", b"web.test:443"]))
    target = draw(st.sampled_from([target] * 3 + [target + draw(_value)]))
    version = draw(st.sampled_from([b"HTTP/1.1"] * 4 + [b"HTTP/1.0", b"HTTP/2.0", b"http/1.1"]))
    sep = draw(st.sampled_from([b" "] * 6 + [b"\t", b"  "]))
    out = method + sep + target + b" " + version + draw(_eol)
    if draw(st.integers(0, 4)):
        out += b"Host: web.test\r\n"
    fields = draw(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from([b"Host", b"Content-Length", b"X-A"]), _token, _value),
                st.sampled_from([b":", b": ", b" :", b":\t"]),
                st.one_of(
                    st.sampled_from([b"web.test", b"0", b"chunked"]),
                    _printable.map(str.encode),
                    _value,
                ),
                _eol,
            ),
            max_size=5,
        )
    )
    for name, colon, value, eol in fields:
        folded = draw(st.sampled_from([b""] * 8 + [b" ", b"\t"]))
        out += folded + name + colon + value + eol
    return out + draw(_eol)


def _h11(data: bytes) -> h11.Request | None:
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_LIMIT)
    connection.receive_data(data)
    try:
        event = connection.next_event()
    except h11.RemoteProtocolError:
        return None
    return event if isinstance(event, h11.Request) else None


def _agrees_with_h11(data: bytes) -> None:
    try:
        ours = read_request(data)
    except HeadError:
        return
    theirs = _h11(data)
    if ours.method == "CONNECT" and not ours.values("host"):
        return  # the one leniency: CONNECT without Host (the authority is the target)
    assert theirs is not None, f"we accepted what h11 refuses: {data!r}"
    assert theirs.method.decode() == ours.method
    assert theirs.target.decode() == ours.target
    assert "HTTP/" + theirs.http_version.decode() == ours.version
    assert [(k.decode().lower(), v.decode("latin-1")) for k, v in theirs.headers.raw_items()] == [
        (k.lower(), v) for k, v in ours.headers
    ]
    for name, value in ours.headers:
        assert not any(c in name + value for c in "\r\n\0\x0b\x7f\x1b")


@EXAMPLES
@given(heads())
def test_http_heads_we_accept_h11_accepts_identically(data: bytes) -> None:
    _agrees_with_h11(data)


@EXAMPLES
@given(heads(), st.integers(min_value=0), st.binary(min_size=1, max_size=3))
def test_mutated_http_heads_agree_with_h11(data: bytes, where: int, insert: bytes) -> None:
    at = where % (len(data) + 1)
    _agrees_with_h11(data[:at] + insert + data[at:])


def test_a_valid_head_is_accepted() -> None:
    """Control for the properties above: they would pass vacuously if nothing were accepted."""
    data = b"POST /v1/messages HTTP/1.1\r\nHost: a.test\r\nX-A: b c\r\nContent-Length: 2\r\n\r\n"
    request = read_request(data)
    assert (request.method, request.target) == ("POST", "/v1/messages")
    assert request.header("x-a") == "b c"
    assert _h11(data) is not None


@pytest.mark.parametrize(
    "smuggle",
    [
        b"X-A: a\nContent-Length: 0\n\nGET /a2 HTTP/1.1\nHost: evil.example",  # finding 7
        b"X-A: a\rHost: evil.example",
        b"X-A: a\x00b",
        b"X-A: a\r\n b",  # obsolete folding
        b"X-A : a",
        b"Content-Length: 1\r\nContent-Length: 2",
        b"Content-Length: 1\r\nTransfer-Encoding: chunked",
        b"Transfer-Encoding: gzip, chunked",
        b"Host: evil.example",  # a second Host
    ],
)
def test_smuggling_heads_are_refused(smuggle: bytes) -> None:
    with pytest.raises(HeadError):
        read_request(b"GET /a HTTP/1.1\r\nHost: a.test\r\n" + smuggle + b"\r\n\r\n")


@EXAMPLES
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_cleanly(data: bytes) -> None:
    complete(data)
    looks_like_http(data)
    with contextlib.suppress(HeadError):
        read_request(data)
    with contextlib.suppress(ValueError):
        tls_server_name(data)
    with contextlib.suppress(ValueError):
        _target("CONNECT", data.decode("latin-1"))


@EXAMPLES
@given(st.text(max_size=40), st.sampled_from(["CONNECT", "GET"]))
def test_proxy_targets_are_parsed_or_refused(target: str, method: str) -> None:
    try:
        host, port, _authority, path = _target(method, target)
    except ValueError:
        return
    assert 0 < port < 65536
    assert method == "CONNECT" or path.startswith("/")
    assert host == host.lower()


# -- where a request body ends -----------------------------------------------------------
def _chunked(pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"


@EXAMPLES
@given(
    st.lists(st.binary(min_size=1, max_size=40), max_size=5),
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=10),
)
def test_chunked_body_ends_where_h11_says(pieces: list[bytes], cuts: list[int]) -> None:
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    after = b"GET /second HTTP/1.1\r\nHost: evil.example\r\n\r\n"
    stream = _chunked(pieces) + after
    body = Body(read_request(head))
    consumed = 0
    at = 0
    for cut in [*cuts, len(stream)]:
        if body.done:
            break
        piece = stream[at : at + cut]
        at += len(piece)
        consumed += body.feed(piece)
    assert body.done
    assert stream[consumed:] == after
    # h11 agrees: the body's data, then the end of the message, then the next request
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(head + stream)
    events = []
    while not isinstance(event := connection.next_event(), h11.EndOfMessage):
        events.append(event)
    assert b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data)) == b"".join(pieces)
    assert connection.trailing_data[0] == after


@EXAMPLES
@given(st.binary(max_size=80))
def test_chunked_garbage_is_refused_cleanly(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        Chunked().feed(data)


@pytest.mark.parametrize(
    "bad", [b"5\nhello\r\n0\r\n\r\n", b"5\r\nhelloX\r\n", b"zz\r\n", b"5\r\r\nhello\r\n"]
)
def test_lenient_chunk_framing_is_refused(bad: bytes) -> None:
    with pytest.raises(ValueError):
        Chunked().feed(bad)


# -- the injection's response filter -----------------------------------------------------
KEY = b"sk-test-0123456789abcdef"


@EXAMPLES
@given(
    st.lists(st.binary(max_size=20), min_size=1, max_size=6),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12),
    st.booleans(),
)
def test_echoed_key_is_masked_across_chunks_and_reads(
    around: list[bytes], cuts: list[int], chunked: bool
) -> None:
    payload = KEY.join(around)
    assume(KEY in payload)
    # the upstream splits the key across chunk boundaries at random points
    pieces = [payload[i : i + 7] for i in range(0, len(payload), 7)]
    if chunked:
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Echo: " + KEY + b"\r\n\r\n"
        stream = head + _chunked(pieces)
    else:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload)
        stream = head + payload
    response = ResponseFilter([KEY])
    out = b""
    at = 0
    for cut in [*cuts, len(stream)]:
        out += response.feed(stream[at : at + cut])
        at += cut
    out += response.feed(stream[at:]) + response.flush()
    assert KEY not in out
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
    client.send(h11.EndOfMessage())
    client.receive_data(out)
    data = b""
    while not isinstance(event := client.next_event(), h11.EndOfMessage):
        if isinstance(event, h11.Data):
            data += bytes(event.data)
    assert data == payload.replace(KEY, b"*" * len(KEY))


def test_an_unmasked_chunk_split_would_leak() -> None:
    """Control: masking the raw chunked stream (the old way) misses a key split by framing."""
    stream = _chunked([KEY[:10], KEY[10:]])
    assert KEY not in stream.replace(KEY, b"*")  # the literal mask finds nothing to mask...
    assert KEY in b"".join(  # ...but the de-chunked body holds the key
        Chunked().feed(stream)[1]
    )


def test_compressed_response_is_refused() -> None:
    response = ResponseFilter([KEY])
    with pytest.raises(ResponseError):
        response.feed(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n")
    assert not response.started


# -- DNS -------------------------------------------------------------------------------
_label = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1,
                 max_size=20)  # fmt: skip
_names = st.lists(_label, min_size=1, max_size=5).map(".".join)
_qtypes = st.sampled_from(["A", "AAAA", "MX", "TXT", "ANY", "HTTPS", "SRV", "PTR"])


def _lookup(name: str) -> tuple[object, ...] | None:
    return None if name.startswith("deny") else SyntheticNames().addresses(name)


def _check_reply(reply: bytes, question: Question | None = None) -> None:
    if not reply:
        return
    parsed = dnslib.DNSRecord.parse(reply)
    assert parsed.header.qr == 1
    if question is not None:
        assert str(parsed.q.qname).rstrip(".").lower() == question.name


@EXAMPLES
@given(_names, _qtypes, st.booleans())
def test_dns_questions_agree_with_dnslib(name: str, qtype: str, edns: bool) -> None:
    record = dnslib.DNSRecord.question(name, qtype)
    if edns:
        record.add_ar(dnslib.EDNS0())
    packet = record.pack()
    question = parse_query(packet)
    assert question is not None
    assert question.name == name.lower()
    assert question.qtype == getattr(dnslib.QTYPE, qtype)
    _check_reply(answer(question, _lookup), question)  # type: ignore[arg-type]


@EXAMPLES
@given(_names, st.integers(min_value=12), st.binary(min_size=1, max_size=4))
def test_mutated_dns_queries_are_answered_or_refused_cleanly(
    name: str, where: int, insert: bytes
) -> None:
    packet = dnslib.DNSRecord.question(name, "A").pack()
    at = where % (len(packet) + 1)
    mutated = packet[:at] + insert + packet[at + len(insert) :]
    question = parse_query(mutated)
    if question is None:
        _check_reply(refuse(mutated))
        return
    # what we accept, dnslib reads the same way. We read the header and the question only:
    # later sections (counts that lie, EDNS) are ignored and never echoed, so dnslib may
    # refuse the whole packet while its question is still answered safely.
    buffer = dnslib.DNSBuffer(mutated)
    dnslib.DNSHeader.parse(buffer)
    parsed = dnslib.DNSQuestion.parse(buffer)
    assert str(parsed.qname).rstrip(".").lower() == question.name
    assert parsed.qtype == question.qtype
    _check_reply(answer(question, _lookup), question)  # type: ignore[arg-type]


@EXAMPLES
@given(st.binary(max_size=120))
def test_dns_garbage_never_raises(data: bytes) -> None:
    question = parse_query(data)
    reply = refuse(data) if question is None else answer(question, _lookup)  # type: ignore[arg-type]
    assert isinstance(reply, bytes)


@pytest.mark.parametrize("label", [b"web.test", b"a\x1b]0;x", b"caf\xc3\xa9", b"a b", b"\xc0\x0c"])
def test_dns_labels_that_are_not_host_names_are_refused(label: bytes) -> None:
    header = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0)
    packet = header + bytes([len(label)]) + label + b"\x04test\x00" + struct.pack("!HH", 1, 1)
    assert parse_query(packet) is None


# -- TLS ClientHello -------------------------------------------------------------------
def _client_hello(name: str) -> bytes:
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@settings(max_examples=max(40, FUZZ_EXAMPLES // 4), deadline=None, database=None)
@given(_names.filter(lambda n: len(n) < 200 and not n.replace(".", "").isdigit()))
def test_sni_of_real_client_hellos(name: str) -> None:
    assert tls_server_name(_client_hello(name)) == name.lower()


@EXAMPLES
@given(st.integers(min_value=0), st.binary(min_size=1, max_size=4), st.booleans())
def test_mutated_client_hellos_are_read_or_refused_cleanly(
    where: int, insert: bytes, replace: bool
) -> None:
    hello = _HELLO
    at = where % (len(hello) + 1)
    mutated = hello[:at] + insert + hello[at + (len(insert) if replace else 0) :]
    try:
        name = tls_server_name(mutated)
    except ValueError:
        return
    assert name is None or name.replace(".", "").replace("-", "").replace("_", "").isalnum()


_HELLO = _client_hello("web.test")


def test_socketpair_sanity() -> None:
    """The fixtures above talk to no network: parsers only."""
    left, right = socket.socketpair()
    left.close()
    right.close()

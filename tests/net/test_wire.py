"""DNS codec, TLS/HTTP sniffing and synthetic names (pure)."""

from __future__ import annotations

import ipaddress
import ssl
import struct

import pytest

from bwsandbox.net._dns import QTYPE_A, QTYPE_AAAA, answer, parse_query, refuse
from bwsandbox.net._names import SyntheticNames
from bwsandbox.net._sniff import complete, host_of, parse_request, tls_server_name


def _query(name: str, qtype: int, flags: int = 0x0100) -> bytes:
    header = struct.pack("!HHHHHH", 0xBEEF, flags, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + labels + struct.pack("!HH", qtype, 1)


def test_dns_answers_a_and_aaaa_with_synthetic_addresses() -> None:
    names = SyntheticNames()
    question = parse_query(_query("API.Example.com", QTYPE_A))
    assert question is not None
    assert question.name == "api.example.com"
    reply = answer(question, names.addresses)
    ident, flags, _qd, ancount = struct.unpack_from("!HHHH", reply)
    assert ident == 0xBEEF
    assert flags & 0xF == 0
    assert ancount == 1
    v4 = ipaddress.IPv4Address(reply[-4:])
    assert names.name_for(v4) == "api.example.com"
    six = parse_query(_query("api.example.com", QTYPE_AAAA))
    assert six is not None
    v6 = ipaddress.IPv6Address(answer(six, names.addresses)[-16:])
    assert names.name_for(v6) == "api.example.com"


def test_dns_refuses_unknown_names_and_other_types() -> None:
    question = parse_query(_query("exfil.evil.test", QTYPE_A))
    assert question is not None
    reply = answer(question, lambda _name: None)
    assert reply[3] & 0xF == 3  # NXDOMAIN
    assert struct.unpack_from("!H", reply, 6)[0] == 0
    mx = parse_query(_query("api.example.com", 15))
    assert mx is not None
    assert struct.unpack_from("!H", answer(mx, SyntheticNames().addresses), 6)[0] == 0


@pytest.mark.parametrize(
    "data", [b"", b"\x00" * 11, _query("x", 1, flags=0x8100), _query("x", 1, flags=0x2800)]
)
def test_dns_malformed_or_unsupported_queries(data: bytes) -> None:
    assert parse_query(data) is None
    assert refuse(data) == b"" or refuse(data)[3] & 0xF in (1, 4)


def _client_hello(server_name: str) -> bytes:
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_sni_is_read_from_a_real_client_hello() -> None:
    hello = _client_hello("API.example.com")
    assert complete(hello)
    assert not complete(hello[:20])
    assert tls_server_name(hello) == "api.example.com"
    with pytest.raises(ValueError, match="malformed"):
        tls_server_name(b"\x16\x03\x01\x00")
    assert tls_server_name(b"SSH-2.0-OpenSSH\r\n") is None


def _split_records(hello: bytes, at: int) -> bytes:
    body = hello[5:]
    first, second = body[:at], body[at:]
    header = hello[:3]
    return (
        header + struct.pack("!H", len(first)) + first + header + struct.pack("!H", len(second))
        + second
    )  # fmt: skip


def test_client_hello_split_across_records_is_refused() -> None:
    hello = _client_hello("web.test")
    with pytest.raises(ValueError, match="split across TLS records"):
        tls_server_name(_split_records(hello, 60))
    with pytest.raises(ValueError, match="ClientHello"):
        tls_server_name(hello[:5] + b"\x02" + hello[6:])


def test_http_request_heads() -> None:
    head = b"GET /x HTTP/1.1\r\nHost: Web.Test:8080\r\nAccept: */*\r\n\r\nbody"
    request = parse_request(head)
    assert request is not None
    assert request.header("host") == "Web.Test:8080"
    assert host_of(request.header("host") or "") == ("web.test", 8080)
    assert request.head_size == len(head) - 4
    assert not complete(b"GET / HTTP/1.1\r\nHost: a")
    assert complete(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") is None
    assert parse_request(b"GET / HTTP/1.1\r\n folded: x\r\n\r\n") is None


def test_host_of_forms() -> None:
    assert host_of("[2001:db8::1]:443") == ("2001:db8::1", 443)
    assert host_of("example.com.") == ("example.com", None)
    with pytest.raises(ValueError, match="bad port"):
        host_of("example.com:99999")


def test_first_bytes_checks() -> None:
    from bwsandbox.net._proxy import _check_first, _rebuild

    ok, request = _check_first("web.test", b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n")
    assert ok == ""
    assert request is not None
    assert b"Connection: close\r\n" in _rebuild(request, "GET / HTTP/1.1", None, upgrade=False)
    keep, upgrade = _check_first(
        "web.test", b"GET /ws HTTP/1.1\r\nHost: web.test\r\nUpgrade: websocket\r\n\r\n"
    )
    assert keep == ""
    assert upgrade is not None
    assert b"Connection: Upgrade" in _rebuild(upgrade, "GET /ws HTTP/1.1", None, upgrade=True)
    # a head that never completed (the client waited out the timeout) is refused
    reason, _ = _check_first("web.test", b"GET / HTTP/1.1\r\nHost: evil.test\r\n")
    assert "incomplete" in reason
    assert _check_first("web.test", b"SSH-2.0-OpenSSH_9.2\r\n") == ("", None)
    assert _check_first(None, b"anything") == ("", None)
    assert "SNI" in _check_first("web.test", _client_hello("evil.test"))[0]
    assert _check_first("web.test", _client_hello("web.test"))[0] == ""

"""Recognise the first bytes a client sends: TLS ClientHello (SNI) or an HTTP request (Host).

Pure functions over bytes; the proxy reads until :func:`complete` says it has enough.
"""

from __future__ import annotations

import re
import struct

from bwsandbox._record import record

__all__ = [
    "HEAD_LIMIT",
    "HeadError",
    "Request",
    "body_framing",
    "complete",
    "head_end",
    "host_of",
    "is_tls",
    "looks_like_http",
    "parse_request",
    "read_request",
    "tls_server_name",
]

#: the largest request head (and ClientHello) read before deciding; h11 allows 16 KiB
HEAD_LIMIT = 32768


def _is_tls(data: bytes) -> bool:
    return len(data) >= 1 and data[0] == 0x16


def _first_line(data: bytes) -> tuple[bytes, bool]:
    """The first line (without its end) and whether it has ended."""
    end = data.find(b"\n")
    return (data, False) if end < 0 else (data[:end], True)


def _printable(data: bytes) -> bool:
    return all(0x20 <= byte < 0x7F or byte in (0x09, 0x0D) for byte in data)


def _is_http(data: bytes) -> bool:
    """Whether ``data`` is, or could still become, an HTTP/1 request head.

    Deliberately wide: any first line naming ``HTTP/`` (whatever its case or separators: a
    lenient server splits on any whitespace), an empty first line (servers skip it), or a
    printable first line that has not ended yet. What is HTTP here must then pass the strict
    :func:`read_request`; only a finished first line that cannot be a request line (an SSH
    banner) or binary bytes (TLS, databases) are relayed without a check.
    """
    if not data:
        return False
    line, ended = _first_line(data)
    if not line.strip(b"\r") and ended:
        return True
    if b"http/" in line.lower():
        return True
    return not ended and _printable(line)


def complete(data: bytes) -> bool:
    """True once ``data`` holds a whole ClientHello record / request head, or is neither."""
    if len(data) >= HEAD_LIMIT:
        return True
    if _is_tls(data):
        if len(data) < 5:
            return False
        length: int = struct.unpack_from("!H", data, 3)[0]
        return len(data) >= 5 + length
    if _is_http(data):
        return head_end(data) >= 0
    return bool(data)


def looks_like_http(data: bytes) -> bool:
    """Whether ``data`` is (or could be the start of) an HTTP/1 request: it must be checked."""
    return _is_http(data)


def is_tls(data: bytes) -> bool:
    """Whether ``data`` starts like a TLS handshake record."""
    return _is_tls(data)


def tls_server_name(data: bytes) -> str | None:
    """The SNI host name of a ClientHello, ``None`` if ``data`` is not one or has no SNI.

    Raises ``ValueError`` for a ClientHello that is malformed or split across records (a way
    to hide the SNI from a parser that reads only the first record): the caller refuses it.
    """
    if not _is_tls(data):
        return None
    try:
        record: int = struct.unpack_from("!H", data, 3)[0]
        if data[5] != 0x01:
            raise ValueError("not a ClientHello")
        hello = int.from_bytes(data[6:9], "big")
        if hello + 4 > record or len(data) < 5 + record:
            raise ValueError("ClientHello split across TLS records")
        data = data[: 5 + record]
        offset = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        offset += 1 + data[offset]  # session id
        size: int = struct.unpack_from("!H", data, offset)[0]
        offset += 2 + size  # cipher suites
        offset += 1 + data[offset]  # compression methods
        total: int = struct.unpack_from("!H", data, offset)[0]
        offset += 2
        end = offset + total
        if end > len(data):
            raise ValueError("truncated ClientHello extensions")
        while offset + 4 <= end:
            kind, size = struct.unpack_from("!HH", data, offset)
            offset += 4
            if kind == 0:  # server_name: list length, type 0, name length, name
                name_size: int = struct.unpack_from("!H", data, offset + 3)[0]
                if data[offset + 2] != 0 or offset + 5 + name_size > end:
                    raise ValueError("malformed server_name extension")
                name = data[offset + 5 : offset + 5 + name_size]
                if not _HOST_NAME.fullmatch(name):
                    raise ValueError("malformed server name")
                return name.decode("ascii").lower().removesuffix(".")
            offset += size
    except (IndexError, struct.error):
        raise ValueError("malformed ClientHello") from None
    return None


@record
class Request:
    """An HTTP/1 request head as read from the sandbox."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    head_size: int  # bytes up to and including the blank line

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return values[0] if len(values) == 1 else None if not values else "\0multiple"

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name]


class HeadError(ValueError):
    """An HTTP/1 request head that is refused (the message says why, for the audit log)."""


#: RFC 9110 token (method, field name)
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: request-target: visible ASCII only (RFC 9112 3.2); no spaces, controls or obs-text
_TARGET = re.compile(rb"[\x21-\x7e]+")
#: field value: visible ASCII, obs-text, SP and HTAB inside; never CR, LF, NUL or other controls
_VALUE = re.compile(rb"[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?")
_VERSIONS = (b"HTTP/1.0", b"HTTP/1.1")
#: a host name as SNI carries it: letters, digits, hyphen, underscore, dots
_HOST_NAME = re.compile(rb"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")


def head_end(data: bytes) -> int:
    """Offset just past the blank line ending the head; -1 while it has not arrived.

    A bare ``\\n\\n`` counts as an end too, so that such a head is refused at once instead of
    waiting for a ``\\r\\n\\r\\n`` that never comes.
    """
    ends = [i + len(m) for m in (b"\r\n\r\n", b"\n\n", b"\n\r\n") if (i := data.find(m)) >= 0]
    return min(ends) if ends else -1


def read_request(data: bytes) -> Request:
    """Parse one request head at the start of ``data``, strictly; raises :class:`HeadError`.

    Lines end with CRLF only; a bare CR or LF, a NUL or another control byte anywhere in the
    request line or a field, obsolete line folding, a field name that is not a token, or
    whitespace before the colon are refused, not guessed: a lenient server could read such a
    head differently (request smuggling). What is accepted here, h11 accepts too (tested).
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise HeadError(
            "incomplete HTTP request head" if len(data) < HEAD_LIMIT else "HTTP head too large"
        )
    if end + 4 > HEAD_LIMIT:
        raise HeadError("HTTP head too large")
    lines = data[:end].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise HeadError("malformed HTTP request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target):
        raise HeadError("malformed HTTP request line")
    if version not in _VERSIONS:
        raise HeadError("only HTTP/1.0 and HTTP/1.1 requests are understood")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise HeadError("malformed HTTP header field (folded, bad name or control byte)")
        value = value.strip(b" \t")
        if value and not _VALUE.fullmatch(value):
            raise HeadError("control byte in an HTTP header value")
        headers.append((name.decode("ascii"), value.decode("latin-1")))
    request = Request(
        method.decode("ascii"), target.decode("ascii"), version.decode("ascii"),
        tuple(headers), end + 4,
    )  # fmt: skip
    if request.version == "HTTP/1.1" and request.method != "CONNECT" and not request.values("host"):
        raise HeadError("an HTTP/1.1 request needs a Host header")
    if len(request.values("host")) > 1:
        raise HeadError("more than one Host header")
    body_framing(request)
    return request


def parse_request(data: bytes) -> Request | None:
    """The request line and headers, ``None`` when ``data`` is not an acceptable request head."""
    try:
        return read_request(data)
    except HeadError:
        return None


def body_framing(request: Request) -> int | None:
    """The request body's length, ``None`` for chunked; raises :class:`HeadError` when ambiguous.

    Content-Length and Transfer-Encoding together, more than one Content-Length, or a
    transfer coding other than a single ``chunked`` are refused (RFC 9112 6.3: the ways two
    parsers disagree about where a message ends).
    """
    lengths = request.values("content-length")
    codings = request.values("transfer-encoding")
    if codings:
        if lengths:
            raise HeadError("both Content-Length and Transfer-Encoding")
        if len(codings) != 1 or codings[0].lower() != "chunked":
            raise HeadError("only Transfer-Encoding: chunked is supported")
        return None
    if not lengths:
        return 0
    if len(lengths) != 1 or not lengths[0].isascii() or not lengths[0].isdigit():
        raise HeadError("bad Content-Length")
    if len(lengths[0]) > 18:
        raise HeadError("Content-Length too large")
    return int(lengths[0])


def host_of(authority: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` / ``[v6]:port``; the host lower-cased without a trailing dot."""
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif authority.count(":") == 1:
        host, _, port_text = authority.partition(":")
    else:
        host, port_text = authority, ""
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    if port_text and port is None:
        raise ValueError(f"bad port in {authority!r}")
    return host.lower().removesuffix("."), port

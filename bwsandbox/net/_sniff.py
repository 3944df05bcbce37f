"""Recognise the first bytes a client sends: TLS ClientHello (SNI) or an HTTP request (Host).

Pure functions over bytes; the proxy reads until :func:`complete` says it has enough.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "HEAD_LIMIT",
    "Request",
    "complete",
    "host_of",
    "is_tls",
    "looks_like_http",
    "parse_request",
    "tls_server_name",
]

HEAD_LIMIT = 65536
_METHODS = (
    b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ",
    b"TRACE ", b"PROPFIND ",
)  # fmt: skip


def _is_tls(data: bytes) -> bool:
    return len(data) >= 1 and data[0] == 0x16


def _is_http(data: bytes) -> bool:
    return any(data.startswith(m) or m.startswith(data) for m in _METHODS)


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
        return b"\r\n\r\n" in data
    return True


def looks_like_http(data: bytes) -> bool:
    """Whether ``data`` starts (or could start) an HTTP/1 request line."""
    return bool(data) and _is_http(data)


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
                return name.decode("ascii", "replace").lower().removesuffix(".")
            offset += size
    except (IndexError, struct.error):
        raise ValueError("malformed ClientHello") from None
    return None


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    head_size: int  # bytes up to and including the blank line

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return values[0] if len(values) == 1 else None if not values else "\0multiple"


def parse_request(data: bytes) -> Request | None:
    """The request line and headers, ``None`` when ``data`` is not an HTTP/1 request head."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or not _is_http(data):
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[0] in " \t":
            return None  # obsolete folding and malformed names are refused, not guessed
        headers.append((name, value.strip()))
    return Request(parts[0], parts[1], parts[2], tuple(headers), end + 4)


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

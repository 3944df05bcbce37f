"""Byte streams of an inspected connection, and where an upstream's response ends.

- :class:`ServerTLS`: the sandbox's side, TLS over memory BIOs, so that the ClientHello the
  proxy already read (to check its SNI) is fed in first; used from one thread only.
- :func:`response_framing`: a response head's status, how its body ends and whether the
  connection may carry another request; ambiguous framing (RFC 9112 6.3) is refused.
- :func:`forward_response` (with ``_http1.connection_options``): the hop-by-hop fields of a
  message (RFC 9110 7.6.1: the fixed ones and those its ``Connection`` names) are not
  forwarded. The framing fields (``Content-Length``, ``Transfer-Encoding``) stay whatever
  ``Connection`` says: the body is relayed in its own framing, and dropping them would
  desynchronise it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Protocol

from bwsandbox.net._http1 import connection_options

__all__ = [
    "HOP_BY_HOP",
    "ServerTLS",
    "Stream",
    "forward_response",
    "response_framing",
]

#: fields that describe one connection and are never forwarded (RFC 9110 7.6.1)
HOP_BY_HOP = frozenset(
    {"connection", "proxy-connection", "keep-alive", "te", "upgrade", "proxy-authenticate"}
)


_CHUNK = 65536


class Stream(Protocol):
    def recv(self, size: int, /) -> bytes: ...

    def sendall(self, data: bytes, /) -> None: ...


class ServerTLS:
    """The client's side of an inspected connection: TLS over memory BIOs, so that the
    ClientHello the proxy already read (to check its SNI) is fed in first."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, first: bytes) -> None:
        self.sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._in.write(first)
        self._tls = context.wrap_bio(self._in, self._out, server_side=True)

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(_CHUNK)
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()

    def handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
                continue
            self._flush()
            return

    def recv(self, size: int, /) -> bytes:
        while True:
            try:
                return self._tls.read(size)
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def sendall(self, data: bytes, /) -> None:
        view = memoryview(data)
        while view:
            written = self._tls.write(view)
            view = view[written:]
            self._flush()

    def close(self) -> None:
        with contextlib.suppress(ssl.SSLError, OSError):
            self._tls.unwrap()
        with contextlib.suppress(OSError):
            self._flush()


def response_framing(head: bytes, method: str) -> tuple[int, str, bool]:
    """(status, how its body ends: "none", "chunked", "close" or a length, keep-alive)."""
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.0", b"HTTP/1.1") or not parts[1].isdigit():
        raise ValueError("malformed response status line from the upstream")
    status = int(parts[1])
    fields: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError("malformed response header from the upstream")
        fields.setdefault(name.lower(), []).append(value.strip())
    connection = b",".join(fields.get(b"connection", [])).lower()
    keep = parts[0] == b"HTTP/1.1" and b"close" not in connection
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, "none", keep
    codings = fields.get(b"transfer-encoding")
    if codings:
        if fields.get(b"content-length"):
            raise ValueError("the upstream sent both Content-Length and Transfer-Encoding")
        if codings[-1].lower().rsplit(b",", 1)[-1].strip() == b"chunked":
            return status, "chunked", keep
        return status, "close", False
    lengths = set(fields.get(b"content-length", []))
    if len(lengths) > 1:
        raise ValueError("the upstream sent conflicting Content-Lengths")
    if lengths:
        (length,) = lengths
        if not length.isdigit() or len(length) > 18:
            raise ValueError("bad Content-Length from the upstream")
        return status, str(int(length)), keep
    return status, "close", False


def forward_response(head: bytes, *, close: bool) -> bytes:
    """A response head as the proxy passes it on: the status line, every field but the
    hop-by-hop ones (:data:`HOP_BY_HOP` and those ``Connection`` names), and
    ``Connection: close`` when the proxy ends the connection after this response."""
    lines = head[:-4].split(b"\r\n")
    fields = [
        (line.partition(b":")[0].strip().lower().decode("latin-1"), line) for line in lines[1:]
    ]
    named = connection_options(
        [line.partition(b":")[2].decode("latin-1") for name, line in fields if name == "connection"]
    )
    kept = [line for name, line in fields if name not in HOP_BY_HOP and name not in named]
    if close:
        kept.append(b"Connection: close")
    return b"\r\n".join([lines[0], *kept]) + b"\r\n\r\n"

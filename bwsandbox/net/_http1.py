"""Where an HTTP/1 message body ends, and the response side of secret injection.

Pure, incremental parsers over bytes (fed whatever ``recv`` returned):

- :class:`Body` finds the end of a request body (Content-Length or chunked), so that the
  proxy forwards exactly one request per connection and never the bytes after it (a
  pipelined second request would escape the Host check: issue 9, finding 4).
- :class:`Chunked` reads a chunked body strictly (CRLF only, bounded lines) and hands out
  the payload.
- :class:`ResponseFilter` masks injected secrets in a response after undoing the chunked
  framing, so a key split across two chunks is still found (finding 8).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bwsandbox.net._sniff import HEAD_LIMIT, Request, body_framing

__all__ = ["Body", "Chunked", "ResponseError", "ResponseFilter", "Scrubber", "connection_options"]

_LINE_LIMIT = 4096
_TRAILER_LIMIT = 16384
_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[\x20-\x7e\t]*)?")
_FIELD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*")


class Chunked:
    """A strict chunked-body reader. :meth:`feed` returns (bytes consumed, payload pieces).

    Raises ``ValueError`` on anything a lenient parser could read differently: a bare LF, a
    size that is not hex, a chunk not followed by CRLF, an over-long line or trailer.
    """

    def __init__(self) -> None:
        self._state = "size"
        self._line = b""
        self._left = 0
        self._trailer = 0
        self.done = False

    def feed(self, data: bytes) -> tuple[int, list[bytes]]:
        pieces: list[bytes] = []
        at = 0
        while at < len(data) and not self.done:
            if self._state == "data":
                take = min(self._left, len(data) - at)
                pieces.append(data[at : at + take])
                at += take
                self._left -= take
                if not self._left:
                    self._state = "crlf"
                continue
            if self._state == "crlf":
                need = 2 - len(self._line)
                self._line += data[at : at + need]
                at += min(need, len(data) - at)
                if not b"\r\n".startswith(self._line):
                    raise ValueError("chunk not followed by CRLF")
                if self._line == b"\r\n":
                    self._line, self._state = b"", "size"
                continue
            end = data.find(b"\n", at)
            stop = len(data) if end < 0 else end + 1
            self._line += data[at:stop]
            at = stop
            if len(self._line) > _LINE_LIMIT:
                raise ValueError("chunk line too long")
            if end < 0:
                continue
            line, self._line = self._line, b""
            if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
                raise ValueError("chunk line without CRLF")
            self._line_done(line[:-2])
        return at, pieces

    def _line_done(self, line: bytes) -> None:
        if self._state == "size":
            match = _SIZE.fullmatch(line)
            if match is None:
                raise ValueError("malformed chunk size")
            self._left = int(match.group(1), 16)
            self._state = "data" if self._left else "trailer"
            return
        if not line:
            self.done = True
            return
        self._trailer += len(line) + 2
        if self._trailer > _TRAILER_LIMIT or not _FIELD.fullmatch(line):
            raise ValueError("malformed or over-long chunked trailer")


class Body:
    """The body of one request: :meth:`feed` says how many of the bytes belong to it."""

    def __init__(self, request: Request) -> None:
        length = body_framing(request)
        self._chunked = Chunked() if length is None else None
        self._left = length or 0

    @property
    def done(self) -> bool:
        return self._chunked.done if self._chunked is not None else self._left == 0

    @property
    def left(self) -> int | None:
        """Bytes still to come with Content-Length, ``None`` for chunked."""
        return None if self._chunked is not None else self._left

    def feed(self, data: bytes) -> int:
        if self._chunked is not None:
            return self._chunked.feed(data)[0]
        take = min(self._left, len(data))
        self._left -= take
        return take


class Scrubber:
    """Masks the secrets in a byte stream (an upstream that echoes request headers).

    A masked secret keeps its length (``*`` for each byte), so Content-Length stays right.
    Only bytes that could be the start of a secret split across two reads are held back
    until the next read, so a stream's events are never delayed otherwise.
    """

    def __init__(self, secrets: Iterable[bytes]) -> None:
        self._secrets = [secret for secret in secrets if secret]
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        data = self._held + data
        for secret in self._secrets:
            data = data.replace(secret, b"*" * len(secret))
        keep = 0
        for secret in self._secrets:
            for size in range(min(len(secret) - 1, len(data)), keep, -1):
                if data.endswith(secret[:size]):
                    keep = size
                    break
        self._held = data[len(data) - keep :] if keep else b""
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held


class ResponseError(ValueError):
    """The response cannot be checked for the secret (the proxy answers 502 instead)."""


class ResponseFilter:
    """The upstream's response to an injected request, with every secret masked.

    The head is read whole and masked. A chunked body is de-chunked, masked and chunked
    again (chunk sizes change, the framing stays valid); any other body is masked as it
    streams. A ``Content-Encoding`` other than identity is refused before anything is sent:
    the proxy asks for ``Accept-Encoding: identity``, and a compressed echo would hide the key.
    """

    def __init__(
        self,
        secrets: Iterable[bytes],
        *,
        head_request: bool = False,
        forward: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._secrets = list(secrets)
        self._head_request = head_request
        #: how the final head is passed on (the inspecting proxy drops hop-by-hop fields)
        self._forward = forward
        self._head = b""
        self._scrub = Scrubber(self._secrets)
        self._chunked: Chunked | None = None
        self._mode = "head"
        self._trailer = b""
        self.started = False  # whether a final response head has been passed on

    def feed(self, data: bytes) -> bytes:
        out = b""
        while data:
            if self._mode == "head":
                self._head += data
                end = self._head.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._head) > HEAD_LIMIT:
                        raise ResponseError("response head too large")
                    return out
                head, data = self._head[: end + 4], self._head[end + 4 :]
                self._head = b""
                out += self._start(head)
            elif self._mode == "chunked":
                assert self._chunked is not None
                used, pieces = self._chunked.feed(data)
                data = data[used:]
                for piece in pieces:
                    out += _chunk(self._scrub.feed(piece))
                if self._chunked.done:
                    out += _chunk(self._scrub.flush()) + b"0\r\n\r\n"
                    self._mode = "done"
            elif self._mode == "raw":
                out += self._scrub.feed(data)
                data = b""
            else:
                data = b""  # nothing may follow the end of a response with Connection: close
        return out

    def flush(self) -> bytes:
        return self._scrub.flush() if self._mode == "raw" else b""

    def _start(self, head: bytes) -> bytes:
        lines = head[:-4].split(b"\r\n")
        status = lines[0].split(b" ", 2)
        if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or not status[1].isdigit():
            raise ResponseError("malformed response from the upstream")
        code = int(status[1])
        fields: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields.setdefault(name.strip().lower(), []).append(value.strip().lower())
        masked = _mask(head, self._secrets)
        if 100 <= code < 200:
            return masked  # 100 Continue: the real head follows
        coding = [c for v in fields.get(b"content-encoding", []) for c in v.split(b",")]
        if any(c.strip() not in (b"", b"identity") for c in coding):
            raise ResponseError("the upstream compressed the response (the key could hide)")
        self.started = True
        if self._forward is not None:
            masked = self._forward(masked)
        if self._head_request or code in (204, 304):
            self._mode = "done"
        elif fields.get(b"transfer-encoding"):
            if fields[b"transfer-encoding"] != [b"chunked"]:
                raise ResponseError("unsupported Transfer-Encoding from the upstream")
            self._chunked = Chunked()
            self._mode = "chunked"
        else:
            self._mode = "raw"
        return masked


def _mask(data: bytes, secrets: Iterable[bytes]) -> bytes:
    for secret in secrets:
        if secret:
            data = data.replace(secret, b"*" * len(secret))
    return data


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload) if payload else b""


#: fields a relay frames the body by: kept, even when ``Connection`` names them
_FRAMING = frozenset({"content-length", "transfer-encoding"})


def connection_options(values: list[str]) -> frozenset[str]:
    """The field names a message's ``Connection`` header values name (lower case), less the
    framing fields (which the relay needs as they are)."""
    named = {token.strip().lower() for value in values for token in value.split(",")}
    return frozenset(named - _FRAMING - {""})

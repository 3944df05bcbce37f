"""A small threaded HTTP server on 127.0.0.1 that records requests (base of the fakes)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar

__all__ = ["FakeServer", "Handler", "Recorded", "sse"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it was not JSON


def sse(events: Iterable[tuple[str | None, dict[str, Any]]]) -> bytes:
    """Server-sent events: ``event: NAME`` (when given) and ``data: JSON`` per event."""
    chunks = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        chunks.append(f"{head}data: {json.dumps(data)}\n\n")
    return "".join(chunks).encode()


class Handler(BaseHTTPRequestHandler):
    """Parses the body, records the request and dispatches to ``server.fake.respond``."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class name)
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        fake = self.server.fake
        fake.record(Recorded(self.command, self.path, dict(self.headers.items()), body))
        status, content_type, payload = fake.respond(self.command, self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True

    do_GET = _handle  # noqa: N815 (http.server's naming)
    do_POST = _handle  # noqa: N815
    do_HEAD = _handle  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer


class FakeServer:
    """Base: start/stop a ThreadingHTTPServer on 127.0.0.1:0; subclasses define respond()."""

    JSON: ClassVar[str] = "application/json"
    EVENTS: ClassVar[str] = "text/event-stream"

    def __init__(self, reply: str = "Hello from the fake API.") -> None:
        self.reply = reply
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake is not running")
        return int(self._server.server_address[1])

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def respond(self, method: str, path: str, body: Any) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def json(self, data: Any, status: int = 200) -> tuple[int, str, bytes]:
        return status, self.JSON, json.dumps(data).encode()

    def start(self) -> None:
        server = _Server(("127.0.0.1", 0), Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

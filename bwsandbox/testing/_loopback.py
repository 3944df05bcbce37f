"""Servers on the host's loopback (127.0.0.1) for sandboxes to reach, or be kept from.

A filtered sandbox reaches them only through an allowed name pinned to the host's loopback
(``add_hosts=[("web.test", "127.0.0.1")]``, like ``--add-host``). Each is a context manager
that serves from daemon threads and stops on exit.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from bwsandbox._record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LenientHttpServer",
    "TcpRecorder",
    "TlsServer",
    "serve_http",
    "serve_lenient_http",
    "serve_tcp_recorder",
    "serve_tls",
]


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """``GET /bytes/N``: N bytes of ``x``; any other path: ``hello host=HOST path=PATH``."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/bytes/"):
            size = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            while size > 0:
                self.wfile.write(chunk[: min(size, len(chunk))])
                size -= len(chunk)
            return
        body = f"hello host={self.headers.get('Host')} path={self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        return


@contextlib.contextmanager
def serve_http() -> Iterator[int]:
    """An HTTP/1.1 server answering ``hello host=HOST path=PATH`` (``/bytes/N``: N bytes).

    Yields its port.
    """
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@record(frozen=False)
class TcpRecorder:
    """A TCP server that keeps every byte it receives (to prove what reached it, or not)."""

    port: int
    received: list[bytes] = field(default_factory=list)
    connections: int = 0


def _accept_loop(listener: socket.socket, handle: Any) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        handle(conn)


@contextlib.contextmanager
def serve_tcp_recorder() -> Iterator[TcpRecorder]:
    """A :class:`TcpRecorder` on 127.0.0.1; one connection at a time, 5 s idle timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    rec = TcpRecorder(listener.getsockname()[1])

    def handle(conn: socket.socket) -> None:
        rec.connections += 1
        with conn:
            conn.settimeout(5)
            try:
                while data := conn.recv(65536):
                    rec.received.append(data)
            except OSError:
                pass

    threading.Thread(target=_accept_loop, args=(listener, handle), daemon=True).start()
    try:
        yield rec
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()


@record(frozen=False)
class TlsServer:
    """A TLS server that answers ``sni=NAME`` (the name the client asked for) and closes."""

    port: int
    cert: Path  # the self-signed certificate (PEM) a client may trust
    names: list[str] = field(default_factory=list)  # the SNI names seen, in order


@contextlib.contextmanager
def serve_tls(directory: Path, common_name: str = "web.test") -> Iterator[TlsServer]:
    """A :class:`TlsServer` with a fresh self-signed certificate for ``common_name``.

    The key and certificate are written to ``directory`` (needs the ``openssl`` command).
    """
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    server = TlsServer(listener.getsockname()[1], cert)

    def remember(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        server.names.append(name or "")

    context.sni_callback = remember

    def reply(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(f"sni={server.names[-1] if server.names else ''}\n".encode())
        except (OSError, ssl.SSLError):
            conn.close()

    def handle(conn: socket.socket) -> None:
        conn.settimeout(5)
        threading.Thread(target=reply, args=(conn,), daemon=True).start()

    threading.Thread(target=_accept_loop, args=(listener, handle), daemon=True).start()
    try:
        yield server
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()


class _LenientHandler(http.server.BaseHTTPRequestHandler):
    """A lenient HTTP/1.1 upstream, like many real ones: http.server reads heads split on a
    bare LF, and this one also ignores ``Connection: close`` and serves every request that
    follows on the connection (pipelining). It records each request; ``/ws`` with an
    ``Upgrade`` header answers 101 and then echoes raw bytes."""

    protocol_version = "HTTP/1.1"
    server: LenientHttpServer

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers.items()), body))
        if self.path == "/ws" and self.headers.get("Upgrade"):
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while data := self.connection.recv(65536):
                self.connection.sendall(b"echo:" + data)
            self.close_connection = True
            return
        reply = f"served host={self.headers.get('Host')} path={self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
        self.wfile.flush()
        self.close_connection = False  # whatever the request said

    do_GET = do_POST = do_PUT = _serve  # noqa: N815 (http.server's names)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        return


class LenientHttpServer(http.server.ThreadingHTTPServer):
    """The server of :func:`serve_lenient_http`: ``seen`` holds (method, path, headers, body)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _LenientHandler)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    def hosts(self) -> list[str]:
        """The ``Host`` header of each request, in order."""
        return [headers.get("Host", "") for _, _, headers, _ in self.seen]


@contextlib.contextmanager
def serve_lenient_http() -> Iterator[LenientHttpServer]:
    """A :class:`LenientHttpServer`: pipelining, bare-LF heads, ``Connection: close`` ignored."""
    server = LenientHttpServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()

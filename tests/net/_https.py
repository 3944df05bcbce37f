"""Loopback HTTPS servers for the inspection tests: a test CA, an echo server that counts
connections and requests, and a git smart-HTTP server (``git http-backend`` as CGI)."""

from __future__ import annotations

import http.server
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (it is its own CA): (key, cert)."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    cert.chmod(0o644)
    directory.chmod(0o755)
    return key, cert


@dataclass
class Seen:
    """What a server received: connections and (method, path, body) per request."""

    connections: int = 0
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)  # x-api-key of each request
    lock: threading.Lock = field(default_factory=threading.Lock)


def read_body(handler: http.server.BaseHTTPRequestHandler) -> bytes:
    """A request body: Content-Length or chunked."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0], 16)
            if not size:
                while handler.rfile.readline() not in (b"\r\n", b""):
                    pass
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    seen: Seen
    git_root: Path

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        with self.seen.lock:
            self.seen.connections += 1
        return sock, address


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        body = read_body(self)
        with self.server.seen.lock:
            self.server.seen.requests.append((self.command, self.path, body))
            self.server.seen.keys.append(self.headers.get("x-api-key"))
        text = f"{self.command} {self.path} {len(body)} auth={self.headers.get('x-api-key')}\n"
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class GitHandler(http.server.BaseHTTPRequestHandler):
    """git smart HTTP: each request runs ``git http-backend`` (CGI) on the server's root."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def _cgi(self) -> None:
        body = read_body(self)
        path, _, query = self.path.partition("?")
        with self.server.seen.lock:
            self.server.seen.requests.append((self.command, self.path, b""))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.git_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_USER": "tester",  # http-backend allows receive-pack for a known user
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.server.git_root),
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _cgi  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@dataclass
class Running:
    port: int
    seen: Seen
    cert: Path


@contextmanager
def https_server(
    key: Path,
    cert: Path,
    handler: type[http.server.BaseHTTPRequestHandler],
    git_root: Path | None = None,
) -> Iterator[Running]:
    server = _Server(("127.0.0.1", 0), handler)
    server.seen = Seen()
    if git_root is not None:
        server.git_root = git_root
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Running(server.server_address[1], server.seen, cert)
    finally:
        server.shutdown()
        server.server_close()


def bare_repository(root: Path) -> Path:
    """``root/repo.git`` with one commit on ``main``, pushable over smart HTTP."""
    work = root / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README").write_text("seed\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-qm", "seed"], check=True)
    bare = root / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "config", "http.receivepack", "true"], check=True)
    return bare

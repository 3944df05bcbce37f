"""Fixtures for filtered-network tests.

- Loopback servers on the host (HTTP, TLS, a recorder that keeps what it received), which
  sandboxes reach only through allowed names (``--add-host name=127.0.0.1``).
- ``filtered``: runs a command in a real bwrap sandbox (``--unshare-all``, no capabilities,
  a non-root uid when invoked as root) with a NetworkSession attached while bwrap waits on
  ``--block-fd``, and returns its output, the audit events and the denial summary.
"""

from __future__ import annotations

import http.server
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from bwsandbox._audit import MemoryAudit
from bwsandbox._netconst import PROXY_ENV, RESOLV_CONF
from bwsandbox.compile._plan import NetworkPlan
from bwsandbox.net import NetworkSession, open_network
from bwsandbox.policy._model import NetworkMode

IS_ROOT = os.geteuid() == 0
SANDBOX_TIMEOUT = 30.0


# -- host-side loopback servers ----------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@dataclass
class Recorder:
    """A TCP server that keeps every byte it receives (to prove nothing reached it)."""

    port: int
    received: list[bytes] = field(default_factory=list)
    connections: int = 0


@pytest.fixture(scope="session")
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    listener = socket.create_server(("127.0.0.1", 0))
    rec = Recorder(listener.getsockname()[1])

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            rec.connections += 1
            with conn:
                conn.settimeout(5)
                try:
                    while data := conn.recv(65536):
                        rec.received.append(data)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    yield rec
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()


@pytest.fixture(scope="session")
def tls_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A TLS server (self-signed for web.test) answering ``sni=<name>`` and closing."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=web.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str] = []

    def remember(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(name or "")

    context.sni_callback = remember
    listener = socket.create_server(("127.0.0.1", 0))

    def handle(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(f"sni={names[-1] if names else ''}\n".encode())
        except (OSError, ssl.SSLError):
            conn.close()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(5)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()


class _Lenient(http.server.BaseHTTPRequestHandler):
    """A lenient HTTP/1.1 upstream, like many real ones: http.server reads heads split on a
    bare LF, and this one also ignores ``Connection: close`` and serves every request that
    follows on the connection (pipelining). It records each request; ``/ws`` with an
    ``Upgrade`` header answers 101 and then echoes raw bytes."""

    protocol_version = "HTTP/1.1"
    server: _LenientServer

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

    do_GET = do_POST = do_PUT = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class _LenientServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str, dict[str, str], bytes]]

    def hosts(self) -> list[str]:
        return [headers.get("Host", "") for _, _, headers, _ in self.seen]


@pytest.fixture
def lenient() -> Iterator[_LenientServer]:
    server = _LenientServer(("127.0.0.1", 0), _Lenient)
    server.seen = []
    serve = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    serve.daemon = True
    serve.start()
    yield server
    server.shutdown()
    server.server_close()


LenientServer = _LenientServer


# -- sandboxes ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]]
    summary: list[str]
    seconds: float

    def net(self, decision: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["event"] == "net" and (decision is None or e["decision"] == decision)
        ]

    def denied(self, host: str, port: int | None = None) -> bool:
        return any(
            e["host"] == host and (port is None or e["port"] == port) for e in self.net("deny")
        )

    def describe(self) -> str:
        return (
            f"rc={self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}\n"
            f"events:\n" + "\n".join(json.dumps(e) for e in self.events)
        )


def bwrap_argv(
    info_fd: int, block_fd: int, resolv_fd: int, hosts_fd: int, passwd_fd: int
) -> list[str]:
    argv = [
        "bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc/alternatives", "/etc/alternatives",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        "--ro-bind-data", str(resolv_fd), "/etc/resolv.conf",
        "--ro-bind-data", str(hosts_fd), "/etc/hosts",
        "--ro-bind-data", str(passwd_fd), "/etc/passwd",
        "--info-fd", str(info_fd), "--block-fd", str(block_fd),
        "--clearenv", "--setenv", "PATH", "/usr/bin:/usr/sbin", "--setenv", "HOME", "/tmp",
    ]  # fmt: skip
    if IS_ROOT:
        argv += ["--uid", "1000", "--gid", "1000"]
    return argv


def _data_fd(content: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, content)
    os.close(write_end)
    return read_end


def _child_pid(info_fd: int) -> int:
    data = b""
    deadline = time.monotonic() + 10
    poller = select.poll()  # not select(): the descriptor may be above FD_SETSIZE
    poller.register(info_fd, select.POLLIN)
    while b"}" not in data:
        ready = poller.poll(max(0.0, deadline - time.monotonic()) * 1000)
        chunk = os.read(info_fd, 4096) if ready else b""
        if not chunk:
            raise RuntimeError(f"bwrap gave no child pid: {data!r}")
        data += chunk
    return int(json.loads(data[: data.index(b"}") + 1])["child-pid"])


class Filtered(Protocol):
    def __call__(
        self,
        command: Sequence[str],
        *,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        add_hosts: Sequence[tuple[str, str]] = (),
        proxy_env: bool = True,
        stdin: bytes = b"",
    ) -> SandboxResult: ...


class Launched:
    """A sandbox started with its network attached; the test drives it."""

    def __init__(
        self,
        command: Sequence[str],
        plan: NetworkPlan,
        *,
        proxy_env: bool = True,
        stdin: int | None = None,
        ro_binds: Sequence[str] = (),
    ) -> None:
        self.audit = MemoryAudit("net-test")
        self.session: NetworkSession = open_network(plan, audit=self.audit, session_id="t")
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        resolv = _data_fd(RESOLV_CONF.encode())
        hosts = _data_fd(b"127.0.0.1 localhost\n::1 localhost\n")
        uid = 1000 if IS_ROOT else os.getuid()
        passwd = _data_fd(f"sandbox:x:{uid}:{uid}::/tmp:/bin/sh\n".encode())
        argv = bwrap_argv(info_w, block_r, resolv, hosts, passwd)
        for path in ro_binds:
            argv += ["--ro-bind", path, path]
        if proxy_env:
            for name, value in PROXY_ENV:
                argv += ["--setenv", name, value]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [*argv, "--", *command],
            pass_fds=(info_w, block_r, resolv, hosts, passwd),
            stdin=subprocess.PIPE if stdin is None else stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for fd in (info_w, block_r, resolv, hosts, passwd):
            os.close(fd)
        try:
            self.child_pid = _child_pid(info_r)
            self.session.attach(self.child_pid)
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            os.close(info_r)
            os.write(block_w, b"x")
            os.close(block_w)

    def finish(self, stdin: bytes = b"") -> SandboxResult:
        try:
            out, err = self.process.communicate(stdin, timeout=SANDBOX_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        self.session.close()
        return SandboxResult(
            self.process.returncode,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            list(self.audit.events),
            self.session.summary(),
            time.monotonic() - self.started,
        )


@pytest.fixture
def filtered() -> Filtered:
    if shutil.which("bwrap") is None:
        pytest.fail("bwrap is not installed")

    def run(
        command: Sequence[str],
        *,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        add_hosts: Sequence[tuple[str, str]] = (),
        proxy_env: bool = True,
        stdin: bytes = b"",
    ) -> SandboxResult:
        plan = NetworkPlan.parse(NetworkMode.FILTERED, tuple(allow), tuple(deny), tuple(add_hosts))
        return Launched(command, plan, proxy_env=proxy_env).finish(stdin)

    return run


def py(source: str) -> list[str]:
    """A python3 command line running ``source`` inside the sandbox."""
    return ["python3", "-c", source]


HERE = Path(__file__).parent

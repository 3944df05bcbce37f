"""HTTPS inspection through a session on host loopback (fake listeners, no bwrap): the
smuggling cases, upgrades, plain HTTP to an inspected name, live changes. Each refusal is
paired with the same request passing where the rules allow it."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwsandbox._audit import MemoryAudit
from bwsandbox._netrules import parse_rule
from bwsandbox.compile._plan import NetworkPlan
from bwsandbox.net._listeners import loopback_listeners
from bwsandbox.net._session import NetworkSession, open_network
from bwsandbox.policy._model import NetworkMode

from ._https import EchoHandler, Running, https_server, make_certificate

NAME = "web.test"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("certs"), NAME)


@pytest.fixture
def web(cert: tuple[Path, Path]) -> Iterator[Running]:
    with https_server(*cert, EchoHandler) as running:
        yield running


def _session(rules: tuple[str, ...], ca_file: Path) -> tuple[NetworkSession, MemoryAudit]:
    audit = MemoryAudit()
    plan = NetworkPlan.parse(
        NetworkMode.FILTERED, rules, (), ((NAME, "127.0.0.1"),), upstream_ca_file=str(ca_file)
    )
    net = open_network(plan, audit=audit, listeners=loopback_listeners)
    net.attach(0)
    return net, audit


def _tls(net: NetworkSession, port: int) -> ssl.SSLSocket:
    """A TLS connection to web.test:port through the explicit proxy (CONNECT)."""
    assert net.listeners is not None
    proxy = net.listeners.http_proxy.getsockname()[1]
    raw = socket.create_connection(("127.0.0.1", proxy), timeout=10)
    raw.sendall(f"CONNECT {NAME}:{port} HTTP/1.1\r\nHost: {NAME}:{port}\r\n\r\n".encode())
    assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    context = ssl.create_default_context()
    if net.ca is not None:
        context.load_verify_locations(cadata=net.ca.certificate_pem.decode())
    return context.wrap_socket(raw, server_hostname=NAME)


def _exchange(sock: ssl.SSLSocket, request: bytes) -> bytes:
    sock.sendall(request)
    reply = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, OSError):
            break
        if not chunk:
            break
        reply += chunk
        if b"\r\n\r\n" in reply and reply.split(b"\r\n", 1)[0].endswith(b"200 OK"):
            head, _, body = reply.partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")[1:]
                      if line.lower().startswith(b"content-length:")]  # fmt: skip
            if length and len(body) >= length[0]:
                break
    return reply


@pytest.mark.parametrize(
    ("host", "refused"), [(NAME, False), ("other.test", True), (f"{NAME}.evil.test", True)]
)
def test_the_host_header_must_be_the_name_on_every_request(
    web: Running, cert: tuple[Path, Path], host: str, refused: bool
) -> None:
    net, _ = _session((f"GET {NAME}:{web.port}/*",), cert[1])
    try:
        with _tls(net, web.port) as sock:
            reply = _exchange(sock, f"GET /a HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    finally:
        net.close()
    if refused:
        assert reply.startswith(b"HTTP/1.1 403"), reply
        assert b"does not match" in reply
        assert not web.seen.requests
    else:
        assert reply.startswith(b"HTTP/1.1 200"), reply
        assert [p for _, p, _ in web.seen.requests] == ["/a"]


@pytest.mark.parametrize("upgrade", [True, False])
def test_upgrades_are_refused(web: Running, cert: tuple[Path, Path], upgrade: bool) -> None:
    net, _ = _session((f"GET {NAME}:{web.port}/*",), cert[1])
    extra = "Connection: Upgrade\r\nUpgrade: websocket\r\n" if upgrade else ""
    try:
        with _tls(net, web.port) as sock:
            reply = _exchange(sock, f"GET /ws HTTP/1.1\r\nHost: {NAME}\r\n{extra}\r\n".encode())
    finally:
        net.close()
    if upgrade:
        assert reply.startswith(b"HTTP/1.1 403"), reply
        assert b"upgrades (WebSocket) are not inspected" in reply
        assert not web.seen.requests
    else:
        assert reply.startswith(b"HTTP/1.1 200"), reply


@pytest.mark.parametrize(
    ("target", "refused"),
    [("/ok/x", False), ("/ok/../secret", True), ("/ok/%2e%2E/secret", True), ("/ok/..%2fs", True)],
)
def test_dot_segments_never_reach_the_server(
    web: Running, cert: tuple[Path, Path], target: str, refused: bool
) -> None:
    net, _ = _session((f"GET {NAME}:{web.port}/ok/*",), cert[1])
    try:
        with _tls(net, web.port) as sock:
            reply = _exchange(sock, f"GET {target} HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
    finally:
        net.close()
    assert reply.startswith(b"HTTP/1.1 403" if refused else b"HTTP/1.1 200"), reply
    assert bool(web.seen.requests) is not refused


def test_a_malformed_head_inside_tls_is_refused(web: Running, cert: tuple[Path, Path]) -> None:
    net, _ = _session((f"GET {NAME}:{web.port}/*",), cert[1])
    try:
        with _tls(net, web.port) as sock:
            reply = _exchange(sock, f"GET /a HTTP/1.1\r\nHost: {NAME}\nX: y\r\n\r\n".encode())
    finally:
        net.close()
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert not web.seen.requests


def test_plain_http_to_an_inspected_name_is_checked(cert: tuple[Path, Path]) -> None:
    """Through the explicit proxy as an absolute http:// URI (no TLS): the same rules."""
    import threading

    from ._https import Seen, _Server

    server = _Server(("127.0.0.1", 0), EchoHandler)
    server.seen = Seen()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    net, audit = _session((f"GET {NAME}:{port}/ok/*",), cert[1])
    assert net.listeners is not None
    proxy = net.listeners.http_proxy.getsockname()[1]
    try:
        statuses = []
        for path in ("/ok/a", "/no"):
            conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=10)
            conn.request("GET", f"http://{NAME}:{port}{path}")
            response = conn.getresponse()
            statuses.append((response.status, response.read()))
            conn.close()
    finally:
        net.close()
        server.shutdown()
        server.server_close()
    assert statuses[0][0] == 200
    assert statuses[1][0] == 403
    assert b"refused GET" in statuses[1][1]
    assert [p for _, p, _ in server.seen.requests] == ["/ok/a"]
    assert {e["path"] for e in audit.events if e["event"] == "request"} == {"/ok/a", "/no"}


def test_a_live_inspecting_rule_needs_a_session_with_a_ca(
    web: Running, cert: tuple[Path, Path]
) -> None:
    net, audit = _session((f"{NAME}:1",), cert[1])  # no inspecting rule: no CA
    assert net.ca is None
    net.gate.change("allow", [parse_rule(f"GET {NAME}:{web.port}/*", allow=True)])
    try:
        assert net.listeners is not None
        proxy = net.listeners.http_proxy.getsockname()[1]
        raw = socket.create_connection(("127.0.0.1", proxy), timeout=10)
        raw.sendall(f"CONNECT {NAME}:{web.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        context = ssl.create_default_context(cafile=str(cert[1]))
        with pytest.raises(ssl.SSLError, match="ACCESS_DENIED"):
            context.wrap_socket(raw, server_hostname=NAME)
    finally:
        net.close()
    reasons = [e.get("reason", "") for e in audit.events if e["event"] == "net"]
    assert any("inspecting rules need a session started with one" in r for r in reasons)
    # the control: a live plain allow of the same destination tunnels it
    net, _ = _session((f"{NAME}:1",), cert[1])
    net.gate.change("allow", [parse_rule(f"{NAME}:{web.port}", allow=True)])
    try:
        assert net.listeners is not None
        proxy = net.listeners.http_proxy.getsockname()[1]
        conn = http.client.HTTPSConnection(
            "127.0.0.1", proxy, context=ssl.create_default_context(cafile=str(cert[1]))
        )
        conn.set_tunnel(NAME, web.port)
        conn.request("GET", "/live")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        net.close()

"""The session, DNS responder and explicit proxy on host loopback (fake listeners, no bwrap)."""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bwsandbox._errors import NetworkError
from bwsandbox.compile._plan import NetworkPlan
from bwsandbox.net._listeners import loopback_listeners
from bwsandbox.net._session import NetworkSession, SessionState, open_network
from bwsandbox.policy._model import NetworkMode
from bwsandbox.testing import MemoryAudit


@pytest.fixture
def session() -> Iterator[tuple[NetworkSession, MemoryAudit]]:
    audit = MemoryAudit()
    plan = NetworkPlan.parse(
        NetworkMode.FILTERED, ("web.test", "*.wild.test"), ("no.wild.test",),
        (("web.test", "127.0.0.1"),),
    )  # fmt: skip
    net = open_network(plan, audit=audit, listeners=loopback_listeners)
    net.attach(0)
    yield net, audit
    net.close()


def _events(audit: MemoryAudit, proto: str, decision: str) -> list[dict[str, Any]]:
    """Allowed connections are audited when they end, just after the client saw EOF."""
    deadline = time.monotonic() + 5
    while True:
        found = [e for e in audit.events if e["proto"] == proto and e["decision"] == decision]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.005)


def _port(net: NetworkSession, name: str) -> int:
    assert net.listeners is not None
    return int(getattr(net.listeners, name).getsockname()[1])


def _proxy(net: NetworkSession, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", _port(net, "http_proxy")), timeout=5) as sock:
        sock.sendall(request)
        return sock.makefile("rb").read()


def _dns(net: NetworkSession, name: str, qtype: int = 1) -> tuple[int, int]:
    query = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query += struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query, ("127.0.0.1", _port(net, "dns_udp")))
        reply = sock.recv(4096)
    return reply[3] & 0xF, struct.unpack_from("!H", reply, 6)[0]


def test_dns_responder(session: tuple[NetworkSession, MemoryAudit]) -> None:
    net, audit = session
    assert _dns(net, "web.test") == (0, 1)
    assert _dns(net, "web.test", 28) == (0, 1)
    assert _dns(net, "a.wild.test") == (0, 1)
    assert _dns(net, "no.wild.test") == (3, 0)
    assert _dns(net, "wild.test") == (3, 0)
    assert _dns(net, "exfil-0123.evil.test") == (3, 0)
    denied = [e["host"] for e in audit.events if e["decision"] == "deny"]
    assert denied == ["no.wild.test", "wild.test", "exfil-0123.evil.test"]


def test_dns_over_tcp(session: tuple[NetworkSession, MemoryAudit]) -> None:
    net, _ = session
    query = struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\x03web\x04test\x00\x00\x01\x00\x01"
    with socket.create_connection(("127.0.0.1", _port(net, "dns_tcp")), timeout=5) as sock:
        sock.sendall(struct.pack("!H", len(query)) + query)
        size = struct.unpack("!H", sock.recv(2))[0]
        reply = sock.recv(size)
    assert struct.unpack_from("!HH", reply, 0)[0] == 9
    assert struct.unpack_from("!H", reply, 6)[0] == 1


def test_explicit_proxy_absolute_uri(
    session: tuple[NetworkSession, MemoryAudit], http_port: int
) -> None:
    net, audit = session
    reply = _proxy(
        net,
        f"GET http://web.test:{http_port}/abs HTTP/1.1\r\nHost: web.test:{http_port}\r\n"
        "Proxy-Connection: keep-alive\r\n\r\n".encode(),
    )
    assert reply.startswith(b"HTTP/1.1 200")
    assert f"host=web.test:{http_port} path=/abs".encode() in reply
    allowed = _events(audit, "http", "allow")
    assert allowed[0]["bytes_in"] == len(reply)


def test_explicit_proxy_refusals(
    session: tuple[NetworkSession, MemoryAudit], http_port: int
) -> None:
    net, _ = session
    assert _proxy(net, b"GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n").startswith(
        b"HTTP/1.1 403"
    )
    assert _proxy(net, b"CONNECT evil.test:443 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 403")
    assert _proxy(net, b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 403")
    assert _proxy(net, b"CONNECT web.test HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _proxy(net, b"GET https://web.test/ HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _proxy(net, b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _proxy(net, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    smuggled = f"GET http://web.test:{http_port}/ HTTP/1.1\r\nHost: evil.test\r\n\r\n"
    assert _proxy(net, smuggled.encode()).startswith(b"HTTP/1.1 403")
    summary = "\n".join(net.summary())
    assert "--allow evil.test:443" in summary
    assert "not fixable by --allow" in summary


def test_connect_tunnel(session: tuple[NetworkSession, MemoryAudit], http_port: int) -> None:
    net, audit = session
    reply = _proxy(
        net,
        f"CONNECT web.test:{http_port} HTTP/1.1\r\n\r\n"
        f"GET /tunnel HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n".encode(),
    )
    assert reply.startswith(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200")
    assert b"path=/tunnel" in reply
    assert _events(audit, "connect", "allow")


def test_close_stops_serving_and_is_idempotent(
    session: tuple[NetworkSession, MemoryAudit],
) -> None:
    net, _ = session
    port = _port(net, "http_proxy")
    net.close()
    net.close()
    assert net.state is SessionState.CLOSED
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).recv(1)
    with pytest.raises(NetworkError, match="already closed"):
        net.attach(0)


def test_listener_failure_is_a_network_error() -> None:
    def broken(pid: int) -> object:
        raise OSError(1, "Operation not permitted")

    plan = NetworkPlan.parse(NetworkMode.FILTERED, ("web.test",))
    net = open_network(plan, listeners=broken)  # type: ignore[arg-type]
    with pytest.raises(NetworkError, match="Operation not permitted"):
        net.attach(1)
    assert net.state is SessionState.CLOSED


def test_a_slow_head_is_cut_at_the_head_deadline(
    session: tuple[NetworkSession, MemoryAudit], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slowloris: a head trickled in byte by byte gets a 400 once its time is up, whatever
    the pace (the deadline is for the whole head, not per read)."""
    from bwsandbox.net import _io

    monkeypatch.setattr(_io, "HEAD_TIMEOUT", 0.5)
    net, _ = session
    with socket.create_connection(("127.0.0.1", _port(net, "http_proxy")), timeout=10) as sock:
        reply = b""
        for byte in b"GET http://web.test/ HTTP/1.1\r\nX-Slow: " + b"a" * 400:
            try:
                sock.sendall(bytes([byte]))
                time.sleep(0.01)
            except OSError:
                break
            if select.select([sock], [], [], 0)[0]:
                break
        reply = sock.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert b"incomplete" in reply


def test_closing_at_once_stops_the_loop_and_closes_every_listener() -> None:
    """The serving loop starts without waiting for its thread: a close right after attach
    (before the loop may have run) still ends the loop, and the loop closes every listener."""
    plan = NetworkPlan.parse(NetworkMode.FILTERED, ("web.test",))
    for _ in range(20):
        net = open_network(plan, listeners=loopback_listeners)
        net.attach(0)
        assert net.listeners is not None
        listeners, loops = net.listeners.all(), list(net._server._loops)  # type: ignore[union-attr]
        net.close()
        assert [loop.join(0) for loop in loops] == [True], "the loop has ended"
        assert all(sock.fileno() == -1 for sock in listeners)


def test_control_a_serving_loop_runs_and_its_listeners_are_open() -> None:
    """Control for the test above: while the session serves, the loop runs and the
    listeners are open."""
    net = open_network(
        NetworkPlan.parse(NetworkMode.FILTERED, ("web.test",)), listeners=loopback_listeners
    )
    net.attach(0)
    assert net.listeners is not None
    loops = list(net._server._loops)  # type: ignore[union-attr]
    assert [loop.join(0.05) for loop in loops] == [False], "still serving"
    assert all(sock.fileno() != -1 for sock in net.listeners.all())
    net.close()

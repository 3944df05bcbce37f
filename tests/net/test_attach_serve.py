"""``attach(pid, serve=False)`` then ``serve()``: the runtime lets the command go in between.

Attached, every socket listens (the proxy's, the DNS responder's, the control socket), but no
thread answers yet; what connects meanwhile waits in a backlog and is answered once
:meth:`~bwsandbox.net._session.NetworkSession.serve` starts the threads. Nothing is lost, and a
failure to start them closes everything (egress stays shut). Fake loopback listeners, no bwrap.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwsandbox._errors import NetworkError, ProxyError
from bwsandbox.compile._plan import NetworkPlan
from bwsandbox.net._control import control_path, send_request
from bwsandbox.net._listeners import loopback_listeners
from bwsandbox.net._live import LiveLimits
from bwsandbox.net._session import NetworkSession, SessionState, open_network
from bwsandbox.policy._model import NetworkMode
from bwsandbox.testing import MemoryAudit

#: how long "not answered yet" is watched for (a reply would come in well under a millisecond)
_QUIET = 0.3


@pytest.fixture
def attached(tmp_path: Path) -> Iterator[NetworkSession]:
    plan = NetworkPlan.parse(NetworkMode.FILTERED, ("web.test",), (), (("web.test", "127.0.0.1"),))
    net = open_network(plan, audit=MemoryAudit(), session_id="s1", listeners=loopback_listeners)
    runtime = tmp_path / "rt"
    runtime.mkdir(mode=0o700)
    net.serve_control(control_path(str(runtime), "s1"), LiveLimits())
    net.attach(0, serve=False)
    yield net
    net.close()


def _query(name: str) -> bytes:
    query = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return query + struct.pack("!HH", 1, 1)


def _address(net: NetworkSession, name: str) -> tuple[str, int]:
    assert net.listeners is not None
    address: tuple[str, int] = getattr(net.listeners, name).getsockname()[:2]
    return address


def _state(net: NetworkSession) -> SessionState:
    return net.state  # read afresh (mypy would keep the narrowed state across serve())


def _unanswered(sock: socket.socket) -> bool:
    sock.settimeout(_QUIET)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    return False


def test_what_connects_before_serve_waits_and_is_answered_after(
    attached: NetworkSession,
) -> None:
    net = attached
    assert _state(net) is SessionState.ATTACHED
    proxy = socket.create_connection(_address(net, "http_proxy"), timeout=5)
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with proxy, dns, control:
        proxy.sendall(b"GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n")
        dns.sendto(_query("web.test"), _address(net, "dns_udp"))
        control.connect(net._control_path)  # the control socket listens already
        control.sendall(b'{"op": "allow", "rules": ["other.test"]}\n')
        # control: attached is not serving; no thread answers any of them yet
        assert _unanswered(proxy)
        assert _unanswered(dns)
        assert _unanswered(control)
        net.serve()
        assert _state(net) is SessionState.SERVING
        for sock in (proxy, dns, control):
            sock.settimeout(5)
        assert proxy.recv(4096).startswith(b"HTTP/1.1 403")
        reply = dns.recv(512)
        assert reply[:2] == b"\x00\x07"
        assert reply[3] & 0x0F == 0, "web.test is allowed: an answer, not NXDOMAIN"
        assert b'"ok": true' in control.recv(4096)
    assert send_request(net._control_path, "deny", ["other.test"])["ok"] is True


def test_serve_needs_an_attached_session(tmp_path: Path) -> None:
    plan = NetworkPlan.parse(NetworkMode.FILTERED, ("web.test",))
    net = open_network(plan, listeners=loopback_listeners)
    with pytest.raises(NetworkError, match="created, not attached"):
        net.serve()
    net.attach(0)  # control: attach serves by default
    assert net.state is SessionState.SERVING
    with pytest.raises(NetworkError, match="serving, not attached"):
        net.serve()
    net.close()


def test_a_serving_thread_that_cannot_start_closes_everything(
    attached: NetworkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bwsandbox.net import _serve

    def no_thread(self: object) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_serve.Server, "start", no_thread)
    address = _address(attached, "http_proxy")
    path = attached._control_path
    # control: before the failure, both sockets take connections
    socket.create_connection(address, timeout=5).close()
    with pytest.raises(ProxyError, match="can't start new thread"):
        attached.serve()
    assert attached.state is SessionState.CLOSED
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2).recv(1)
    assert not Path(path).exists()


def test_a_control_thread_that_cannot_start_leaves_the_session_serving(
    attached: NetworkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bwsandbox.net import _control

    def no_thread(self: object) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_control.ControlServer, "serve", no_thread)
    attached.serve()
    assert attached.state is SessionState.SERVING
    assert "live changes unavailable" in attached.control_error
    with pytest.raises(OSError):
        send_request(attached._control_path, "allow", ["other.test"], timeout=2)
    # the proxy answers all the same
    with socket.create_connection(_address(attached, "http_proxy"), timeout=5) as proxy:
        proxy.sendall(b"GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n")
        assert proxy.recv(4096).startswith(b"HTTP/1.1 403")

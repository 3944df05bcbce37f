"""Live changes, the pure parts: the control request parser, the enforced limits, and the
gate swapping its rules (and cutting the open connections a deny refuses)."""

from __future__ import annotations

import json
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwsandbox._audit import NullAudit
from bwsandbox.net._allowlist import Allowlist
from bwsandbox.net._control import ControlServer, send_request
from bwsandbox.net._gate import Gate
from bwsandbox.net._live import LiveLimits, Refused, parse_request
from bwsandbox.net._rules import parse_rule


@given(st.binary(max_size=300))
def test_any_bytes_are_a_request_or_a_refusal(data: bytes) -> None:
    try:
        request = parse_request(data)
    except Refused as exc:
        message = str(exc)
        assert message
    else:
        assert request.op in ("allow", "deny", "watch", "answer")
        assert bool(request.rules) == (request.op in ("allow", "deny"))


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), st.lists))
def test_any_json_is_a_request_or_a_refusal(value: object) -> None:
    data = json.dumps({"op": "allow", "rules": value}).encode()
    try:
        parse_request(data)
    except Refused as exc:
        message = str(exc)
        assert message


def test_a_request_uses_the_allow_grammar() -> None:
    request = parse_request(b'{"op": "allow", "rules": ["Web.Test:8080", "*.example.com"]}')
    assert [str(r) for r in request.rules] == ["web.test:8080", "*.example.com"]
    with pytest.raises(Refused, match="invalid rule"):
        parse_request(b'{"op": "allow", "rules": ["http://web.test/"]}')
    with pytest.raises(Refused, match="unknown operation"):
        parse_request(b'{"op": "open", "rules": ["web.test"]}')


def test_enforced_limits() -> None:
    limits = LiveLimits(
        ceilings=(("/etc/e.toml", (parse_rule("*.corp.test"),)),),
        deny=(parse_rule("secret.corp.test"),),
    )
    limits.check_allow(parse_rule("git.corp.test:443"))  # control: inside the ceiling
    with pytest.raises(Refused, match=r"outside the enforced network\.allow of /etc/e\.toml"):
        limits.check_allow(parse_rule("example.com"))
    with pytest.raises(Refused, match=r"inside the network\.deny rule secret\.corp\.test"):
        limits.check_allow(parse_rule("secret.corp.test:443"))
    with pytest.raises(Refused, match="cannot be read"):
        LiveLimits(unreadable="the enforced policy cannot be read").check_allow(
            parse_rule("git.corp.test")
        )
    LiveLimits().check_allow(parse_rule("example.com"))  # no enforced layer: no ceiling


def _gate() -> Gate:
    return Gate(
        Allowlist((), (), [("web.test", "127.0.0.1")]),
        NullAudit(),
        resolver=lambda name, port: [],
    )


def test_gate_changes_dns_and_connections_and_cuts_on_deny() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    gate = _gate()
    assert not gate.allowlist.check_name("web.test", port).allowed  # control
    gate.change("allow", [parse_rule(f"web.test:{port}")])
    upstream = gate.open("web.test", port)
    accepted, _ = server.accept()
    with accepted, server:
        assert gate.change("deny", [parse_rule("other.test")]) == 0  # control: not this one
        accepted.sendall(b"x")
        assert upstream.sock.recv(1) == b"x"
        assert gate.change("deny", [parse_rule("web.test")]) == 1
        assert upstream.sock.recv(1) == b""  # shut down
        assert gate.lookup("web.test") is None  # NXDOMAIN
        gate.change("allow", [parse_rule(f"web.test:{port}")])  # takes the live deny back
        assert gate.lookup("web.test") is not None
    upstream.sock.close()


def test_control_server_applies_and_refuses() -> None:
    import tempfile

    base = tempfile.mkdtemp(prefix="bwsbx-ctl-")  # short: unix socket addresses are small
    path = f"{base}/agent-sandbox/control/s.sock"
    gate = _gate()
    events: list[dict[str, object]] = []
    limits = LiveLimits(deny=(parse_rule("bad.test"),))
    control = ControlServer(path, gate.change, lambda **f: events.append(f), limits)
    control.start()
    try:
        assert send_request(path, "allow", ["web.test:81"])["ok"] is True
        refused = send_request(path, "allow", ["bad.test:1"])
        assert refused["ok"] is False
        assert "inside the network.deny rule" in str(refused["error"])
        assert gate.allowlist.check_name("web.test", 81).allowed
        assert [e["op"] for e in events] == ["allow"]
    finally:
        control.stop()
    import os

    assert not os.path.exists(f"{base}/agent-sandbox/control")  # noqa: PTH110
    os.rmdir(f"{base}/agent-sandbox")  # noqa: PTH106
    os.rmdir(base)  # noqa: PTH106

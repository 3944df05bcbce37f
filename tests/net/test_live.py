"""Live ``agent-sandbox allow``/``deny`` against a real filtered sandbox started in the background.

The sandbox's first process sleeps; probes run in it through ``exec`` (same network namespace).
Each change is checked against the same probe before it (the control), and the control channel
against a client that is not the owner, garbage, and a client that says nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bwsandbox.net._control import control_path, send_request
from bwsandbox.policy._enforced import EXTRA_VAR
from tests.conftest import Cli
from tests.sandbox.test_sessions import Running, finish, inside, start

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

_WAIT = 30.0


@pytest.fixture
def session(cli: Cli, project: Path) -> Iterator[Running]:
    running = start(cli, project, "--network", "filtered", "--add-host", "web.test=127.0.0.1")
    yield running
    finish(running)


def _get(running: Running, port: int, path: str) -> str:
    script = f"curl -sS -m 10 --noproxy '*' http://web.test:{port}/{path} 2>&1; echo"
    return inside(running, script)[1]


def _events(cli: Cli) -> list[dict[str, Any]]:
    logs = cli("logs")
    assert logs.returncode == 0, logs.describe()
    return [json.loads(line) for line in logs.stdout.splitlines() if line.strip()]


def _resolves(running: Running, name: str) -> str:
    # a DNS query to the sandbox's resolver (getent would read /etc/hosts, where --add-host is)
    probe = (
        "import socket,struct,sys\n"
        f"n={name!r}\n"
        "q=struct.pack('!HHHHHH',7,0x100,1,0,0,0)+b''.join(bytes([len(p)])+p.encode() "
        "for p in n.split('.'))+b'\\0'+struct.pack('!HH',1,1)\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(10)\n"
        "ns=[l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]\n"
        "s.sendto(q,(ns,53)); r=s.recv(512)\n"
        "print('rcode', r[3]&15, 'answers', struct.unpack('!H',r[6:8])[0])\n"
    )
    code, out = inside(running, f'python3 -c "{probe}"')
    assert code == 0, out
    return out.strip()


def test_allow_then_deny_changes_a_running_session(
    cli: Cli, session: Running, http_port: int
) -> None:
    # control: the host is not allowed when the session starts
    before = _get(session, http_port, "before")
    assert "path=/before" not in before, before
    allowed = cli("allow", f"web.test:{http_port}")
    assert allowed.returncode == 0, allowed.describe()
    assert f"allowed in {session.id}: web.test:{http_port}" in allowed.stdout
    after = _get(session, http_port, "after")
    assert "path=/after" in after, after  # same sandbox, no restart
    assert _resolves(session, "web.test") == "rcode 0 answers 1"
    denied = cli("deny", "web.test")
    assert denied.returncode == 0, denied.describe()
    again = _get(session, http_port, "again")
    assert "path=/again" not in again, again
    assert _resolves(session, "web.test") == "rcode 3 answers 0"  # NXDOMAIN
    # a live allow takes the live deny back
    assert cli("allow", f"web.test:{http_port}").returncode == 0
    assert "path=/back" in _get(session, http_port, "back")
    changes = [e for e in _events(cli) if e["event"] == "net-change"]
    assert [(e["op"], e["rules"]) for e in changes] == [
        ("allow", [f"web.test:{http_port}"]),
        ("deny", ["web.test"]),
        ("allow", [f"web.test:{http_port}"]),
    ]
    assert all(e["peer_uid"] == os.getuid() for e in changes)


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(_WAIT)

    def serve() -> None:
        with server:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(_WAIT)
                try:
                    while data := conn.recv(4096):
                        conn.sendall(data)
                except OSError:
                    return

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


_HOLD = r"""
import os, socket, time
s = socket.create_connection(("web.test", {port}), timeout=10)
s.sendall(b"\x01\x01"); r = s.recv(300); assert r == b"\x01\x01", r
open("hold.ready1", "w").close()
while not os.path.exists("hold.go"):
    time.sleep(0.02)
s.sendall(b"\x02\x02"); print("alive" if s.recv(300) == b"\x02\x02" else "lost", flush=True)
open("hold.ready2", "w").close()
s.settimeout(60)
try:
    print("cut" if s.recv(3) == b"" else "data", flush=True)
except OSError as exc:
    print("cut", exc, flush=True)
"""


def _wait_for(path: Path, probe: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _WAIT
    while not path.exists():
        if probe.poll() is not None or time.monotonic() > deadline:
            probe.kill()
            pytest.fail(f"{path.name} never appeared: {probe.communicate()[0]!r}")
        time.sleep(0.02)


def test_deny_closes_open_connections_to_that_host(
    cli: Cli, session: Running, project: Path
) -> None:
    server, port = _echo_server()
    assert cli("allow", f"web.test:{port}").returncode == 0
    script = _HOLD.format(port=port)
    probe = subprocess.Popen(
        [*cli.command, "exec", session.id, "--", "python3", "-c", script],
        env=cli.env,
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    _wait_for(project / "hold.ready1", probe)
    # control: denying another host leaves the connection open
    other = cli("deny", "other.test")
    assert other.returncode == 0, other.describe()
    (project / "hold.go").touch()
    _wait_for(project / "hold.ready2", probe)
    denied = cli("deny", f"web.test:{port}")
    assert denied.returncode == 0, denied.describe()
    assert "1 open connection(s) closed" in denied.stdout, denied.describe()
    out = probe.communicate(timeout=_WAIT)[0].decode()
    server.close()
    assert out.split()[:2] == ["alive", "cut"], out


def test_rules_are_checked_before_the_session_is_asked(cli: Cli, session: Running) -> None:
    for bad in ("http://web.test/", "web.test:99999", "", "a b"):
        result = cli("allow", bad)
        assert result.returncode == 125, result.describe()
        assert len(result.error_lines) == 1, result.describe()
    assert [e for e in _events(cli) if e["event"] == "net-change"] == []


def test_no_session_and_unfiltered_session_are_clear_errors(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    none = cli("allow", "web.test", cwd=elsewhere)
    assert none.returncode == 125, none.describe()
    assert len(none.error_lines) == 1, none.describe()
    assert f"no running sandbox has the project {elsewhere.resolve()}" in none.error_lines[0]
    running = start(cli, project)  # network none
    try:
        result = cli("deny", "web.test")
        assert result.returncode == 125, result.describe()
        assert "only a filtered session can be changed" in result.error_lines[0]
        unknown = cli("deny", "--session", "zzzz", "web.test")
        assert unknown.returncode == 125, unknown.describe()
        assert "no running sandbox with id 'zzzz'" in unknown.error_lines[0]
    finally:
        finish(running)


def _raw(path: str, data: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_WAIT)
        sock.connect(path)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while more := sock.recv(4096):
            reply += more
    value = json.loads(reply)
    assert isinstance(value, dict)
    return value


def test_control_socket_is_owner_only_and_survives_garbage(
    cli: Cli, session: Running, http_port: int
) -> None:
    path = control_path(str(cli.runtime_dir), session.id)
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()
    parent = os.lstat(os.path.dirname(path))  # noqa: PTH120
    assert stat.S_IMODE(parent.st_mode) == 0o700
    assert parent.st_uid == os.getuid()
    # the socket is not inside the sandbox
    _, out = inside(session, f"test -e {path} && echo present || echo absent")
    assert out.strip() == "absent", out
    for garbage in (b"\x00\xff garbage\n", b"[1,2]\n", b'{"op":"open","rules":["x"]}\n', b""):
        reply = _raw(path, garbage)
        assert reply["ok"] is False, (garbage, reply)
        assert reply["error"], (garbage, reply)
    oversized = _raw(path, b"x" * (70 * 1024))
    assert "longer than" in str(oversized["error"])
    # a client that says nothing does not hold up the next one
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.connect(path)
        reply = send_request(path, "allow", [f"web.test:{http_port}"])
        assert reply["ok"] is True, reply
    assert "path=/still" in _get(session, http_port, "still")


def _as_nobody(path: str) -> str:
    """Connect to ``path`` and send a request as uid 65534 (a forked child)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                result = json.dumps(send_request(path, "allow", ["evil.test"]))
            except OSError as exc:
                result = f"oserror {exc.errno}"
            os.write(write, result.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read().decode()
    os.waitpid(pid, 0)
    return data


@pytest.fixture
def open_runtime(cli: Cli) -> Iterator[Cli]:
    """``cli`` with a runtime dir in /tmp whose ancestors another uid may traverse."""
    runtime = Path(tempfile.mkdtemp(prefix="bwsbx-live-"))
    env = dict(cli.env, XDG_RUNTIME_DIR=str(runtime))
    yield dataclasses.replace(cli, env=env, runtime_dir=runtime)
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.mark.root
def test_another_user_cannot_change_the_session(open_runtime: Cli, project: Path) -> None:
    cli = open_runtime
    session = start(cli, project, "--network", "filtered")
    try:
        path = control_path(str(cli.runtime_dir), session.id)
        # the modes stop another user first (the runtime dir and the control dir are 0700)
        assert _as_nobody(path) == "oserror 13", "another uid reached the socket"
        # with the modes opened (a misconfigured runtime dir), SO_PEERCRED still refuses
        directory = Path(path).parent
        for each in (cli.runtime_dir, directory.parent, directory):
            each.chmod(0o755)
        Path(path).chmod(0o666)
        try:
            reply = _as_nobody(path)
        finally:
            for each in (cli.runtime_dir, directory.parent, directory):
                each.chmod(0o700)
        assert "refused: uid 65534 does not own this session" in reply, reply
        # control: the owner's same request is applied
        assert send_request(path, "allow", ["evil.test"])["ok"] is True
        changes = [e for e in _events(cli) if e["event"] == "net-change"]
        assert [(e["op"], e.get("peer_uid")) for e in changes] == [("refused", 65534), ("allow", 0)]
    finally:
        finish(session)


@pytest.mark.root
def test_live_allow_cannot_loosen_the_enforced_layer(
    cli: Cli, project: Path, tmp_path: Path, http_port: int
) -> None:
    directory = tmp_path / "enf"
    directory.mkdir(mode=0o755)
    enforced = directory / "enforced.toml"
    enforced.write_text('[network]\nallow = ["*.test", "127.0.0.1"]\ndeny = ["bad.test"]\n')
    enforced.chmod(0o644)
    cli.env[EXTRA_VAR] = str(enforced)
    running = start(cli, project, "--network", "filtered", "--add-host", "web.test=127.0.0.1")
    try:
        outside = cli("allow", "example.com")
        assert outside.returncode == 125, outside.describe()
        assert f"outside the enforced network.allow of {enforced}" in outside.error_lines[0]
        inside_deny = cli("allow", "bad.test:443")
        assert inside_deny.returncode == 125, inside_deny.describe()
        assert "inside the network.deny rule bad.test" in inside_deny.error_lines[0]
        # control: a rule inside the ceiling is applied
        within = cli("allow", f"web.test:{http_port}")
        assert within.returncode == 0, within.describe()
        assert "path=/ok" in _get(running, http_port, "ok")
    finally:
        finish(running)


def test_library_calls(
    cli: Cli, session: Running, http_port: int, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bwsandbox

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(cli.runtime_dir))
    done = bwsandbox.allow(f"web.test:{http_port}", project=project)
    assert (done.session, done.rules) == (session.id, (f"web.test:{http_port}",))
    assert "path=/lib" in _get(session, http_port, "lib")
    bwsandbox.deny("web.test", session=session.id[:6])
    assert "path=/lib2" not in _get(session, http_port, "lib2")
    with pytest.raises(bwsandbox.NetworkError, match="invalid rule"):
        bwsandbox.allow("http://x/", project=project)

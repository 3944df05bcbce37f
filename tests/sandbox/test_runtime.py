"""The runtime end to end with real bwrap: exit statuses, files, work dir, audit, errors."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

import bwsandbox
from bwsandbox import (
    CommandNotExecutableError,
    CommandNotFoundError,
    LaunchError,
    WorkspaceError,
)
from bwsandbox._api import build_overlay
from bwsandbox._paths import session_dir
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox, SandboxState
from bwsandbox.runtime._sandbox import TIMEOUT_STATUS
from bwsandbox.runtime._workdir import PREFIX
from bwsandbox.testing import MemoryAudit

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]


@pytest.fixture
def host_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR for the runtime: session work dirs go here, so the tests can see them."""
    path = tmp_path / "host-tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    return path


def process_gone(pid: int, patience: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (gone or a zombie waiting for its reaper)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat[stat.rfind(")") + 2] in "ZX":
            return True
        time.sleep(0.02)
    return False


def state_of(box: Sandbox) -> SandboxState:
    return box.state


def workdirs(host_tmp: Path) -> list[Path]:
    return sorted(p for p in host_tmp.iterdir() if p.name.startswith(PREFIX))


@pytest.mark.parametrize("status", [0, 1, 42, 255])
def test_exit_status_propagates(project: Path, host_tmp: Path, status: int) -> None:
    result = bwsandbox.run(["sh", "-c", f"exit {status}"], project=project)
    assert result.returncode == status
    assert workdirs(host_tmp) == []


def test_death_by_signal_is_128_plus_n(project: Path, host_tmp: Path) -> None:
    result = bwsandbox.run(["sh", "-c", "kill -TERM $$"], project=project)
    assert result.returncode == 128 + signal.SIGTERM
    result = bwsandbox.run(["sh", "-c", "kill -KILL $$"], project=project)
    assert result.returncode == 128 + signal.SIGKILL


def test_command_not_found_is_127(project: Path, host_tmp: Path) -> None:
    with pytest.raises(CommandNotFoundError) as info:
        bwsandbox.run(["no-such-command-xyz"], project=project)
    assert info.value.exit_status == 127
    assert "no-such-command-xyz" in str(info.value)
    with pytest.raises(CommandNotFoundError):
        bwsandbox.run(["./missing.sh"], project=project)
    assert workdirs(host_tmp) == []


def test_not_executable_is_126(project: Path, host_tmp: Path) -> None:
    script = project / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(CommandNotExecutableError) as info:
        bwsandbox.run(["./script.sh"], project=project)
    assert info.value.exit_status == 126
    with pytest.raises(CommandNotExecutableError):
        bwsandbox.run([str(project)], project=project)  # a directory
    script.chmod(0o755)
    assert bwsandbox.run(["./script.sh"], project=project, capture_output=True).stdout == b"hi\n"


def test_a_host_path_outside_the_sandbox_is_not_found(project: Path, host_tmp: Path) -> None:
    # exists on the host, but nothing binds it into the sandbox
    outside = host_tmp.parent / "tool.sh"
    outside.write_text("#!/bin/sh\ntrue\n")
    outside.chmod(0o755)
    with pytest.raises(CommandNotFoundError):
        bwsandbox.run([str(outside)], project=project)


def test_project_is_writable_and_tmp_is_private(project: Path, host_tmp: Path) -> None:
    (host_tmp / "host-file").write_text("host")
    script = (
        "echo made > made.txt; pwd; touch /tmp/inside; ls -A /tmp; "
        "test -e /tmp/host-file && echo LEAK; true"
    )
    result = bwsandbox.run(["sh", "-c", script], project=project, capture_output=True)
    assert result.returncode == 0, result
    assert (project / "made.txt").read_text() == "made\n"
    assert result.stdout is not None
    lines = result.stdout.decode().split()
    assert lines[0] == str(project)
    assert "inside" in lines
    assert "LEAK" not in lines
    assert not (host_tmp / "inside").exists()
    assert workdirs(host_tmp) == []


def test_keep_workdir(project: Path, host_tmp: Path) -> None:
    result = bwsandbox.run(
        ["sh", "-c", "echo kept > /tmp/note; echo home > ~/h"], project=project, keep_workdir=True
    )
    assert result.returncode == 0
    assert result.workdir is not None
    assert workdirs(host_tmp) == [Path(result.workdir)]
    assert (Path(result.workdir) / "tmp" / "note").read_text() == "kept\n"
    assert (Path(result.workdir) / "home" / "h").read_text() == "home\n"


def test_capture_and_input(project: Path, host_tmp: Path) -> None:
    data = os.urandom(300_000)  # more than a pipe buffer, both ways
    result = bwsandbox.run(["cat"], project=project, capture_output=True, input=data)
    assert result.returncode == 0
    assert result.stdout == data
    assert result.stderr == b""
    result = bwsandbox.run(
        ["sh", "-c", "echo out; echo err >&2"], project=project, capture_output=True
    )
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")


def test_environment_is_exactly_the_plan(
    project: Path, host_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    result = bwsandbox.run(["env"], project=project, capture_output=True, env=["GIVEN=yes"])
    assert result.stdout is not None
    env = dict(line.split("=", 1) for line in result.stdout.decode().splitlines())
    assert "SECRET_TOKEN" not in env
    assert env["GIVEN"] == "yes"
    policy = load_policy(
        ("base",), overlays=(("command line", {"env": {"set": {"GIVEN": "yes"}}}),)
    )
    with Sandbox(policy, project=project, command=["true"], audit=MemoryAudit()) as box:
        expected = dict(box.plan.env)
        box.wait()
    assert {k: v for k, v in env.items() if k != "PWD"} == expected


def test_timeout_stops_the_command(project: Path, host_tmp: Path) -> None:
    """One documented value, the CLI's --timeout and timeout(1)'s: 124 (not 143, SIGTERM's)."""
    result = bwsandbox.run(["sleep", "60"], project=project, timeout=0.5)
    assert result.timed_out
    assert result.returncode == TIMEOUT_STATUS == 124
    assert workdirs(host_tmp) == []
    # Control: a command that TERMs itself keeps its own status
    own = bwsandbox.run(["sh", "-c", "kill -TERM $$"], project=project, timeout=30)
    assert not own.timed_out
    assert own.returncode == 128 + signal.SIGTERM


def test_a_string_command_is_refused_with_the_fix(project: Path, host_tmp: Path) -> None:
    for command in ("echo hi", b"echo hi"):
        with pytest.raises(TypeError, match=r"\['sh', '-c', 'echo hi'\]|list of arguments"):
            bwsandbox.run(command, project=project)  # type: ignore[deprecated]
    assert workdirs(host_tmp) == [], "refused before anything started"


def test_stop_escalates_to_kill(project: Path, host_tmp: Path) -> None:
    policy = load_policy(("base",))
    box = Sandbox(
        policy,
        project=project,
        command=["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"],
        audit=MemoryAudit(),
        stop_timeout=0.3,
        capture_output=True,
    )
    box.start()
    assert state_of(box) is SandboxState.RUNNING
    child = box.child_pid
    assert child is not None
    box.stop()
    assert state_of(box) is SandboxState.STOPPED
    assert box.returncode == 128 + signal.SIGKILL
    assert process_gone(child)
    assert workdirs(host_tmp) == []


def test_invalid_project(tmp_path: Path, host_tmp: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        bwsandbox.run(["true"], project=tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(WorkspaceError, match="not a directory"):
        bwsandbox.run(["true"], project=tmp_path / "file")
    assert workdirs(host_tmp) == []


def test_bwrap_setup_failure_is_a_launch_error(project: Path, host_tmp: Path) -> None:
    overlay = {"filesystem": {"tmpfs": ["/proc/sys/kernel/cannot-create"]}}
    policy = load_policy(("base",), overlays=(("command line", overlay),))
    box = Sandbox(
        policy, project=project, command=["true"], audit=MemoryAudit(), capture_output=True
    )
    box.start()
    with pytest.raises(LaunchError) as info:
        box.wait()
    assert info.value.exit_status == 125
    assert "cannot-create" in str(info.value)
    assert box.state is SandboxState.FAILED
    assert workdirs(host_tmp) == []


def test_missing_required_bind_is_a_launch_error(project: Path, host_tmp: Path) -> None:
    with pytest.raises(bwsandbox.SandboxError, match="does-not-exist"):
        bwsandbox.run(["true"], project=project, ro=[str(project / "does-not-exist")])
    assert workdirs(host_tmp) == []


def test_audit_log(project: Path, host_tmp: Path) -> None:
    result = bwsandbox.run(["sh", "-c", "exit 3"], project=project, client="acme")
    path = Path(session_dir("acme", result.session_id)) / "audit.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "exit"]
    start, end = events
    assert start["policy"]
    assert start["network"] == "none"
    assert start["command"] == ["sh", "-c", "exit 3"]
    assert "{fd:info}" in start["argv"]
    assert all(e["session"] == result.session_id for e in events)
    assert end["returncode"] == 3


def test_stale_workdir_of_a_killed_session_is_swept(project: Path, host_tmp: Path) -> None:
    stale = host_tmp / (PREFIX + "deadbeef0000")
    (stale / "tmp" / "locked").mkdir(parents=True)
    (stale / "tmp" / "locked").chmod(0)
    marker = {"uid": os.getuid(), "pid": 1, "start_time": 1, "boot_id": "other-boot"}
    (stale / ".owner").write_text(json.dumps(marker))
    assert bwsandbox.run(["true"], project=project).returncode == 0
    assert workdirs(host_tmp) == []


def test_build_overlay() -> None:
    overlay = build_overlay(
        allow=["example.com"],
        add_hosts=["db.local=10.0.0.5"],
        ro=["/opt/data"],
        rw=["rel"],
        env=["A=1", "TERM"],
        cwd="/work",
    )
    assert overlay == {
        "network": {
            "mode": "filtered",
            "allow": ["example.com"],
            "add_hosts": {"db.local": "10.0.0.5"},
        },
        "filesystem": {
            "ro": [{"src": "/opt/data", "optional": False}],
            "rw": [{"src": "/work/rel", "optional": False}],
        },
        "env": {"set": {"A": "1"}, "passthrough": ["TERM"]},
    }
    assert build_overlay() == {}
    assert build_overlay(network="host", env={"X": "y"}) == {
        "network": {"mode": "host"},
        "env": {"set": {"X": "y"}},
    }
    with pytest.raises(bwsandbox.PolicyError, match="NAME=IP"):
        build_overlay(add_hosts=["nonsense"])


def test_inherited_fds_of_the_caller_do_not_reach_the_sandbox(
    project: Path, host_tmp: Path
) -> None:
    """An fd the caller left inheritable (a secret file, a socket) must not leak in."""
    secret = host_tmp.parent / "secret.txt"
    secret.write_text("top secret")
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)
    probe = (
        "import os, sys\n"
        "try:\n"
        "    print(os.read(int(sys.argv[1]), 100))\n"
        "except OSError as exc:\n"
        "    print('closed', exc.errno)\n"
        "print(sorted(os.listdir('/proc/self/fd')))\n"
    )
    try:
        result = bwsandbox.run(
            ["python3", "-c", probe, str(fd)], project=project, capture_output=True
        )
    finally:
        os.close(fd)
    assert result.returncode == 0, result.stderr
    assert result.stdout is not None
    assert b"top secret" not in result.stdout
    assert result.stdout.startswith(b"closed")


def test_a_failed_start_is_audited(project: Path, host_tmp: Path) -> None:
    audit = MemoryAudit()
    box = Sandbox(load_policy(("base",)), project=project, command=["nope-xyz"], audit=audit)
    with pytest.raises(CommandNotFoundError):
        box.start()
    assert state_of(box) is SandboxState.FAILED
    assert [e["event"] for e in audit.events] == ["start", "error"]
    assert "nope-xyz" in audit.events[1]["error"]
    assert workdirs(host_tmp) == []


def test_setup_failure_message_without_capture(project: Path, host_tmp: Path) -> None:
    """bwrap's stderr is the user's: the error still names the cause (from a silent retry)."""
    overlay = {"filesystem": {"tmpfs": ["/proc/sys/kernel/cannot-create"]}}
    policy = load_policy(("base",), overlays=(("command line", overlay),))
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        box = Sandbox(
            policy,
            project=project,
            command=["touch", "ran"],
            audit=MemoryAudit(),
            stderr=devnull,
            interactive=False,
        )
        box.start()
        with pytest.raises(LaunchError, match="cannot-create"):
            box.wait()
    finally:
        os.close(devnull)
    assert not (project / "ran").exists()
    assert workdirs(host_tmp) == []

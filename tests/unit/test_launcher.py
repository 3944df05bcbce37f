"""The one launcher (``runtime._launcher``): its pure parts, and that every path uses it.

Real sandboxes: ``tests/sandbox/test_forwarded_signals.py`` (the signals on every path),
``tests/sandbox/test_cli_cache.py`` (the cached path against the runtime's).
"""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwsandbox._errors import LaunchError
from bwsandbox.compile import SandboxPlan, compile_plan
from bwsandbox.runtime import _launcher
from bwsandbox.runtime._launch import launch, spec_for
from bwsandbox.runtime._launcher import (
    ENDING,
    FORWARDED,
    KILL_AFTER,
    Forwarder,
    LaunchSpec,
    Stdio,
    exit_code,
    exit_record,
    setup_error,
    spawn,
)
from tests.unit.test_compiler import facts, policy, workspace

PACKAGE = Path(_launcher.__file__).resolve().parent.parent


# -- child pid, exit status, records ----------------------------------------------------------


@given(pid=st.integers(1, 2**31), spaces=st.sampled_from(["", " ", "\n  ", "\t"]))
def test_child_pid_matches_json(pid: int, spaces: str) -> None:
    text = json.dumps({"child-pid": pid}).replace(": ", f"{spaces}:{spaces}")
    assert json.loads(text)["child-pid"] == pid
    assert _launcher._child_pid(text.encode() + b"\n") == pid


def test_child_pid_absent() -> None:
    assert _launcher._child_pid(b"") is None
    assert _launcher._child_pid(b'{"cgroup-namespace": 1}') is None


@pytest.mark.parametrize(("status", "code"), [(0, 0), (7 << 8, 7), (signal.SIGTERM, 143)])
def test_exit_code_is_what_a_shell_reports(status: int, code: int) -> None:
    assert exit_code(status) == code


def test_exit_record_names_the_signal() -> None:
    assert exit_record(0) == {"returncode": 0}
    assert exit_record(137, duration=1.23456, error="x") == {
        "returncode": 137,
        "duration": 1.235,
        "signal": "SIGKILL",
        "error": "x",
    }


def test_setup_error_with_and_without_bwrap_message() -> None:
    assert str(setup_error(1, "Can't find source path /x")).endswith("/x")
    assert "exit status 1" in str(setup_error(1))


# -- spawn ------------------------------------------------------------------------------------


def test_spawn_failure_is_a_launch_error_and_leaks_no_fd() -> None:
    before = sorted(p.name for p in Path("/proc/self/fd").iterdir())
    spec = LaunchSpec(
        ["/nonexistent/bwrap", "--info-fd", "", "--", "true"],
        command_len=1,
        fds=[(2, "info")],
    )
    with pytest.raises(LaunchError, match="cannot run /nonexistent/bwrap"):
        spawn(spec, Stdio())
    assert sorted(p.name for p in Path("/proc/self/fd").iterdir()) == before


def test_the_runtime_launch_raises_the_same_error() -> None:
    plan = replace(policy_plan(), bwrap="/nonexistent/bwrap")
    with pytest.raises(LaunchError, match="cannot run /nonexistent/bwrap"):
        launch(plan, Stdio())


def test_unknown_fd_is_refused() -> None:
    with pytest.raises(LaunchError, match="fds the launcher does not know: mystery"):
        LaunchSpec(["bwrap", "--seccomp", "", "--", "true"], command_len=1, fds=[(2, "mystery")])


def policy_plan() -> SandboxPlan:
    return compile_plan(policy(), facts(), workspace())


def test_spec_for_names_every_fd_of_the_plan() -> None:
    plan = policy_plan()
    spec = spec_for(plan)
    symbolic = plan.argv()
    assert [symbolic[i] for i, _ in spec.fds] == [f"{{fd:{name}}}" for _, name in spec.fds]
    assert {name for _, name in spec.fds} == {ref.name for ref in plan.fd_refs()}
    assert spec.argv[-spec.command_len - 1] == "--"
    assert spec.argv[-spec.command_len :] == list(plan.command)


# -- signals ----------------------------------------------------------------------------------


class Recorder:
    def __init__(self, *, running: bool = True) -> None:
        self.delivered: list[int] = []
        self.killed = 0
        self.resized = 0
        self.is_running = running

    def forwarder(self, *, tty: bool = False, resize: bool = False) -> Forwarder:
        return Forwarder(
            self.delivered.append,
            running=lambda: self.is_running,
            kill=self.kill,
            resize=self.resize if resize else None,
            tty=tty,
        )

    def kill(self) -> None:
        self.killed += 1

    def resize(self) -> None:
        self.resized += 1


@pytest.mark.parametrize("sig", [s for s in FORWARDED if s not in (signal.SIGTSTP,)])
def test_forwarded_signals_reach_the_command(sig: signal.Signals) -> None:
    rec = Recorder()
    rec.forwarder()(sig)
    assert rec.delivered == [sig]


def test_winch_resizes_the_pty_when_there_is_one() -> None:
    rec = Recorder()
    rec.forwarder(resize=True)(signal.SIGWINCH)
    assert (rec.delivered, rec.resized) == ([], 1)


def test_tstp_with_a_pty_is_forwarded() -> None:
    rec = Recorder()
    rec.forwarder(tty=True)(signal.SIGTSTP)
    assert rec.delivered == [signal.SIGTSTP]


def test_nothing_is_delivered_before_release_or_after_exit() -> None:
    rec = Recorder(running=False)
    forwarder = rec.forwarder()
    for sig in FORWARDED:
        forwarder(sig)
    assert rec.delivered == []
    assert forwarder.received == list(FORWARDED)


def test_held_signals_are_delivered_at_start() -> None:
    """exec learns the command's pid after the command may have started: nothing is lost."""
    rec = Recorder()
    forwarder = Forwarder(
        rec.delivered.append, running=lambda: rec.is_running, kill=rec.kill, hold=True
    )
    forwarder(signal.SIGUSR2)
    forwarder(signal.SIGTERM)
    assert rec.delivered == []
    forwarder.start()
    assert rec.delivered == [signal.SIGUSR2, signal.SIGTERM]
    forwarder(signal.SIGUSR1)
    assert rec.delivered[-1] == signal.SIGUSR1


def test_control_without_hold_early_signals_are_lost() -> None:
    rec = Recorder(running=False)
    forwarder = rec.forwarder()
    forwarder(signal.SIGUSR2)
    rec.is_running = True
    forwarder.start()
    assert rec.delivered == []


def test_the_third_ending_signal_kills() -> None:
    rec = Recorder()
    forwarder = rec.forwarder()
    endings = sorted(ENDING)
    for index in range(KILL_AFTER):
        assert rec.killed == 0
        forwarder(endings[index % len(endings)])
    assert rec.killed == 1
    forwarder(signal.SIGUSR1)  # not an ending one
    assert rec.killed == 1


# -- one launcher: nobody else spawns bwrap or keeps a signal set of their own ---------------


def _sources() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(PACKAGE.parent)): ast.parse(path.read_text())
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_only_the_launcher_spawns_bwrap() -> None:
    spawners = sorted(
        name
        for name, tree in _sources().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "posix_spawn"
    )
    # the probe finds bwrap but does not run it
    assert spawners == ["bwsandbox/runtime/_launcher.py"]


def test_no_other_set_of_forwarded_signals() -> None:
    """A tuple naming SIGINT and SIGTERM together outside the launcher is a second set."""
    found = []
    for name, tree in _sources().items():
        if name.endswith("runtime/_launcher.py"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.Set | ast.List):
                names = {e.attr for e in node.elts if isinstance(e, ast.Attribute)}
                if {"SIGINT", "SIGTERM"} <= names:
                    found.append(name)
    assert found == []


def test_the_launcher_is_import_light() -> None:
    code = "import sys, bwsandbox.runtime._launcher\nprint('\\n'.join(sorted(sys.modules)))"
    modules = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = ("dataclasses", "typing", "bwsandbox.compile", "bwsandbox.policy", "json", "re")
    assert [m for m in modules if m in heavy or m.startswith("bwsandbox.compile.")] == []

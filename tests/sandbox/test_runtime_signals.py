"""Signals reaching the supervisor reach the sandboxed command; the sandbox dies with it.

bwrap's monitor process has no signal handlers: a SIGTERM or a terminal's SIGINT that hit it
would kill it, and ``--die-with-parent`` would then SIGKILL the sandbox before the command saw
anything. The supervisor keeps bwrap in a session of its own and forwards signals instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

SUPERVISOR = """
import json, sys
from bwsandbox.testing import MemoryAudit
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox

box = Sandbox(load_policy(("base",)), project=sys.argv[1], command=sys.argv[2:],
              audit=MemoryAudit(), interactive=False)
box.start()
print(json.dumps({"child": box.child_pid}), flush=True)
code = box.wait()
print(json.dumps({"code": code}), flush=True)
sys.exit(code)
"""


class Supervised:
    """A supervisor process (the library in a child python) running one command."""

    def __init__(self, tmp_path: Path, project: Path, script: str) -> None:
        path = tmp_path / "supervisor.py"
        path.write_text(SUPERVISOR)
        self.proc = subprocess.Popen(
            [sys.executable, str(path), str(project), "sh", "-c", script],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, like a job in a shell
        )
        assert self.proc.stdout is not None
        self.lines: list[str] = []
        first = json.loads(self.proc.stdout.readline())
        self.child: int = first["child"]
        self.expect("ready")

    def expect(self, text: str) -> None:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline().decode()
            assert line, f"EOF before {text!r}; got {self.lines}"
            self.lines.append(line.strip())
            if line.strip() == text:
                return

    def finish(self) -> tuple[int, list[str]]:
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        self.lines += out.decode().split()
        return self.proc.returncode, self.lines


def trap_script(name: str, status: int) -> str:
    return f"trap 'echo got-{name}; exit {status}' {name}; echo ready; while :; do sleep 0.1; done"


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2]
)
def test_signal_to_supervisor_reaches_the_trap(
    tmp_path: Path, project: Path, sig: signal.Signals
) -> None:
    name = sig.name.removeprefix("SIG")
    run = Supervised(tmp_path, project, trap_script(name, 7))
    run.proc.send_signal(sig)
    code, lines = run.finish()
    assert f"got-{name}" in lines
    assert code == 7
    assert '{"code":' in " ".join(lines)


def test_sigterm_ends_a_plain_command_with_143(tmp_path: Path, project: Path) -> None:
    run = Supervised(tmp_path, project, "echo ready; exec sleep 60")
    run.proc.terminate()
    code, _ = run.finish()
    assert code == 128 + signal.SIGTERM


def test_terminal_ctrl_c_to_the_whole_job_reaches_the_command(
    tmp_path: Path, project: Path
) -> None:
    """A terminal sends SIGINT to the foreground process group: supervisor and all it started.

    Without bwrap in a session of its own, its monitor would die of that SIGINT and the
    sandbox would be SIGKILLed: the trap would never run and the status would be 130.
    """
    run = Supervised(tmp_path, project, trap_script("INT", 9))
    os.killpg(run.proc.pid, signal.SIGINT)
    code, lines = run.finish()
    assert "got-INT" in lines
    assert code == 9


def test_sandbox_dies_with_its_supervisor(tmp_path: Path, project: Path) -> None:
    run = Supervised(tmp_path, project, "echo ready; trap '' TERM INT HUP; exec sleep 600")
    assert Path(f"/proc/{run.child}").exists()
    run.proc.kill()
    run.finish()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{run.child}/stat").read_text()
        except OSError:
            break
        if stat[stat.rfind(")") + 2] in "ZX":
            break
        time.sleep(0.02)
    else:
        pytest.fail("the sandbox outlived its supervisor")


def state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2]


def wait_for_state(pids: list[int], wanted: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(state(pid) in wanted for pid in pids):
            return
        time.sleep(0.02)
    pytest.fail(f"processes {pids} never reached state {wanted!r}")


def test_ctrl_z_stops_the_sandbox_and_fg_resumes_it(tmp_path: Path, project: Path) -> None:
    run = Supervised(tmp_path, project, "echo ready; exec sleep 600")
    command = [
        int(p) for p in Path(f"/proc/{run.child}/task/{run.child}/children").read_text().split()
    ]
    assert command
    os.killpg(run.proc.pid, signal.SIGTSTP)  # what a terminal does on Ctrl-Z
    wait_for_state([run.proc.pid, *command], "T")
    os.killpg(run.proc.pid, signal.SIGCONT)  # what the shell's fg does
    wait_for_state([run.proc.pid, *command], "SR")
    run.proc.terminate()
    code, _ = run.finish()
    assert code == 128 + signal.SIGTERM


def test_third_ending_signal_kills_a_command_that_ignores_them(
    tmp_path: Path, project: Path
) -> None:
    script = "trap '' INT TERM HUP; echo ready; while :; do sleep 0.1; done"
    run = Supervised(tmp_path, project, script)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # distinct: never coalesced
        os.killpg(run.proc.pid, sig)
    code, _ = run.finish()
    assert code == 128 + signal.SIGKILL

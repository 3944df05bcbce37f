"""Every path that waits on a sandboxed command forwards the same signals, the same way.

The set and the rules are the launcher's (``runtime._launcher.FORWARDED`` and ``Forwarder``);
this runs each path with a real sandbox and sends each signal to the ``agent-sandbox``
process itself (only it, not its process group, so nothing reaches the command except
through the forwarding):

- ``runtime``: ``agent-sandbox run`` without the plan cache (``Sandbox`` and its supervisor);
- ``cached``: the same command line a second time, a plan-cache hit (the fast path);
- ``exec``: ``agent-sandbox exec`` into a running sandbox.

The control: a signal outside the set (SIGALRM) is not forwarded; it ends the
``agent-sandbox`` process and the command never sees it.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bwsandbox.runtime._launcher import FORWARDED
from bwsandbox.runtime._registry import list_sessions
from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

PATHS = ("runtime", "cached", "exec")
#: each signal the command traps; SIGTSTP is tested on its own (it stops, not ends)
TRAPPED = [signal.Signals(sig) for sig in FORWARDED if sig != signal.SIGTSTP]
#: runs the trap only when the project holds ``go``: the first, cache-filling run ends at once
SCRIPT = (
    "[ -e go ] || exit 0; "
    'for s in {names}; do trap "echo got-$s; exit 7" $s; done; '
    "echo ready; while :; do sleep 0.05; echo tick; done"
)
FIRST = "echo ready > first.ready; exec sleep 600"

#: ``launch(path, script)``: the ``agent-sandbox`` process running ``sh -c script`` that way
Launch = Callable[[str, str], "Launched"]


class Launched:
    """One ``agent-sandbox`` process whose stdout is a pipe read line by line."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.out = self.proc.stdout.fileno()
        self.buffer = b""
        self.lines: list[str] = []
        self._stderr: str | None = None

    def read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at EOF."""
        if not select.select([self.out], [], [], timeout)[0]:
            return True
        chunk = os.read(self.out, 65536)
        self.buffer += chunk
        *done, self.buffer = self.buffer.split(b"\n")
        self.lines += [line.decode() for line in done]
        return bool(chunk)

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.lines:
            if time.monotonic() > deadline or not self.read(0.1):
                self.kill()
                pytest.fail(f"no {text!r} from {self.proc.args!r}: {self.lines} {self.stderr()}")

    def ticks(self, seconds: float) -> int:
        """How many ``tick`` lines arrive within ``seconds``."""
        before = self.lines.count("tick")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.read(0.05):
            pass
        return self.lines.count("tick") - before

    def finish(self, timeout: float = 30.0) -> int:
        """Read to EOF and reap (the process is killed and the test fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self.read(0.5):
            if time.monotonic() > deadline:
                self.kill()
                tail = self.lines[-5:]
                pytest.fail(f"{self.proc.args!r} still running after {timeout} s: ...{tail}")
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        if self._stderr is None:
            assert self.proc.stderr is not None
            self._stderr = self.proc.stderr.read().decode(errors="replace")
        return self._stderr

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _handles(pid: int, sig: int) -> None:
    """Wait until ``pid`` catches ``sig``. Only the runtime path needs it: its supervisor
    routes signals from its wait on, a moment after the release (a library user keeps their
    own handlers until then); exec and the cached path catch them before the command can run,
    so their tests send at once."""
    deadline = time.monotonic() + 10
    while True:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(next(x for x in status.splitlines() if x.startswith("SigCgt:")).split()[1], 16)
        if caught >> (sig - 1) & 1:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} never caught signal {sig}")
        time.sleep(0.01)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait_state(pid: int, wanted: str) -> None:
    deadline = time.monotonic() + 10
    while _state(pid) not in wanted:
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} never reached state {wanted!r}")
        time.sleep(0.02)


@pytest.fixture
def launch(cli: Cli, project: Path) -> Iterator[Launch]:
    """``launch(path, script)``: the ``agent-sandbox`` process running ``sh -c script``."""
    started: list[Launched] = []

    def start(path: str, script: str) -> Launched:
        env = dict(cli.env)
        env.pop("AGENT_SANDBOX_PLAN_CACHE", None)
        command = ["sh", "-c", script]
        if path == "runtime":
            env["AGENT_SANDBOX_PLAN_CACHE"] = "0"
            argv = [*cli.command, "run", "--", *command]
        elif path == "cached":
            argv = [*cli.command, "run", "--", *command]
            env["PYTHONPROFILEIMPORTTIME"] = "1"  # to tell the cache hit; part of the key
            (project / "go").unlink(missing_ok=True)
            filled = subprocess.run(argv, env=env, cwd=project, capture_output=True, check=False)
            assert filled.returncode == 0, filled.stderr
        else:
            first = Launched([*cli.command, "run", "--", "sh", "-c", FIRST], env, project)
            started.append(first)
            deadline = time.monotonic() + 30
            while not (list_sessions(str(cli.runtime_dir)) and (project / "first.ready").exists()):
                assert time.monotonic() < deadline, "the sandbox to exec into never came up"
                time.sleep(0.02)
            session = list_sessions(str(cli.runtime_dir))[-1]
            argv = [*cli.command, "exec", session.id, "--", *command]
        (project / "go").write_text("")
        launched = Launched(argv, env, project)
        started.append(launched)
        return launched

    yield start
    for launched in reversed(started):
        launched.kill()


def _hit(launched: Launched) -> None:
    """The cached row really took the fast path (never the policy loader)."""
    text = launched.stderr()
    assert "bwsandbox.cli._fastlaunch" in text, text[-2000:]
    assert "bwsandbox.cli._resolve" not in text


@pytest.mark.parametrize("sig", TRAPPED, ids=[s.name for s in TRAPPED])
@pytest.mark.parametrize("path", PATHS)
def test_every_path_forwards_the_signal(launch: Launch, path: str, sig: signal.Signals) -> None:
    names = " ".join(s.name.removeprefix("SIG") for s in TRAPPED)
    run = launch(path, SCRIPT.format(names=names))
    run.expect("ready")
    if path == "runtime":
        _handles(run.proc.pid, sig)
    os.kill(run.proc.pid, sig)  # the agent-sandbox process only, not its group
    code = run.finish()
    assert f"got-{sig.name.removeprefix('SIG')}" in run.lines, (run.lines, run.stderr())
    assert code == 7, run.stderr()
    if path == "cached":
        _hit(run)


@pytest.mark.parametrize("path", PATHS)
def test_every_path_stops_and_resumes_the_command_on_sigtstp(launch: Launch, path: str) -> None:
    run = launch(path, SCRIPT.format(names="TERM"))
    run.expect("ready")
    assert run.ticks(0.3) > 0
    if path == "runtime":
        _handles(run.proc.pid, signal.SIGTSTP)
    os.kill(run.proc.pid, signal.SIGTSTP)  # Ctrl-Z without a private pty
    _wait_state(run.proc.pid, "T")
    run.ticks(0.2)  # what was written before the stop
    assert run.ticks(0.5) == 0, "the command kept running while agent-sandbox was stopped"
    os.kill(run.proc.pid, signal.SIGCONT)  # the shell's fg
    assert run.ticks(1.0) > 0, "the command was not resumed"
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.finish() == 7
    if path == "cached":
        _hit(run)


@pytest.mark.parametrize("path", PATHS)
def test_control_a_signal_outside_the_set_is_not_forwarded(launch: Launch, path: str) -> None:
    run = launch(path, SCRIPT.format(names="ALRM"))
    run.expect("ready")
    os.kill(run.proc.pid, signal.SIGALRM)
    code = run.finish()
    assert "got-ALRM" not in run.lines
    assert code == -signal.SIGALRM

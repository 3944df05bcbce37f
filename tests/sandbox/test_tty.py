"""Interactive sessions through a private pty, and terminal injection (TIOCSTI) attacks.

The test plays the user's terminal: it opens a pty, runs a supervisor (the library in a child
python) with the pty's slave as its controlling terminal, and types into the master.
``/proc/sys/dev/tty/legacy_tiocsti`` is 1 on the project's machines, so the kernel does not
block TIOCSTI for us: only the runtime's design does.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

SUPERVISOR = """
import sys
from bwsandbox.testing import MemoryAudit
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox

interactive = {"auto": None, "yes": True, "no": False}[sys.argv[2]]
box = Sandbox(load_policy(("base",)), project=sys.argv[1], command=sys.argv[3:],
              audit=MemoryAudit(), interactive=interactive)
box.start()
code = box.wait()
sys.stdout.write(f"\\r\\nSUPERVISOR-EXIT={code}\\r\\n")
sys.exit(code)
"""

INJECT = """
import fcntl, json, os, termios
text = b"echo INJECTED\\n"
def inject(fd):
    try:
        for byte in text:
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([byte]))
        return "ok"
    except OSError as exc:
        return os.strerror(exc.errno)
devices = {}
for name in os.listdir("/proc/self/fd"):
    try:
        devices[name] = os.stat(f"/proc/self/fd/{name}").st_rdev
    except OSError:
        pass
try:
    tty = os.open("/dev/tty", os.O_RDWR)
    devices["/dev/tty"] = os.fstat(tty).st_rdev
    result = {"fd0": inject(0), "dev_tty": inject(tty)}
except OSError as exc:
    result = {"fd0": inject(0), "dev_tty": "open: " + os.strerror(exc.errno)}
print("RESULT " + json.dumps({"devices": devices, **result}), flush=True)
"""

SETSID = shutil.which("setsid") or "setsid"


class Terminal:
    """The user's terminal: a pty whose slave is the supervisor's controlling terminal."""

    def __init__(self, tmp_path: Path, project: Path, mode: str, *command: str) -> None:
        script = tmp_path / "supervisor.py"
        script.write_text(SUPERVISOR)
        self.master, self.slave = os.openpty()
        self.resize(24, 80)
        self.output = b""
        # setsid --ctty: a new session whose controlling terminal is the slave (stdin)
        self.proc = subprocess.Popen(
            [SETSID, "--ctty", "--wait", sys.executable, str(script), str(project), mode, *command],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
        )

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, text: bytes, patience: float = 15.0) -> bytes:
        """Read until ``text`` shows up; returns everything read so far."""
        deadline = time.monotonic() + patience
        while text not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"{text!r} never came; output so far: {self.output!r}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    pytest.fail(f"terminal closed before {text!r}: {self.output!r}")
                self.output += chunk
        return self.output

    def wait(self) -> int:
        self.expect(b"SUPERVISOR-EXIT=")
        return self.proc.wait(timeout=30)

    def pending_input(self) -> int:
        """Bytes waiting in the user's terminal input queue (what TIOCSTI would leave)."""
        buf = fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", buf)[0])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


StartTerminal = Callable[..., Terminal]


@pytest.fixture
def terminals(tmp_path: Path, project: Path) -> Iterator[StartTerminal]:
    opened: list[Terminal] = []

    def start(mode: str, *command: str) -> Terminal:
        term = Terminal(tmp_path, project, mode, *command)
        opened.append(term)
        return term

    yield start
    for term in opened:
        term.close()


def test_interactive_shell_session(terminals: StartTerminal) -> None:
    term = terminals("auto", "sh", "-i")
    term.expect(b"$ ")
    term.type(b"echo $((6*7)); tty; stty size\n")
    out = term.expect(b"24 80")
    assert b"42" in out
    assert b"not a tty" not in out
    # job control: a foreground job gets Ctrl-C, the shell survives
    term.type(b"sleep 30; echo after-sleep $?\n")
    time.sleep(0.3)
    term.type(b"\x03")
    term.type(b"echo alive\n")
    term.expect(b"alive\r\n")
    # window size changes reach the sandbox
    term.resize(40, 132)
    term.proc.send_signal(signal.SIGWINCH)
    term.type(b"stty size\n")
    term.expect(b"40 132")
    term.type(b"exit 3\n")
    assert term.wait() == 3
    assert b"SUPERVISOR-EXIT=3" in term.output


def test_ctrl_c_interrupts_a_program_without_killing_the_sandbox(terminals: StartTerminal) -> None:
    """Python's REPL is not a job-control shell: Ctrl-C must reach it, not bwrap's monitor."""
    term = terminals("auto", "python3", "-i", "-q")
    term.expect(b">>> ")
    term.type(b"import time; time.sleep(30)\n")
    time.sleep(0.3)
    term.type(b"\x03")
    term.expect(b"KeyboardInterrupt")
    term.type(b"print(6 * 7)\n")
    term.expect(b"42")
    term.type(b"raise SystemExit(5)\n")
    assert term.wait() == 5


def test_host_terminal_mode_is_restored(terminals: StartTerminal) -> None:
    term = terminals("auto", "sh", "-c", "exit 0")
    before = termios.tcgetattr(term.slave)
    assert term.wait() == 0
    assert termios.tcgetattr(term.slave) == before


def test_tiocsti_in_an_interactive_session_stays_in_the_sandbox_pty(
    terminals: StartTerminal,
) -> None:
    term = terminals("auto", "python3", "-c", INJECT)
    host_device = os.fstat(term.slave).st_rdev
    out = term.expect(b"SUPERVISOR-EXIT=")
    line = next(x for x in out.decode().splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    # the sandbox holds no fd to the user's terminal, and its /dev/tty is its private pty
    assert host_device not in result["devices"].values()
    # the syscall filter refuses TIOCSTI even on its own pty (docs/seccomp.md); before the
    # filter, it could inject into its own pty only
    assert result["fd0"] == os.strerror(errno.EPERM)
    assert term.proc.wait(timeout=30) == 0
    assert term.pending_input() == 0


def test_tiocsti_without_a_pty_cannot_reach_the_terminal(terminals: StartTerminal) -> None:
    """Not interactive: the command inherits the terminal as stdin, but in a new session."""
    term = terminals("no", "python3", "-c", INJECT)
    out = term.expect(b"SUPERVISOR-EXIT=")
    line = next(x for x in out.decode().splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["fd0"] != "ok"
    assert result["dev_tty"] != "ok"
    assert term.proc.wait(timeout=30) == 0
    assert term.pending_input() == 0


def test_positive_control_tiocsti_works_without_the_defences(tmp_path: Path) -> None:
    """The same attack from bwrap without --new-session or a pty does reach the terminal."""
    master, slave = os.openpty()
    try:
        proc = subprocess.run(
            [
                SETSID,
                "--ctty",
                "--wait",
                shutil.which("bwrap") or "bwrap",
                "--unshare-all",
                "--die-with-parent",
                "--ro-bind",
                "/",
                "/",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--cap-drop",
                "ALL",
                sys.executable,
                "-c",
                INJECT,
            ],
            stdin=slave,
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert b'"fd0": "ok"' in proc.stdout, proc.stderr
        pending = fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0")
        assert struct.unpack("i", pending)[0] > 0
    finally:
        os.close(master)
        os.close(slave)

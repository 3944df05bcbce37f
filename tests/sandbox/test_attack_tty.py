"""Attack: terminal injection (TIOCSTI) into the terminal agent-sandbox was started from.

The test owns a pty and makes it the controlling terminal of the ``agent-sandbox`` process
(stdin and stdout are pipes, stderr is the pty). From inside, the attacker pushes ``INJECTED``
into the input queue of every terminal it can reach. Whatever got injected would be read by the
user's shell after the sandbox exits; the test reads the queue itself. Control: the same code
run on the host with that controlling terminal does inject (``dev.tty.legacy_tiocsti`` = 1).

The defence is the runtime's: bwrap always starts in a session of its own (``setsid``), and an
interactive sandbox gets a private pty; the policy's ``hardening.new_session`` adds bwrap's
``--new-session`` on top.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

# Runs its arguments in a new session whose controlling terminal is fd 2.
WITH_CTTY = (
    "import fcntl, os, sys, termios\n"
    "os.setsid()\n"
    "fcntl.ioctl(2, termios.TIOCSCTTY, 0)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)

ATTACK = (
    "import fcntl, os, termios\n"
    "fds = [0, 1, 2]\n"
    "try:\n"
    "    fds.append(os.open('/dev/tty', os.O_RDWR))\n"
    "except OSError as exc:\n"
    "    print('no controlling tty', exc.errno)\n"
    "for fd in fds:\n"
    "    try:\n"
    "        for ch in b'INJECTED\\n':\n"
    "            fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))\n"
    "        print('injected via fd', fd)\n"
    "    except OSError as exc:\n"
    "        print('blocked fd', fd, exc.errno)\n"
)


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no line discipline: injected bytes are readable at once
    yield master, slave
    os.close(master)
    os.close(slave)


def _pending_input(slave: int) -> bytes:
    os.set_blocking(slave, False)
    try:
        return os.read(slave, 4096)
    except BlockingIOError:
        return b""


def _run_with_ctty(argv: list[str], slave: int, env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", WITH_CTTY, *argv],
        input=b"",
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    return f"exit {proc.returncode}\n{proc.stdout.decode(errors='replace')}"


def test_tiocsti_cannot_reach_the_invoking_terminal(
    cli: Cli, project: Path, pty_pair: tuple[int, int]
) -> None:
    _, slave = pty_pair
    argv = [*cli.command, "run", "--project", str(project), "--"]
    output = _run_with_ctty([*argv, "python3", "-c", ATTACK], slave, cli.env, project)
    assert "exit 0" in output, output
    assert "injected" not in output, output
    assert _pending_input(slave) == b"", output


def test_tiocsti_control_injects_on_the_host(
    cli: Cli, project: Path, pty_pair: tuple[int, int]
) -> None:
    if Path("/proc/sys/dev/tty/legacy_tiocsti").read_text().strip() == "0":
        pytest.skip("the kernel forbids TIOCSTI for everyone (dev.tty.legacy_tiocsti = 0)")
    _, slave = pty_pair
    output = _run_with_ctty([sys.executable, "-c", ATTACK], slave, cli.env, project)
    assert "injected via fd 2" in output, output
    assert b"INJECTED" in _pending_input(slave)

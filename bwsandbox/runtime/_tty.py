"""A private pty for interactive sandboxes, and the host terminal's raw mode.

The sandbox never holds the host terminal: its stdin/stdout/stderr are the slave of a pty the
supervisor opened, and the supervisor relays bytes between that pty's master and the host
terminal (put in raw mode, restored on every exit path). ``TIOCSTI`` inside can only inject
into the sandbox's own pty.

What the sandbox writes reaches the host terminal through the terminal filter
(:mod:`bwsandbox.runtime._termfilter`, the relay's ``clean``); a non-interactive session whose
stdout or stderr is a terminal writes to an output-only pty (:func:`open_output_pty`) for the
same reason, and still sees a terminal.

Inside, ``setsid --ctty`` (util-linux) makes the slave the controlling terminal of a new
session led by the command, so Ctrl-C and job control act on the command's process group and
never on bwrap's monitor (which would take the whole sandbox down with it).
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the start-up path

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import termios
from collections.abc import Callable

from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HostTerminal", "Pty", "open_output_pty", "open_pty"]

_TIOCGSID = getattr(termios, "TIOCGSID", 0x5429)
_WINSIZE = struct.Struct("HHHH")


def _copy_winsize(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * _WINSIZE.size)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def _make_raw(mode: list[Any]) -> list[Any]:
    """cfmakeraw on a tcgetattr list (a copy)."""
    new = list(mode)
    iflag, oflag, cflag, lflag = (int(x) for x in new[:4])
    iflag &= ~(
        termios.IGNBRK
        | termios.BRKINT
        | termios.PARMRK
        | termios.ISTRIP
        | termios.INLCR
        | termios.IGNCR
        | termios.ICRNL
        | termios.IXON
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag = (cflag & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    new[:4] = [iflag, oflag, cflag, lflag]
    cc = list(new[6])
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    new[6] = cc
    return new


@record(frozen=False)
class HostTerminal:
    """The host's terminal (stdin/stdout ttys): raw mode on entry, restored by :meth:`restore`."""

    in_fd: int
    out_fd: int
    saved: list[Any] | None = None

    def enter_raw(self) -> None:
        self.saved = termios.tcgetattr(self.in_fd)
        termios.tcsetattr(self.in_fd, termios.TCSADRAIN, _make_raw(self.saved))

    def restore(self) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.in_fd, termios.TCSADRAIN, self.saved)
            self.saved = None


@record(frozen=False)
class Pty:
    """The sandbox's private pty: we keep the master; the slave goes to bwrap."""

    master: int
    slave: int
    slave_path: str
    host: HostTerminal | None = None
    #: called with (columns, rows) after each size change (a recorder's ``resize``)
    on_resize: Callable[[int, int], None] | None = None

    def sync_winsize(self) -> None:
        """Give the sandbox the host terminal's size (the kernel then sends it SIGWINCH)."""
        if self.host is not None:
            _copy_winsize(self.host.out_fd, self.master)
            if self.on_resize is not None:
                cols, rows = self.size()
                self.on_resize(cols, rows)

    def size(self) -> tuple[int, int]:
        """(columns, rows) of the sandbox's terminal; (0, 0) when unknown."""
        try:
            size = fcntl.ioctl(self.master, termios.TIOCGWINSZ, b"\0" * _WINSIZE.size)
        except OSError:
            return (0, 0)
        rows, cols, _, _ = _WINSIZE.unpack(size)
        return (cols, rows)

    def close_slave(self) -> None:
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def close(self) -> None:
        self.close_slave()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def session_groups(self) -> list[int]:
        """Process groups to signal on the sandbox's behalf: its session and foreground job."""
        groups: list[int] = []
        try:
            buf = fcntl.ioctl(self.master, _TIOCGSID, b"\0" * 4)
            groups.append(struct.unpack("i", buf)[0])
        except OSError:
            pass
        with contextlib.suppress(OSError):
            groups.append(os.tcgetpgrp(self.master))
        return list(dict.fromkeys(g for g in groups if g > 1))


def open_pty(host: HostTerminal | None) -> Pty:
    """A new pty whose slave mirrors the host terminal's modes and size."""
    master, slave = os.openpty()
    if host is not None:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(host.in_fd))
    pty = Pty(master=master, slave=slave, slave_path=os.ttyname(slave), host=host)
    pty.sync_winsize()
    os.set_blocking(master, False)
    return pty


def open_output_pty(out_fd: int) -> Pty:
    """A pty for output only (a non-interactive session writing to the terminal ``out_fd``):
    the command still sees a terminal on stdout/stderr, and what it writes reaches the user's
    terminal through the supervisor's relay (and the terminal filter)."""
    master, slave = os.openpty()
    with contextlib.suppress(termios.error):
        termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(out_fd))
    _copy_winsize(out_fd, master)
    os.set_blocking(master, False)
    return Pty(master=master, slave=slave, slave_path="")

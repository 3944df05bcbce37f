"""The terminal side of ``exec``: a private pty relayed to the host terminal.

Like the first process of an interactive sandbox, a command run by ``exec`` from a terminal
never holds the host's terminal: it gets the slave of a new pty as its controlling terminal
(TIOCSTI and job control stay inside), and the caller relays bytes between that pty's master
and the host terminal, which is in raw mode meanwhile (restored by the caller). What the
command writes goes through the terminal filter (:mod:`bwsandbox.runtime._termfilter`), as
in the session itself.
"""

from __future__ import annotations

import os
import select
import termios
from collections.abc import Callable

from bwsandbox.runtime._tty import HostTerminal, Pty, open_pty

__all__ = ["OutputPty", "open_exec_pty", "open_output_ptys", "relay", "relay_output"]


def open_exec_pty(stdio: tuple[int, int, int]) -> Pty | None:
    """A private pty when stdin and stdout are terminals: the host's never goes inside."""
    if not (os.isatty(stdio[0]) and os.isatty(stdio[1])):
        return None
    host = HostTerminal(stdio[0], stdio[1])
    pty = open_pty(host)
    try:
        host.enter_raw()
    except termios.error:
        pty.host = None
    return pty


def relay(
    pty: Pty, in_fd: int, out_fd: int, report_r: int, on_report: Callable[[bytes], None]
) -> None:
    """Host terminal <-> the pty's master until the helper is done (the command exited)."""
    from bwsandbox.runtime._termfilter import TermFilter

    clean = TermFilter().feed
    sources = [report_r, pty.master, in_fd]
    while report_r in sources:
        try:
            ready = select.select(sources, [], [])[0]
        except InterruptedError:
            continue
        for fd in ready:
            data = _read(fd)
            if data is None:
                continue
            if not data:
                sources.remove(fd)
            elif fd == report_r:
                on_report(data)
            elif fd == pty.master:
                _write_all(out_fd, clean(data))
            else:
                _write_all(pty.master, data)
    while pty.master in sources:  # what the command wrote last
        try:
            data = os.read(pty.master, 65536)
        except OSError:
            break
        if not data:
            break
        _write_all(out_fd, clean(data))


class OutputPty:
    """An output-only pty for a non-interactive ``exec`` writing to the terminal ``target``:
    the command still sees a terminal, and its bytes go through the filter on the way."""

    __slots__ = ("clean", "pty", "target")

    def __init__(self, target: int) -> None:
        from bwsandbox.runtime._termfilter import TermFilter
        from bwsandbox.runtime._tty import open_output_pty

        self.pty, self.target = open_output_pty(target), target
        self.clean = TermFilter().feed

    @property
    def master(self) -> int:
        return self.pty.master

    @property
    def slave(self) -> int:
        return self.pty.slave

    def close_slave(self) -> None:
        self.pty.close_slave()

    def close(self) -> None:
        self.pty.close()


def open_output_ptys(
    stdio: tuple[int, int, int],
) -> tuple[tuple[int, int, int], list[OutputPty]]:
    """The stdio for a command without a pty: stdout and stderr that are terminals replaced
    by output ptys (one for both when they are the same), and those ptys."""
    stdin, out, err = stdio
    try:
        same = os.path.samestat(os.fstat(out), os.fstat(err))
    except OSError:
        same = False
    ptys: list[OutputPty] = []
    ends = []
    for target in (out,) if same else (out, err):
        if os.isatty(target):
            pty = OutputPty(target)
            ptys.append(pty)
            ends.append(pty.slave)
        else:
            ends.append(target)
    new_out, new_err = (ends[0], ends[0]) if same else (ends[0], ends[1])
    return (stdin, new_out, new_err), ptys


def relay_output(ptys: list[OutputPty], report_r: int, on_report: Callable[[bytes], None]) -> None:
    """The helper's reports, and the output ptys to their terminals (filtered), until the
    helper is done and the command's last bytes are out."""
    masters = {pty.master: pty for pty in ptys}
    sources = [report_r, *masters]
    while sources:
        try:
            ready = select.select(sources, [], [], None if report_r in sources else 0.2)[0]
        except InterruptedError:
            continue
        if not ready:  # the helper is gone and the output has gone quiet
            return
        for fd in ready:
            data = _read(fd)
            if data is None:
                continue
            if not data:
                sources.remove(fd)
            elif fd == report_r:
                on_report(data)
            else:
                pty = masters[fd]
                _write_all(pty.target, pty.clean(data))


def _read(fd: int) -> bytes | None:
    """A chunk from ``fd``; ``b""`` at its end (EIO: every pty slave closed), None: not yet."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])

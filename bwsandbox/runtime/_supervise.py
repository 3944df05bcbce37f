"""Supervise a running bwrap: relay bytes, forward signals, wait, stop.

One ``poll`` loop watches bwrap's pidfd, a signal wakeup pipe and the byte relays (pty master
and host terminal, or capture pipes). No threads, no asyncio.

Signals the supervisor receives go to the sandbox, not to bwrap's monitor (which has no
handlers and would die, taking the sandbox down with SIGKILL): to the controlling session and
foreground job of the private pty in interactive mode, else to the process group of the
sandbox's pid 1 (bwrap's ``--new-session`` makes it a group leader; pid 1 of a pid namespace
ignores signals it has no handler for, so the command gets them). SIGWINCH resizes the pty;
SIGTSTP (Ctrl-Z without a pty) stops the sandbox and the supervisor, and ``fg`` resumes both.
The third INT/TERM/HUP/QUIT kills the sandbox even if the command ignores them. The set of
signals and what each one does are the launcher's (:class:`~._launcher.Forwarder`), the same
for every path that waits on a sandbox.
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the start-up path

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import time
from collections.abc import Callable, Iterator

from bwsandbox.runtime._launcher import (
    FORWARDED,
    KILL_AFTER,
    Forwarder,
    deliver_to_group,
    exit_code,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bwsandbox.runtime._launcher import BwrapProcess
    from bwsandbox.runtime._tty import Pty

__all__ = ["FORWARDED", "KILL_AFTER", "Relay", "Supervisor", "exit_code"]

_Handler = Callable[[int], None]
_CHUNK = 65536
_LIMIT = 1 << 20
_DRAIN_QUIET = 0.2  # seconds without output after exit before relays are abandoned


class Relay:
    """Bytes from ``src`` (or a fixed ``buf``) to ``dst`` (or into ``sink``).

    A resource, not a value: a plain slotted class (a dataclass costs import time).
    """

    __slots__ = (
        "buf",
        "clean",
        "close_dst",
        "close_src",
        "dst",
        "from_sandbox",
        "sink",
        "src",
        "tap",
    )

    def __init__(
        self,
        src: int | None,
        *,
        dst: int | None = None,
        sink: bytearray | None = None,
        buf: bytearray | None = None,
        close_src: bool = False,  # we own src: close it at EOF
        close_dst: bool = False,  # we own dst: close it when src is done and buf empty
        from_sandbox: bool = False,  # output of the sandbox: drained after exit
        tap: Callable[[bytes], None] | None = None,  # sees every chunk read (a recorder)
        clean: Callable[[bytes], bytes] | None = None,  # what passes (the terminal filter)
    ) -> None:
        self.src = src
        self.dst = dst
        self.sink = sink
        self.buf = bytearray() if buf is None else buf
        self.close_src = close_src
        self.close_dst = close_dst
        self.from_sandbox = from_sandbox
        self.tap = tap
        self.clean = clean

    @property
    def done(self) -> bool:
        return self.src is None and not self.buf

    def read(self) -> None:
        assert self.src is not None
        try:
            data = os.read(self.src, _CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EIO: the pty's last slave fd closed
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._end_src()
            return
        if self.tap is not None:
            self.tap(data)
        if self.clean is not None:
            data = self.clean(data)
        if self.sink is not None:
            self.sink += data
        else:
            self.buf += data

    def write(self) -> None:
        assert self.dst is not None
        try:
            written = os.write(self.dst, self.buf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EPIPE / EIO: the reader went away
            if exc.errno not in (errno.EPIPE, errno.EIO):
                raise
            self.buf.clear()
            self._end_src()
            self._end_dst()
            return
        del self.buf[:written]

    def finish(self) -> None:
        if self.done and self.close_dst:
            self._end_dst()

    def close(self) -> None:
        """Close whatever this relay owns, done or not."""
        self.buf.clear()
        self._end_src()
        self._end_dst()

    def _end_src(self) -> None:
        if self.src is not None and self.close_src:
            os.close(self.src)
        self.src = None

    def _end_dst(self) -> None:
        if self.dst is not None and self.close_dst:
            os.close(self.dst)
        self.dst = None
        self.close_dst = False


@contextlib.contextmanager
def _signals_to_pipe() -> Iterator[int | None]:
    """Route FORWARDED signals to a pipe while inside (main thread only; else None)."""
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous: dict[int, Any] = {}
    try:
        old_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except ValueError:  # not the main thread: no forwarding
        os.close(read_end)
        os.close(write_end)
        yield None
        return
    try:
        for sig in FORWARDED:
            previous[sig] = signal.signal(sig, _ignore_in_python)
        yield read_end
    finally:
        for restore, handler in previous.items():
            signal.signal(restore, handler)
        signal.set_wakeup_fd(old_wakeup)
        os.close(read_end)
        os.close(write_end)


def _ignore_in_python(signum: int, frame: object) -> None:
    """The wakeup pipe carries the signal; the Python-level handler has nothing to do."""


class Supervisor:
    """Runs the poll loop for one bwrap process until it exits (or a timeout)."""

    def __init__(
        self,
        process: BwrapProcess,
        *,
        pty: Pty | None = None,
        relays: list[Relay] | None = None,
        forward_signals: bool = True,
    ) -> None:
        self.process = process
        self.pty = pty
        self.relays = relays or []
        self.forward_signals = forward_signals
        self.forwarder = Forwarder(
            self._deliver,
            running=lambda: self.process.running,
            kill=lambda: self.process.kill(signal.SIGKILL),
            resize=None if pty is None else pty.sync_winsize,
            tty=pty is not None,
        )

    @property
    def received(self) -> list[int]:
        """The forwarded signals received so far."""
        return self.forwarder.received

    def close(self) -> None:
        """Close the relay fds we own (those not closed at EOF already)."""
        for relay in self.relays:
            relay.close()

    # -- signals -------------------------------------------------------------------------

    def signal_sandbox(self, sig: int) -> None:
        """Deliver ``sig`` to the sandboxed command now (``stop``, the timeout)."""
        if self.process.running:
            self._deliver(sig)

    def _deliver(self, sig: int) -> None:
        own = os.getpgrp()
        groups = self.pty.session_groups() if self.pty is not None else []
        groups = [g for g in groups if g not in (own, self.process.pid)]
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
        if not groups:
            deliver_to_group(self.process.child_pid, (self.process.pid,), sig)

    # -- the loop ------------------------------------------------------------------------

    def run(self, timeout: float | None = None) -> int:
        """Relay and forward until bwrap exits; its exit code. TimeoutError on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.forward_signals:
            return self._loop(None, deadline)
        with _signals_to_pipe() as wakeup:
            return self._loop(wakeup, deadline)

    def _loop(self, wakeup: int | None, deadline: float | None) -> int:
        poller = select.poll()
        while self.process.poll() is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("the sandbox is still running")
            handlers = self._register(poller, wakeup)
            ms = None if remaining is None else max(1, int(remaining * 1000))
            for fd, revents in poller.poll(ms):
                handlers[fd](revents)
            self._unregister(poller, handlers)
        self._drain(poller)
        return exit_code(self.process.wait())

    def _drain(self, poller: select.poll) -> None:
        """After exit: relay what the sandbox wrote until EOF or a quiet spell."""
        while any(r.from_sandbox and not r.done for r in self.relays):
            handlers = self._register(poller, None)
            events = poller.poll(int(_DRAIN_QUIET * 1000))
            for fd, revents in events:
                handlers[fd](revents)
            self._unregister(poller, handlers)
            if not events:
                break
        for relay in self.relays:
            if relay.buf and relay.dst is not None:
                with contextlib.suppress(OSError):
                    os.set_blocking(relay.dst, True)
                    relay.write()

    def _register(self, poller: select.poll, wakeup: int | None) -> dict[int, _Handler]:
        masks: dict[int, int] = {self.process.pidfd: select.POLLIN}
        calls: dict[int, list[_Handler]] = {self.process.pidfd: []}
        if wakeup is not None:
            masks[wakeup] = select.POLLIN
            calls[wakeup] = [lambda _revents: self._on_signals(wakeup)]
        for relay in self.relays:
            relay.finish()
            if relay.src is not None and len(relay.buf) < _LIMIT:
                masks[relay.src] = masks.get(relay.src, 0) | select.POLLIN
                calls.setdefault(relay.src, []).append(_reader(relay))
            if relay.buf and relay.dst is not None:
                masks[relay.dst] = masks.get(relay.dst, 0) | select.POLLOUT
                calls.setdefault(relay.dst, []).append(_writer(relay))
        handlers: dict[int, _Handler] = {}
        for fd, mask in masks.items():
            poller.register(fd, mask)
            handlers[fd] = _fan_out(calls[fd])
        return handlers

    @staticmethod
    def _unregister(poller: select.poll, handlers: dict[int, _Handler]) -> None:
        for fd in handlers:
            poller.unregister(fd)

    def _on_signals(self, wakeup: int) -> None:
        try:
            data = os.read(wakeup, 256)
        except BlockingIOError:
            return
        for signum in data:
            self.forwarder(signum)


_IN = select.POLLIN | select.POLLHUP | select.POLLERR
_OUT = select.POLLOUT | select.POLLERR


def _reader(relay: Relay) -> _Handler:
    def handle(revents: int) -> None:
        if revents & _IN and relay.src is not None:
            relay.read()

    return handle


def _writer(relay: Relay) -> _Handler:
    def handle(revents: int) -> None:
        if revents & _OUT and relay.buf and relay.dst is not None:
            relay.write()

    return handle


def _fan_out(calls: list[_Handler]) -> _Handler:
    def handle(revents: int) -> None:
        for call in calls:
            call(revents)

    return handle

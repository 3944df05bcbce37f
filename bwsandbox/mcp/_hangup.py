"""Notice that the MCP client closed the server's stdin, without reading a byte of it.

The server's stdin is the client's pipe (or socketpair), passed to the sandbox unchanged. The
supervisor keeps its own copy of fd 0 and only ``poll``s it for a hang-up: ``POLLHUP`` when a
pipe has no writer left, ``POLLRDHUP`` when a socket's peer shut down its writing side (Node's
``child.stdin.end()``), ``POLLERR``. ``POLLIN`` is never asked for, so pending requests are
neither consumed nor spin the poll. A regular file, ``/dev/null`` or a terminal never reports
a hang-up this way; the server then sees EOF itself.

After a hang-up, the server has :data:`EOF_GRACE` seconds to exit by itself (MCP servers
normally do at EOF); then the watch sends ``SIGTERM`` to this process, once per grace period.
The supervisor's own handler forwards each one to the sandbox, and its third ends the
sandbox with ``SIGKILL`` (``runtime._supervise``). A daemon thread: it only polls, sleeps and
signals, and dies with the process.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import threading
from collections.abc import Callable

__all__ = ["EOF_GRACE", "HangupWatch", "stdin_hung_up"]

#: seconds a server may take to exit after its client closed stdin
EOF_GRACE = 3.0

_HANGUP = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)


def stdin_hung_up(fd: int = 0, timeout: float | None = 0.0) -> bool:
    """True when ``fd``'s writer is gone (pipe) or shut down its side (socket)."""
    poller = select.poll()
    poller.register(fd, getattr(select, "POLLRDHUP", 0))
    ms = None if timeout is None else int(timeout * 1000)
    try:
        events = poller.poll(ms)
    except InterruptedError:  # pragma: no cover - PEP 475 retries
        return False
    if any(revents & select.POLLNVAL for _, revents in events):
        raise OSError(errno.EBADF, f"fd {fd} is not open")
    return any(revents & _HANGUP for _, revents in events)


class HangupWatch:
    """Wait for the client to close ``fd``; after ``grace`` seconds, ``terminate()``.

    ``terminate`` defaults to sending ``SIGTERM`` to this process (the supervisor forwards
    it), repeated once per ``grace`` until the process ends. ``hung_up`` is set once the
    hang-up is seen and ``terminated`` once the first ``terminate()`` ran, for the summary.
    """

    __slots__ = ("_fd", "_grace", "_stop", "_terminate", "_thread", "hung_up", "terminated")

    def __init__(
        self,
        fd: int = 0,
        *,
        grace: float = EOF_GRACE,
        terminate: Callable[[], None] | None = None,
    ) -> None:
        self._fd = fd
        self._grace = grace
        self._terminate = terminate or (lambda: os.kill(os.getpid(), signal.SIGTERM))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hung_up = threading.Event()
        self.terminated = threading.Event()

    def start(self) -> HangupWatch:
        self._thread = threading.Thread(target=self._watch, name="mcp-stdin-hangup", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop terminating (the server has exited); the poll itself may stay blocked."""
        self._stop.set()

    def _watch(self) -> None:
        try:
            while not stdin_hung_up(self._fd, timeout=None):
                if self._stop.is_set():
                    return
        except (OSError, ValueError):
            return  # fd 0 closed or not pollable: the server sees EOF itself
        self.hung_up.set()
        while not self._stop.wait(self._grace):
            self.terminated.set()
            self._terminate()

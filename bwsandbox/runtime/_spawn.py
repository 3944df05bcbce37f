"""Spawn bwrap with its options in a sealed memfd (``--args FD``): the one place both launchers use.

bwrap's monitor is pid 1 inside the sandbox, so its command line is ``/proc/1/cmdline`` there.
Given on the command line, the options would show every host path the plan binds (project,
work dir, policy sources) to the sandbox; given through ``--args FD`` (NUL-separated, read by
bwrap before it sets anything up, and closed by it), ``/proc/1/cmdline`` is only
``bwrap --args N -- COMMAND...``. ``explain``, the audit log and the session record still show
the full argv: they render the plan, not this process's argv.

Import-light on purpose (``os``, ``fcntl``, ``signal``): the CLI's fast path
(:mod:`bwsandbox.cli._fastlaunch`) imports it on every cached start. Cost: one memfd of a few
kB, well under a millisecond.
"""

# os-level on purpose: no pathlib on the start-up path
# ruff: noqa: PTH208

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Mapping, Sequence

__all__ = ["DEFAULT_SIGNALS", "leaked_fds", "memfd", "spawn_bwrap"]

#: signals the supervisor may ignore or handle; bwrap and the sandbox start with defaults
DEFAULT_SIGNALS = (
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGTSTP,
    signal.SIGTTIN,
    signal.SIGTTOU,
)


def memfd(name: str, content: bytes) -> int:
    """A sealed, close-on-exec memfd holding ``content``, positioned at its start."""
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    fd = os.memfd_create(name.replace("/", "_")[:200], flags)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    except BaseException:
        os.close(fd)
        raise
    return fd


def leaked_fds(passed: set[int]) -> list[int]:
    """Inheritable fds above 2 that the sandbox must not get (e.g. left open by a caller)."""
    leaked = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in passed:
            try:
                if os.get_inheritable(fd):
                    leaked.append(fd)
            except OSError:
                continue  # the listdir fd itself, already closed
    return leaked


def spawn_bwrap(
    argv: Sequence[str],
    options_end: int,
    env: Mapping[str, str],
    file_actions: list[tuple[int, ...] | tuple[int, int, str, int, int]],
) -> int:
    """posix_spawn ``argv`` (``argv[options_end]`` is the ``--`` before the command) in a
    session of its own, with default signal dispositions; ``argv[1:options_end]`` travel in
    an ``--args`` memfd. Returns the pid; OSError from posix_spawn propagates."""
    if argv[options_end] != "--":
        msg = f"argv[{options_end}] is {argv[options_end]!r}, not '--'"
        raise ValueError(msg)
    options = b"".join(token.encode() + b"\0" for token in argv[1:options_end])
    fd = memfd("bwrap-args", options)
    try:
        # the fd number must be the same in bwrap: keep it open through exec, nothing else
        os.set_inheritable(fd, True)
        spawned = [argv[0], "--args", str(fd), *argv[options_end:]]
        return os.posix_spawn(
            argv[0],
            spawned,
            dict(env),
            file_actions=file_actions,
            setsid=True,
            setsigmask=(),
            setsigdef=DEFAULT_SIGNALS,
        )
    finally:
        os.close(fd)

"""Start bwrap for a plan: allocate the plan's fds, spawn, read the child pid, release.

- data files (``--ro-bind-data``) come from sealed memfds: the content never touches the disk;
- ``info`` is a pipe bwrap writes ``{"child-pid": N}`` to, ``block`` a pipe it waits on before
  running the command (the network is set up in between), ``json-status`` a pipe drained at exit;
- bwrap gets its options through ``--args`` (a sealed memfd, see :mod:`._spawn`), so the
  sandbox's ``/proc/1/cmdline`` does not show the host paths of the plan;
- bwrap runs in a session of its own (``setsid``), so keys typed at the host terminal reach the
  supervisor, never bwrap's monitor process directly.

Whether bwrap failed while setting up (a bad bind...) is read off the block pipe: bwrap reads
its byte only after every mount succeeded, so a byte still there after exit means it never got
that far.
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the start-up path
# ruff: noqa: PTH110

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from bwsandbox._errors import DependencyError, LaunchError, SandboxError
from bwsandbox.compile import BindMount, FdRef, SandboxPlan
from bwsandbox.runtime._spawn import leaked_fds, memfd, spawn_bwrap

__all__ = ["BwrapProcess", "Stdio", "diagnose", "launch", "preflight"]

INFO, BLOCK, JSON_STATUS = "info", "block", "json-status"
_PIPES = (INFO, BLOCK, JSON_STATUS)
_CHILD_PID = re.compile(rb'"child-pid"\s*:\s*(\d+)')


@dataclass(frozen=True, slots=True)
class Stdio:
    """Host fds that become bwrap's stdin/stdout/stderr (None: inherit the supervisor's)."""

    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    #: open this tty as the controlling terminal of bwrap's session (pty fallback mode)
    ctty_path: str | None = None


class BwrapProcess:
    """A spawned bwrap: its pid, a pidfd to poll, the sandbox's child pid once known."""

    __slots__ = (
        "_extra",
        "block_read",
        "block_write",
        "child_pid",
        "pid",
        "pidfd",
        "released",
        "status",
    )

    def __init__(
        self, pid: int, pidfd: int, *, block_write: int | None, block_read: int | None
    ) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.block_write = block_write
        self.block_read = block_read  # kept to tell a setup failure (see setup_failed)
        self.child_pid: int | None = None
        self.status: int | None = None  # raw wait status once reaped
        self.released = False
        self._extra: list[int] = []  # fds to close with the process

    def read_child_pid(self, info_fd: int) -> int | None:
        """Read bwrap's info fd to EOF: ``child-pid`` (None if bwrap died first)."""
        data = b""
        while chunk := _read_retry(info_fd):
            data += chunk
        os.close(info_fd)
        match = _CHILD_PID.search(data)
        self.child_pid = int(match.group(1)) if match else None
        return self.child_pid

    def release(self) -> None:
        """Let the sandboxed command start (write the byte bwrap blocks on)."""
        if self.block_write is not None:
            with contextlib.suppress(BrokenPipeError):  # bwrap is gone: its status says why
                os.write(self.block_write, b"x")
            os.close(self.block_write)
            self.block_write = None
        self.released = True

    def poll(self) -> int | None:
        """Reap bwrap if it exited; returns the raw wait status."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status

    def wait(self) -> int:
        while self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]
        return self.status

    def setup_failed(self) -> bool:
        """True when bwrap exited before it got past its mounts (its block byte is unread)."""
        if self.block_read is None or not self.released:
            return False
        os.set_blocking(self.block_read, False)
        try:
            return bool(os.read(self.block_read, 1))
        except BlockingIOError:
            return False

    def kill(self, sig: int) -> None:
        """Signal bwrap's monitor and the sandbox's pid 1 (SIGKILL ends the whole sandbox)."""
        if self.status is None:
            signal.pidfd_send_signal(self.pidfd, sig)
        if self.child_pid is not None and sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child_pid, sig)

    def close(self) -> None:
        for fd in (self.pidfd, self.block_write, self.block_read, *self._extra):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.block_write = self.block_read = None
        self._extra.clear()


def _read_retry(fd: int) -> bytes:
    while True:
        try:
            return os.read(fd, 4096)
        except InterruptedError:
            continue


def preflight(plan: SandboxPlan) -> None:
    """Catch what bwrap would fail on with a worse message: required bind sources missing."""
    for option in plan.options:
        if isinstance(option, BindMount) and not option.optional and not os.path.exists(option.src):
            raise LaunchError(
                f"bind source {option.src} does not exist (for {option.dest})",
                hint="create it, or mark the bind optional in the policy",
            )


def _allocate(plan: SandboxPlan) -> tuple[dict[FdRef, int], dict[str, int], list[int]]:
    """Real fds for the plan's FdRefs: (child-side map, our ends by name, child ends to close)."""
    data = {item.fd: item for item in plan.data}
    unknown = [ref.name for ref in plan.fd_refs() if ref not in data and ref.name not in _PIPES]
    if unknown:
        raise LaunchError(f"the plan uses fds the runtime does not know: {', '.join(unknown)}")
    child: dict[FdRef, int] = {}
    ours: dict[str, int] = {}
    to_close: list[int] = []
    try:
        for ref in plan.fd_refs():
            if ref in data:
                fd = memfd(ref.name, data[ref].content)
                child[ref] = fd
                to_close.append(fd)
            elif ref.name in (INFO, JSON_STATUS):
                read_end, write_end = os.pipe()
                child[ref], ours[ref.name] = write_end, read_end
                to_close.append(write_end)
            else:
                read_end, write_end = os.pipe()
                child[ref] = read_end
                ours[BLOCK] = write_end
                ours["block-read"] = read_end  # kept: see BwrapProcess.setup_failed
    except BaseException:
        for fd in {*to_close, *ours.values()}:
            os.close(fd)
        raise
    return child, ours, to_close


def launch(plan: SandboxPlan, stdio: Stdio, *, command_prefix: Sequence[str] = ()) -> BwrapProcess:
    """Spawn bwrap with the plan's argv and environment; read its child pid; do not release."""
    child_fds, ours, to_close = _allocate(plan)
    argv = plan.argv(child_fds)
    cut = len(argv) - len(plan.command)
    if command_prefix:
        argv = [*argv[:cut], *command_prefix, *argv[cut:]]
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = []
    if stdio.ctty_path is not None:
        actions.append((os.POSIX_SPAWN_OPEN, 0, stdio.ctty_path, os.O_RDWR, 0))
        actions += [(os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
    else:
        for target, fd in enumerate((stdio.stdin, stdio.stdout, stdio.stderr)):
            if fd is not None:
                actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    passed = set(child_fds.values())
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in leaked_fds(passed)]
    for fd in passed:
        os.set_inheritable(fd, True)
    try:
        pid = spawn_bwrap(argv, cut - 1, dict(plan.env), actions)
    except OSError as exc:
        for fd in {*to_close, *ours.values()}:
            os.close(fd)
        raise DependencyError(
            f"cannot run {plan.bwrap}: {exc.strerror}", hint="check `agent-sandbox doctor`"
        ) from exc
    for fd in to_close:
        os.close(fd)
    process = BwrapProcess(
        pid,
        os.pidfd_open(pid),
        block_write=ours.get(BLOCK),
        block_read=ours.get("block-read"),
    )
    if JSON_STATUS in ours:
        os.set_blocking(ours[JSON_STATUS], False)
        process._extra.append(ours[JSON_STATUS])
    if INFO in ours:
        process.read_child_pid(ours[INFO])
    return process


def diagnose(plan: SandboxPlan, *, patience: float = 2.0) -> str:
    """bwrap's own error message for a plan whose setup failed, from a second, silent try.

    The try is never released from its block fd, so the command cannot run; without a block
    fd in the plan there is no safe way to try, and the answer is "".
    """
    if not any(ref.name == BLOCK for ref in plan.fd_refs()):
        return ""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        process = launch(plan, Stdio(devnull, devnull, write_end))
    except SandboxError:
        return ""
    finally:
        os.close(write_end)
        os.close(devnull)
    try:
        if not select.select([process.pidfd], [], [], patience)[0]:
            process.kill(signal.SIGKILL)  # it got past setup this time: never let it run
        process.wait()
        os.set_blocking(read_end, False)
        with contextlib.suppress(BlockingIOError):
            text = os.read(read_end, 65536).decode(errors="replace")
            lines = [x for x in text.splitlines() if x.startswith("bwrap: ")]
            return lines[-1].removeprefix("bwrap: ") if lines else ""
        return ""
    finally:
        process.close()
        os.close(read_end)

"""The one launcher: every path that starts bwrap (``Sandbox``, the CLI's cached fast path,
the diagnosis of a failed setup) goes through here, and every path that waits on a sandboxed
command (``Sandbox``'s supervisor, the fast path, ``exec``) forwards the same signals the same
way.

What it holds:

- :class:`LaunchSpec`: what to start, as plain values: the argv with its fd slots named (data
  files become sealed memfds, ``info``/``block``/``json-status`` become pipes), the number of
  command words at its end, the environment. Built from a ``SandboxPlan``
  (``runtime._launch.spec_for``) or from a cached recipe: the launcher imports neither;
- :func:`spawn`: allocate the fds, ``posix_spawn`` bwrap in a session of its own with default
  signal dispositions and only its own fds, its options in a sealed ``--args`` memfd (so the
  sandbox's ``/proc/1/cmdline`` shows no host paths), read the child pid; a spawn failure is a
  :class:`~bwsandbox.LaunchError` on every path;
- :class:`BwrapProcess`: the spawned bwrap (release, poll, wait, kill, setup failure);
- :func:`diagnose`: bwrap's own message for a failed setup, from a second try never released;
- :func:`exit_code` (a wait status as a shell reports it) and :func:`setup_error`;
- :data:`FORWARDED` and :class:`Forwarder`: the one set of signals forwarded to the sandboxed
  command and what each one does (see :class:`Forwarder`);
- :func:`start_record`: the fields of the audit ``start`` event, built in one place.

Import-light on purpose (``os``, ``fcntl``, ``signal`` and the error tree; no dataclasses,
no compiler types): the CLI's fast path imports it on every cached start.
"""

# os-level on purpose: no pathlib or contextlib on the start-up path
# ruff: noqa: PTH123, PTH208, SIM105

from __future__ import annotations

import fcntl
import os

from bwsandbox._errors import LaunchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable, Iterable, Mapping, Sequence
else:  # the same numbers and functions, without building signal's enums (0.4-0.7 ms)
    import _signal as signal

__all__ = [
    "BLOCK",
    "DEFAULT_SIGNALS",
    "ENDING",
    "FORWARDED",
    "INFO",
    "JSON_STATUS",
    "KILL_AFTER",
    "BwrapProcess",
    "Forwarder",
    "LaunchSpec",
    "Stdio",
    "bwrap_message",
    "children",
    "deliver_to_group",
    "diagnose",
    "exit_code",
    "exit_record",
    "leaked_fds",
    "memfd",
    "setup_error",
    "spawn",
    "spawn_bwrap",
    "start_record",
]

INFO, BLOCK, JSON_STATUS = "info", "block", "json-status"
PIPES = (INFO, BLOCK, JSON_STATUS)

#: The signals every waiting path forwards to the sandboxed command (see :class:`Forwarder`).
#: Plain numbers: ``_signal``'s, not ``signal``'s enums (``signal.Signals(n).name`` names one).
FORWARDED: tuple[int, ...] = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGTSTP,
)
#: signals that ask the command to end; the :data:`KILL_AFTER`-th one kills it for good
ENDING: frozenset[int] = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT})
KILL_AFTER = 3

#: signals a launcher may ignore or handle; bwrap and the sandbox start with the defaults
DEFAULT_SIGNALS: tuple[int, ...] = (
    signal.SIGPIPE,
    signal.SIGXFSZ,
    *FORWARDED,
    signal.SIGTTIN,
    signal.SIGTTOU,
)

_SpawnAction = tuple[int, ...] | tuple[int, int, str, int, int]


# -- what to start --------------------------------------------------------------------------


class LaunchSpec:
    """bwrap's argv with named fd slots, the command's length at its end, the environment.

    ``argv[index]`` for each ``(index, name)`` in ``fds`` is a placeholder that becomes the
    number of a real fd: ``data[name]`` (a sealed memfd) or one of the pipes ``info``,
    ``block``, ``json-status``. The last ``command_len`` words are the command; the word
    before them is bwrap's ``--``.
    """

    __slots__ = ("argv", "command_len", "data", "env", "fds")

    def __init__(
        self,
        argv: Sequence[str],
        *,
        command_len: int,
        fds: Iterable[tuple[int, str]] = (),
        data: Mapping[str, bytes] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.command_len = command_len
        self.fds = list(fds)
        self.data = dict(data or {})
        self.env = dict(env or {})
        unknown = [name for _, name in self.fds if name not in self.data and name not in PIPES]
        if unknown:
            msg = f"the launch uses fds the launcher does not know: {', '.join(unknown)}"
            raise LaunchError(msg)

    @property
    def bwrap(self) -> str:
        return self.argv[0]

    def has_block(self) -> bool:
        return any(name == BLOCK for _, name in self.fds)


class Stdio:
    """Host fds that become bwrap's stdin/stdout/stderr (None: inherit the launcher's)."""

    __slots__ = ("ctty_path", "stderr", "stdin", "stdout")

    def __init__(
        self,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        *,
        ctty_path: str | None = None,  # the controlling tty of bwrap's session (pty fallback)
    ) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.ctty_path = ctty_path


# -- spawning -------------------------------------------------------------------------------


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
    file_actions: list[_SpawnAction],
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


class BwrapProcess:
    """A spawned bwrap: its pid, a pidfd to poll, the sandbox's child pid once known."""

    __slots__ = (
        "_extra",
        "block_read",
        "block_write",
        "child_pid",
        "info_fd",
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
        self.info_fd: int | None = None  # bwrap's info pipe, until its child pid is read
        self._extra: list[int] = []  # fds to close with the process

    def read_child_pid(self, info_fd: int) -> int | None:
        """Read bwrap's info fd to EOF: ``child-pid`` (None if bwrap died first)."""
        data = b""
        while chunk := _read_retry(info_fd):
            data += chunk
        os.close(info_fd)
        self.child_pid = _child_pid(data)
        return self.child_pid

    def wait_child_pid(self) -> int | None:
        """The sandbox's child pid, read now from the info pipe if :func:`spawn` left it
        (``read_pid=False``); None if bwrap died first."""
        if self.info_fd is not None:
            fd, self.info_fd = self.info_fd, None
            self.read_child_pid(fd)
        return self.child_pid

    def release(self) -> None:
        """Let the sandboxed command start (write the byte bwrap blocks on)."""
        if self.block_write is not None:
            try:
                os.write(self.block_write, b"x")
            except BrokenPipeError:  # bwrap is gone: its status says why
                pass
            os.close(self.block_write)
            self.block_write = None
        self.released = True

    @property
    def running(self) -> bool:
        """Released and not reaped: the command may be running."""
        return self.released and self.status is None

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
        if sig == signal.SIGKILL and self.info_fd is not None:
            # learn pid 1 first (bwrap says it at once after its clone): killed early, the
            # monitor would leave it waiting forever, holding the fds it was given
            self.wait_child_pid()
        if self.status is None:
            signal.pidfd_send_signal(self.pidfd, sig)
        if self.child_pid is not None and sig == signal.SIGKILL:
            try:
                os.kill(self.child_pid, sig)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        for fd in (self.pidfd, self.block_write, self.block_read, self.info_fd, *self._extra):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.block_write = self.block_read = self.info_fd = None
        self._extra.clear()


def _read_retry(fd: int) -> bytes:
    while True:
        try:
            return os.read(fd, 4096)
        except InterruptedError:
            continue


def _child_pid(data: bytes) -> int | None:
    """``child-pid`` from bwrap's info JSON (``{"child-pid": N, ...}``), without json or re."""
    _, found, rest = data.partition(b'"child-pid"')
    digits = rest.lstrip(b" \t\r\n").removeprefix(b":").lstrip(b" \t\r\n")
    end = 0
    while end < len(digits) and digits[end : end + 1].isdigit():
        end += 1
    return int(digits[:end]) if found and end else None


def _allocate(spec: LaunchSpec) -> tuple[list[str], list[int], dict[str, int]]:
    """The argv with real fd numbers, the child ends (ours to close after the spawn), and our
    ends by name (``info``, ``json-status``, ``block``, ``block-read``)."""
    argv = list(spec.argv)
    child: list[int] = []
    ours: dict[str, int] = {}
    try:
        for index, name in spec.fds:
            if name in spec.data:
                fd = memfd(name, spec.data[name])
                child.append(fd)
            elif name == BLOCK:
                fd, ours[BLOCK] = os.pipe()
                ours["block-read"] = fd  # kept: see BwrapProcess.setup_failed
            else:  # info, json-status: bwrap writes, we read
                ours[name], fd = os.pipe()
                child.append(fd)
            argv[index] = str(fd)
    except BaseException:
        for fd in {*child, *ours.values()}:
            os.close(fd)
        raise
    return argv, child, ours


def spawn(
    spec: LaunchSpec, stdio: Stdio, *, command_prefix: Sequence[str] = (), read_pid: bool = True
) -> BwrapProcess:
    """Start bwrap for ``spec``; read its child pid; do not release. LaunchError when bwrap
    cannot be run.

    ``read_pid=False`` returns at once, the info pipe unread: bwrap starts, clones and sets up
    its mounts on another core while the caller works, and
    :meth:`BwrapProcess.wait_child_pid` reads the pid when it is needed."""
    argv, child, ours = _allocate(spec)
    cut = len(argv) - spec.command_len
    if command_prefix:
        argv = [*argv[:cut], *command_prefix, *argv[cut:]]
    actions: list[_SpawnAction] = []
    if stdio.ctty_path is not None:
        actions.append((os.POSIX_SPAWN_OPEN, 0, stdio.ctty_path, os.O_RDWR, 0))
        actions += [(os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
    else:
        for target, fd in enumerate((stdio.stdin, stdio.stdout, stdio.stderr)):
            if fd is not None:
                actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    passed = {int(argv[index]) for index, _ in spec.fds}
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in leaked_fds(passed)]
    for fd in passed:
        os.set_inheritable(fd, True)
    block_read = ours.get("block-read")
    try:
        pid = spawn_bwrap(argv, cut - 1, spec.env, actions)
    except OSError as exc:
        for fd in {*child, *ours.values()}:
            os.close(fd)
        raise LaunchError(
            f"cannot run {spec.bwrap}: {exc.strerror}", hint="check `agent-sandbox doctor`"
        ) from exc
    for fd in child:
        os.close(fd)
    if block_read is not None:
        os.set_inheritable(block_read, False)
    process = BwrapProcess(
        pid, os.pidfd_open(pid), block_write=ours.get(BLOCK), block_read=block_read
    )
    if JSON_STATUS in ours:
        os.set_blocking(ours[JSON_STATUS], False)
        process._extra.append(ours[JSON_STATUS])
    if INFO in ours:
        if read_pid:
            process.read_child_pid(ours[INFO])
        else:
            process.info_fd = ours[INFO]
    return process


def diagnose(spec: LaunchSpec, *, patience: float = 2.0) -> str:
    """bwrap's own error message for a launch whose setup failed, from a second, silent try.

    The try is never released from its block fd, so the command cannot run; without a block
    fd there is no safe way to try, and the answer is "".
    """
    if not spec.has_block():
        return ""
    import select

    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        process = spawn(spec, Stdio(devnull, devnull, write_end))
    except (OSError, LaunchError):
        os.close(read_end)
        return ""
    finally:
        os.close(write_end)
        os.close(devnull)
    try:
        if not select.select([process.pidfd], [], [], patience)[0]:
            process.kill(signal.SIGKILL)  # it got past setup this time: never let it run
        process.wait()
        os.set_blocking(read_end, False)
        try:
            text = os.read(read_end, 65536)
        except BlockingIOError:
            return ""
        return bwrap_message(text)
    finally:
        process.kill(signal.SIGKILL)
        process.close()
        os.close(read_end)


# -- outcome --------------------------------------------------------------------------------


def exit_code(status: int) -> int:
    """A wait status as a shell would report it: the code, or 128+N for signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255


def bwrap_message(stderr: bytes | None) -> str:
    """The last ``bwrap: ...`` line of bwrap's stderr, without the prefix ("" if none)."""
    if not stderr:
        return ""
    lines = [
        line for line in stderr.decode(errors="replace").splitlines() if line.startswith("bwrap: ")
    ]
    return lines[-1].removeprefix("bwrap: ") if lines else ""


def setup_error(code: int, message: str = "") -> LaunchError:
    """The error for a bwrap that failed while setting up the sandbox (``message``: bwrap's)."""
    if message:
        return LaunchError(f"bwrap could not set up the sandbox: {message}")
    return LaunchError(
        f"bwrap could not set up the sandbox (exit status {code})",
        hint="its message is on stderr above; `agent-sandbox explain` shows the argv",
    )


def start_record(
    *,
    policy: str,
    policy_digest: str,
    sources: Sequence[str],
    argv: Sequence[str],
    command: Sequence[str],
    network: str,
    project: str,
    workdir: str,
    interactive: bool,
    client: str,
) -> dict[str, object]:
    """The fields of the audit ``start`` event (after ``time``, ``event`` and ``session``)."""
    return {
        "policy": policy,
        "policy_digest": policy_digest,
        "sources": list(sources),
        "argv": list(argv),
        "command": list(command),
        "network": network,
        "project": project,
        "workdir": workdir,
        "interactive": interactive,
        "client": client,
    }


def exit_record(code: int, *, duration: float | None = None, error: str = "") -> dict[str, object]:
    """The fields of the audit ``exit`` event: the status, the signal's name for 128+N."""
    fields: dict[str, object] = {"returncode": code}
    if duration is not None:
        fields["duration"] = round(duration, 3)
    if code > 128:
        import signal as signals  # the names (its enums): only for a death by signal

        try:
            fields["signal"] = signals.Signals(code - 128).name
        except ValueError:
            pass
    if error:
        fields["error"] = error
    return fields


# -- signals --------------------------------------------------------------------------------


class Forwarder:
    """What every waiting path does with a signal of :data:`FORWARDED`.

    - ``SIGWINCH``: resize the private pty when there is one (the kernel then tells its
      foreground job); otherwise the command gets it (it may be writing to the host terminal,
      whose own SIGWINCH reaches only the launcher's process group);
    - ``SIGTSTP`` without a private pty (Ctrl-Z at the host terminal): stop the command and
      the launcher; the shell's ``fg`` resumes the launcher, which resumes the command;
    - every other one (and ``SIGTSTP`` with a pty, which can only come from ``kill``): to
      the command, through ``deliver``;
    - the :data:`KILL_AFTER`-th of INT/TERM/HUP/QUIT kills the sandbox even if the command
      ignores them (``kill``).

    Nothing is delivered while ``running()`` is false (before release, after exit). With
    ``hold``, what arrives before :meth:`start` is kept and delivered by it: a path that learns
    its command's pid only after the command may have started (``exec``) loses nothing.
    """

    __slots__ = (
        "deliver",
        "endings",
        "held",
        "kill",
        "received",
        "resize",
        "running",
        "tty",
    )

    def __init__(
        self,
        deliver: Callable[[int], None],
        *,
        running: Callable[[], bool],
        kill: Callable[[], None],
        resize: Callable[[], None] | None = None,
        tty: bool = False,
        hold: bool = False,
    ) -> None:
        self.deliver = deliver
        self.running = running
        self.kill = kill
        self.resize = resize
        self.tty = tty  # the command runs on a private pty of ours
        self.received: list[int] = []
        self.endings = 0
        self.held: list[int] | None = [] if hold else None

    def start(self) -> None:
        """The command runs now: deliver what was held (see ``hold``), hold nothing more."""
        held, self.held = self.held or [], None
        for signum in held:
            self._act(signum)

    def __call__(self, signum: int) -> None:
        self.received.append(signum)
        if signum == signal.SIGWINCH and self.resize is not None:
            self.resize()
            return
        if self.held is not None:
            self.held.append(signum)
            return
        self._act(signum)

    def _act(self, signum: int) -> None:
        if not self.running():
            return
        if signum == signal.SIGTSTP and not self.tty:
            self.deliver(signal.SIGSTOP)
            os.kill(os.getpid(), signal.SIGSTOP)
            self.deliver(signal.SIGCONT)
            return
        self.deliver(signum)
        if signum in ENDING:
            self.endings += 1
            if self.endings >= KILL_AFTER:
                self.kill()

    def install(self) -> Callable[[], None]:
        """Python-level handlers for :data:`FORWARDED` (main thread); returns the undo."""
        previous = {sig: signal.signal(sig, self._handle) for sig in FORWARDED}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _handle(self, signum: int, frame: object) -> None:
        self(signum)


def deliver_to_group(child: int | None, avoid: Iterable[int], sig: int) -> None:
    """``sig`` to the process group of the sandbox's pid 1 (a group leader with bwrap's
    ``--new-session``), else to its children (pid 1 of a pid namespace ignores signals it
    has no handler for, so the command is who must get them)."""
    if child is None:
        return
    try:
        group = child if os.getpgid(child) == child else None
    except ProcessLookupError:
        return
    if group is not None and group not in (os.getpgrp(), *avoid):
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            pass
        return
    for pid in children(child):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def children(pid: int) -> list[int]:
    """The children of ``pid`` (its main thread's), from ``/proc``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as handle:
            return [int(p) for p in handle.read().split()]
    except (OSError, ValueError):
        return []

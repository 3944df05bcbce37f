"""Launch a cached recipe with os-level calls only: the cache-hit path of ``run``.

It does what :class:`bwsandbox.runtime.Sandbox` does for a non-interactive session whose plan
is already known, in the same order and with the same observable results: audit ``start`` and
``exit`` events, bwrap's fds (sealed memfds, info and block pipes, nothing else inherited),
environment, session and signal dispositions, signal forwarding to the sandbox's process group
while waiting, exit status, the setup-failure error with bwrap's own message.

The work dir is the runtime's own code (:mod:`bwsandbox.runtime._workdir`: sweep, create,
remove without following symlinks), which is import-light. The launch and wait are mirrored
here because :mod:`bwsandbox.runtime._launch` and ``_sandbox`` import the compiler's
dataclasses (tens of ms). ``cli._recipe.REVIEWED_RUNTIME`` pins the runtime sources this
mirror was checked against: when they change, nothing is cached until it is checked again.
``tests/sandbox/test_cli_cache.py`` runs both paths against each other.

Imports: builtin modules, ``bwsandbox._errors``, ``bwsandbox.runtime._workdir`` and
``bwsandbox.runtime._spawn`` (the spawn itself, shared with the runtime: ``--args`` memfd).
"""

# os-level on purpose: no pathlib or dataclasses on the start-up path
# ruff: noqa: PTH103, PTH118, SIM105

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time

from bwsandbox._errors import LaunchError, WorkspaceError
from bwsandbox.runtime import leaked_fds, memfd, spawn_bwrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType

    from bwsandbox.runtime._githistory import GitGuard
    from bwsandbox.runtime._protect import ProtectedPaths

__all__ = ["run_recipe"]

# the same values as bwsandbox.runtime._launch / _supervise and bwsandbox.cli._recipe
_WORKDIR = "\0workdir\0"
_WORKDIR_B = _WORKDIR.encode()
_WORKDIR_JSON = "@@bwsandbox-workdir@@"
_SESSION = "@@bwsandbox-session@@"
_TIME = "@@bwsandbox-time@@"
_FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


class _TerminalRelay:
    """The runtime's output pty and filter (``Sandbox._relayed_output`` with
    ``runtime._tty.open_output_pty``) for a cached launch: the command writes to a private
    pty, a thread passes what it writes through the terminal filter to the user's terminal.
    A thread, because this path has no poll loop (it only waits for bwrap)."""

    def __init__(self, target: int) -> None:
        import termios

        from bwsandbox.runtime import TermFilter

        self.target = target
        self.master, self.slave = os.openpty()
        try:
            termios.tcsetattr(self.slave, termios.TCSANOW, termios.tcgetattr(target))
        except termios.error:
            pass
        try:
            size = fcntl.ioctl(target, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            pass
        self.filter = TermFilter()
        self.thread: object = None

    def start(self) -> None:
        import threading

        os.close(self.slave)  # bwrap holds it now: EOF (EIO) when the sandbox is gone
        self.slave = -1
        thread = threading.Thread(target=self._run, name="terminal-filter", daemon=True)
        thread.start()
        self.thread = thread

    def _run(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the last slave fd closed
                data = b""
            if not data:
                return
            out = memoryview(self.filter.feed(data))
            while out:
                try:
                    out = out[os.write(self.target, out) :]
                except InterruptedError:
                    continue
                except OSError:  # the terminal went away: keep draining the pty
                    break

    def close(self, patience: float = 2.0) -> None:
        thread = self.thread
        if thread is not None:
            thread.join(patience)  # type: ignore[attr-defined]
        for fd in (self.slave, self.master):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.slave = self.master = -1


def _terminal_relays(
    recipe: dict[str, object],
) -> tuple[list[_TerminalRelay], tuple[int, int, int] | None]:
    """One relay per terminal among stdout/stderr (one for both when they are the same), and
    the stdio to give bwrap (None: inherit ours)."""
    if not recipe.get("terminal_filter") or not (os.isatty(1) or os.isatty(2)):
        return [], None
    try:
        same = os.path.samestat(os.fstat(1), os.fstat(2))
    except OSError:
        same = False
    if same:
        relay = _TerminalRelay(1)
        return [relay], (0, relay.slave, relay.slave)
    relays = [_TerminalRelay(fd) if os.isatty(fd) else None for fd in (1, 2)]
    out, err = (fd if r is None else r.slave for fd, r in zip((1, 2), relays, strict=True))
    return [r for r in relays if r is not None], (0, out, err)


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def _read_small(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


class _Audit:
    """Appends to ``<sessions>/<session>/audit.jsonl`` like ``bwsandbox._audit.AuditLog``."""

    def __init__(self, sessions: str, session: str) -> None:
        directory = os.path.join(sessions, session)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            path = os.path.join(directory, "audit.jsonl")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self.fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot write the audit log in {directory}: {exc.strerror}"
            ) from exc
        self.session = session
        self.started: float | None = None  # set when ``start`` is written

    def write(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def event(self, event: str, **fields: object) -> None:
        import json  # already loaded by the runtime's work dir module

        record = {"time": _now(), "event": event, "session": self.session, **fields}
        self.write(json.dumps(record, separators=(",", ":"), default=str))

    def exit(self, returncode: int, error: str = "") -> None:
        fields: dict[str, object] = {"returncode": returncode}
        if self.started is not None:
            fields["duration"] = round(time.monotonic() - self.started, 3)
        if returncode > 128:
            try:
                fields["signal"] = signal.Signals(returncode - 128).name
            except ValueError:
                pass
        if error:
            fields["error"] = error
        self.event("exit", **fields)

    def close(self) -> None:
        os.close(self.fd)


def _child_pid(info_fd: int) -> int | None:
    data = b""
    while True:
        try:
            chunk = os.read(info_fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    os.close(info_fd)
    _, found, rest = data.partition(b'"child-pid"')
    digits = rest.lstrip(b" \t\n:")
    end = 0
    while end < len(digits) and digits[end : end + 1].isdigit():
        end += 1
    return int(digits[:end]) if found and end else None


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255


class _Launch:
    """One bwrap process and the fds around it."""

    def __init__(self, recipe: dict[str, object], workdir: str) -> None:
        self.recipe = recipe
        self.workdir = workdir
        self.pid: int | None = None
        self.child: int | None = None
        self.status: int | None = None
        self.block_write: int | None = None
        self.block_read: int | None = None
        self.released = False
        self.ours: list[int] = []
        self.env: dict[str, str] = {}  # bwrap's environment: the sandbox's

    def start(self, stdio: tuple[int, int, int] | None = None) -> None:
        recipe = self.recipe
        argv = [
            t.replace(_WORKDIR, self.workdir) if "\0" in t else t
            for t in recipe["argv"]  # type: ignore[attr-defined]
        ]
        data = dict(recipe["data"])  # type: ignore[call-overload]
        child_ends: list[int] = []
        info_read: int | None = None
        try:
            for index, name in recipe["fds"]:  # type: ignore[attr-defined]
                if name in data:
                    content = data[name]
                    if _WORKDIR_B in content:
                        content = content.replace(_WORKDIR_B, self.workdir.encode())
                    fd = memfd(name, content)
                    child_ends.append(fd)
                elif name == "block":
                    fd, self.block_write = os.pipe()
                    self.block_read = fd
                else:  # info, json-status: bwrap writes, we read
                    read_end, fd = os.pipe()
                    child_ends.append(fd)
                    self.ours.append(read_end)
                    if name == "info":
                        info_read = read_end
                os.set_inheritable(fd, True)
                argv[index] = str(fd)
            env = {}
            for name, value in recipe["env"]:  # type: ignore[attr-defined]
                if value is None:
                    env[name] = os.environ[name]
                else:
                    env[name] = value.replace(_WORKDIR, self.workdir) if "\0" in value else value
            self.env = env
            bwrap = str(recipe["bwrap"])
            passed = {int(argv[index]) for index, _ in recipe["fds"]}  # type: ignore[attr-defined]
            actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = []
            if stdio is not None:
                actions += [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in leaked_fds(passed)]
            try:
                count = recipe.get("command_len")
                end = len(argv) - count - 1 if isinstance(count, int) else argv.index("--")
                self.pid = spawn_bwrap(argv, end, env, actions)
            except OSError as exc:
                raise LaunchError(
                    f"cannot run {bwrap}: {exc.strerror}", hint="check `agent-sandbox doctor`"
                ) from exc
        finally:
            for fd in child_ends:
                os.close(fd)
            if self.block_read is not None:
                os.set_inheritable(self.block_read, False)
        if info_read is not None:
            self.ours.remove(info_read)
            self.child = _child_pid(info_read)

    def release(self) -> None:
        self.released = True
        if self.block_write is not None:
            try:
                os.write(self.block_write, b"x")
            except BrokenPipeError:
                pass
            os.close(self.block_write)
            self.block_write = None

    def forward(self, signum: int, frame: FrameType | None) -> None:
        """Deliver a signal to the sandboxed command's process group (as the runtime does)."""
        child = self.child
        if child is None or self.status is not None or not self.released:
            return
        try:
            group = child if os.getpgid(child) == child else None
        except ProcessLookupError:
            group = None
        if group is not None and group not in (os.getpgrp(), self.pid):
            try:
                os.killpg(group, signum)
            except (ProcessLookupError, PermissionError):
                pass
            return
        for pid in _read_small(f"/proc/{child}/task/{child}/children").split():
            try:
                os.kill(int(pid), signum)
            except (ProcessLookupError, PermissionError, ValueError):
                pass

    def wait(self) -> int:
        assert self.pid is not None
        while self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]
        return self.status

    def setup_failed(self) -> bool:
        if self.block_read is None:
            return False
        os.set_blocking(self.block_read, False)
        try:
            return bool(os.read(self.block_read, 1))
        except BlockingIOError:
            return False

    def kill(self) -> None:
        if self.pid is not None and self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self.child is not None:
                try:
                    os.kill(self.child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.wait()

    def close(self) -> None:
        for fd in (self.block_write, self.block_read, *self.ours):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _diagnose(recipe: dict[str, object], workdir: str, *, patience: float = 2.0) -> str:
    """bwrap's message for a setup failure, from a second try that is never released (the
    runtime's ``_launch.diagnose``): the command cannot run, stderr is captured."""
    import select

    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    again = _Launch(recipe, workdir)
    try:
        again.start((devnull, devnull, write_end))
    except (OSError, LaunchError):
        os.close(read_end)
        return ""
    finally:
        os.close(write_end)
        os.close(devnull)
    try:
        assert again.pid is not None
        pidfd = os.pidfd_open(again.pid)
        try:
            if not select.select([pidfd], [], [], patience)[0]:
                again.kill()  # it got past setup this time: never let it run
        finally:
            os.close(pidfd)
        again.wait()
        os.set_blocking(read_end, False)
        try:
            text = os.read(read_end, 65536).decode(errors="replace")
        except BlockingIOError:
            return ""
        lines = [x for x in text.splitlines() if x.startswith("bwrap: ")]
        return lines[-1].removeprefix("bwrap: ") if lines else ""
    finally:
        again.kill()
        again.close()
        os.close(read_end)


def _setup_error(code: int, message: str = "") -> LaunchError:
    if message:
        return LaunchError(f"bwrap could not set up the sandbox: {message}")
    return LaunchError(
        f"bwrap could not set up the sandbox (exit status {code})",
        hint="its message is on stderr above; `agent-sandbox explain` shows the argv",
    )


def _settle(guard: ProtectedPaths, audit: _Audit, warnings: list[str] | None) -> None:
    """The runtime's ``Sandbox._settle`` teardown step (its failure never stops the next)."""
    try:
        for warning in guard.settle():
            if warnings is not None:
                warnings.append(warning)
            audit.event("protected-path", message=warning)
    except Exception:  # noqa: BLE001, S110 - a teardown step: the runtime records and goes on
        pass


def _settle_git(history: GitGuard, audit: _Audit, warnings: list[str] | None) -> None:
    """The runtime's git-history teardown step (after ``_settle``, as in ``Sandbox``)."""
    from bwsandbox.runtime import settle_git

    try:
        found = settle_git(history, audit)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a teardown step: the runtime records and goes on
        return
    if warnings is not None:
        warnings.extend(found)


class _PlanView:
    """The plan fields ``runtime._protect.ProtectedPaths`` reads."""

    def __init__(self, recipe: dict[str, object], workdir: str) -> None:
        def real(path: str) -> str:
            return path.replace(_WORKDIR, workdir) if "\0" in path else path

        self.placeholders = tuple(
            (real(path), kind)
            for path, kind in recipe["placeholders"]  # type: ignore[attr-defined]
        )
        self.protected = tuple(real(path) for path in recipe["protected"])  # type: ignore[attr-defined]
        self.watched = tuple(real(path) for path in recipe.get("watched", ()))  # type: ignore[attr-defined]


def _register(recipe: dict[str, object], session: str, launch: _Launch) -> str:
    """The runtime's ``Sandbox._register``: the session record for ps/exec/stop."""
    import json  # already loaded by the runtime's work dir module

    from bwsandbox._paths import record_key
    from bwsandbox.runtime import register, runtime_dir

    start = json.loads(str(recipe["audit_start"]))
    argv = list(start["argv"])
    options = argv[: argv.index("--")] if "--" in argv else argv
    found = {"--chdir": "/", "--uid": str(os.getuid()), "--gid": str(os.getgid())}
    for index, token in enumerate(options[:-1]):
        if token in found:
            found[token] = options[index + 1]  # bwrap: the last one wins
    assert launch.pid is not None
    assert launch.child is not None
    return register(
        runtime_dir(),
        session=session,
        client=str(start["client"]),
        policy=str(start["policy"]),
        project=str(start["project"]),
        network=str(start["network"]),
        bwrap_pid=launch.pid,
        init_pid=launch.child,
        env=launch.env.items(),
        cwd=found["--chdir"],
        uid=int(found["--uid"]),
        gid=int(found["--gid"]),
        key=record_key(str(recipe["record_key"])),
        seccomp=_seccomp(recipe),
    )


def _seccomp(recipe: dict[str, object]) -> bytes:
    """The BPF program the recipe passes to bwrap's ``--seccomp`` (empty: none)."""
    argv: list[str] = recipe["argv"]  # type: ignore[assignment]
    data = dict(recipe["data"])  # type: ignore[call-overload]
    names = [name for index, name in recipe["fds"] if argv[index - 1] == "--seccomp"]  # type: ignore[attr-defined]
    return b"".join(data.get(name, b"") for name in names)


def run_recipe(recipe: dict[str, object], warnings: list[str] | None = None) -> int:
    """Run a cached recipe to completion; the command's exit status.

    ``warnings`` receives what the user should know afterwards (``Sandbox.warnings``).
    """
    from bwsandbox.runtime import (
        create_workdir,
        keep_workdir,
        remove_workdir,
        sweep_stale_workdirs,
        unregister,
    )

    tmpdir = str(recipe["tmpdir"])
    sweep_stale_workdirs(tmpdir)
    workdir = create_workdir(tmpdir).path
    keep = bool(recipe.get("keep_workdir"))
    session = os.urandom(6).hex()
    audit: _Audit | None = None
    guard: ProtectedPaths | None = None
    history: GitGuard | None = None
    launch = _Launch(recipe, workdir)
    previous: dict[int, object] = {}
    registered = ""
    relays, stdio = _terminal_relays(recipe)
    try:
        audit = _Audit(str(recipe["sessions"]), session)
        start = str(recipe["audit_start"])
        workdir_json = str(recipe["workdir_json"]) + workdir[len(tmpdir) :]
        audit.write(
            start.replace(_TIME, _now())
            .replace(_SESSION, session)
            .replace(_WORKDIR_JSON, workdir_json)
        )
        audit.started = time.monotonic()
        from bwsandbox.runtime import ProtectedPaths

        view = _PlanView(recipe, workdir)
        guard = ProtectedPaths(view, session)  # type: ignore[arg-type]
        guard.record(workdir)
        from bwsandbox.runtime import git_guard

        history = git_guard(view.protected, session, guard.since)
        launch.start(stdio)
        for relay in relays:
            relay.start()
        if launch.child is None:
            code = _exit_code(launch.wait())
            raise _setup_error(code, _diagnose(recipe, workdir))
        registered = _register(recipe, session, launch)
        launch.release()
        for signum in _FORWARDED:  # like the runtime's supervisor: while waiting
            previous[signum] = signal.signal(signum, launch.forward)
        code = _exit_code(launch.wait())
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        previous.clear()
        if launch.setup_failed():
            error = _setup_error(code, _diagnose(recipe, workdir))
            audit.exit(code, str(error))
            raise error
        audit.exit(code)
        return code
    finally:
        if registered:
            unregister(registered)
        launch.kill()
        launch.close()
        for relay in relays:
            relay.close()
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        if guard is not None and audit is not None:
            _settle(guard, audit, warnings)
        if history is not None and audit is not None:
            _settle_git(history, audit, warnings)
        if audit is not None:
            audit.close()
        if keep:
            keep_workdir(workdir)
            sys.stderr.write(f"agent-sandbox: kept the work dir {workdir}\n")
        else:
            try:
                remove_workdir(workdir)
            except WorkspaceError:
                pass  # the runtime records this as a cleanup error, after its log is closed

"""Launch a cached recipe: the cache-hit path of ``run``, through the runtime's launcher.

A recipe (see :mod:`._recipe`) is a launch already decided: the launcher's
:class:`~bwsandbox.runtime._launcher.LaunchSpec` with the work dir left symbolic, plus what the
runtime checks around the session. This module only fills in the per-session values and
calls the same code the runtime does: the work dir (:mod:`bwsandbox.runtime._workdir`: sweep,
create, remove without following symlinks), the launcher (spawn with the ``--args`` memfd,
setup-failure diagnosis, exit status, the forwarded signals, the audit ``start`` and ``exit``
records), the protected-path guard and git guard (:mod:`bwsandbox.runtime._protect`,
``_githistory``), the session record (``_registry``) and the terminal filter
(``_termfilter``). ``tests/sandbox/test_cli_cache.py`` runs both paths against each other.

Imports: builtin modules, ``bwsandbox._errors`` and import-light runtime modules (no compiler
or policy types).
"""

# os-level on purpose: no pathlib or dataclasses on the start-up path
# ruff: noqa: PTH103, PTH118, SIM105

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time

from bwsandbox._errors import WorkspaceError
from bwsandbox.runtime import (
    BwrapProcess,
    Forwarder,
    LaunchSpec,
    Stdio,
    deliver_to_group,
    diagnose,
    exit_code,
    exit_record,
    setup_error,
    spawn,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.runtime._githistory import GitGuard
    from bwsandbox.runtime._protect import ProtectedPaths

__all__ = ["run_recipe"]

# the same values as bwsandbox.cli._recipe
_WORKDIR = "\0workdir\0"
_WORKDIR_B = _WORKDIR.encode()
_WORKDIR_JSON = "@@bwsandbox-workdir@@"
_SESSION = "@@bwsandbox-session@@"
_TIME = "@@bwsandbox-time@@"


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
        import json  # the recipe is JSON (the cold path writes JSON without json)

        record = {"time": _now(), "event": event, "session": self.session, **fields}
        self.write(json.dumps(record, separators=(",", ":"), default=str))

    def exit(self, returncode: int, error: str = "") -> None:
        duration = None if self.started is None else time.monotonic() - self.started
        self.event("exit", **exit_record(returncode, duration=duration, error=error))

    def close(self) -> None:
        os.close(self.fd)


def _spec(recipe: dict[str, object], workdir: str) -> LaunchSpec:
    """The recipe's launch with this session's work dir and the host's environment values."""
    argv = [
        t.replace(_WORKDIR, workdir) if "\0" in t else t
        for t in recipe["argv"]  # type: ignore[attr-defined]
    ]
    data = {
        name: content.replace(_WORKDIR_B, workdir.encode()) if _WORKDIR_B in content else content
        for name, content in recipe["data"]  # type: ignore[attr-defined]
    }
    env = {}
    for name, value in recipe["env"]:  # type: ignore[attr-defined]
        if value is None:
            env[name] = os.environ[name]
        else:
            env[name] = value.replace(_WORKDIR, workdir) if "\0" in value else value
    return LaunchSpec(
        argv,
        command_len=int(recipe["command_len"]),  # type: ignore[call-overload]
        fds=recipe["fds"],  # type: ignore[arg-type]
        data=data,
        env=env,
    )


def _stop(process: BwrapProcess | None) -> None:
    if process is None:
        return
    try:
        if process.poll() is None:
            process.kill(signal.SIGKILL)
            process.wait()
    finally:
        process.close()


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


def _register(
    recipe: dict[str, object], session: str, spec: LaunchSpec, process: BwrapProcess
) -> str:
    """The runtime's ``Sandbox._register``: the session record for ps/exec/stop."""
    import json  # the recipe is JSON (the cold path writes JSON without json)

    from bwsandbox._paths import record_key
    from bwsandbox.runtime import register, runtime_dir

    start = json.loads(str(recipe["audit_start"]))
    argv = list(start["argv"])
    options = argv[: argv.index("--")] if "--" in argv else argv
    found = {"--chdir": "/", "--uid": str(os.getuid()), "--gid": str(os.getgid())}
    for index, token in enumerate(options[:-1]):
        if token in found:
            found[token] = options[index + 1]  # bwrap: the last one wins
    assert process.child_pid is not None
    return register(
        runtime_dir(),
        session=session,
        client=str(start["client"]),
        policy=str(start["policy"]),
        project=str(start["project"]),
        network=str(start["network"]),
        bwrap_pid=process.pid,
        init_pid=process.child_pid,
        env=spec.env.items(),
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
    spec = _spec(recipe, workdir)
    process: BwrapProcess | None = None
    restore = None
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
        process = spawn(spec, Stdio() if stdio is None else Stdio(*stdio))
        for relay in relays:
            relay.start()
        if process.child_pid is None:
            raise setup_error(exit_code(process.wait()), diagnose(spec))
        registered = _register(recipe, session, spec, process)
        running = process

        def deliver(signum: int) -> None:
            deliver_to_group(running.child_pid, (running.pid,), signum)

        forwarder = Forwarder(  # the launcher's signals, as every path forwards them
            deliver,
            running=lambda: running.running,
            kill=lambda: running.kill(signal.SIGKILL),
            hold=True,  # until the release
        )
        restore = forwarder.install()
        process.release()
        forwarder.start()
        code = exit_code(process.wait())
        restore()
        restore = None
        if process.setup_failed():
            error = setup_error(code, diagnose(spec))
            audit.exit(code, str(error))
            raise error
        audit.exit(code)
        return code
    finally:
        if registered:
            unregister(registered)
        _stop(process)
        for relay in relays:
            relay.close()
        if restore is not None:
            restore()
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

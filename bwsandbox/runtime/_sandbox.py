"""``Sandbox``: one session, from a prepared plan to exit status, over one ExitStack.

The runtime takes a plan: :func:`bwsandbox.prepare` (``bwsandbox._prepare``) resolves the
policy, probes the host and compiles once; ``Sandbox(prepared)`` launches exactly that plan.
``Sandbox(policy, project=..., command=...)`` is the convenience that prepares at start.

Order of start: prepare (check the project, probe the host, sweep stale work dirs, probe the
policy's paths, compile) or, for a prepared session, check its project again; create this
session's work dir at the path the plan was compiled with, check the binds and the bind
sources, deliver secrets, snapshot the protected paths (before bwrap makes the
placeholders); spawn bwrap, held on its block fd. bwrap then spends 15-20 ms setting up its
mounts on another core, and what the command must not start without is done meanwhile:
audit ``start`` (with the events held until then), check the command exists inside,
snapshot the project's git state, read the child pid, set up the network, register the
session, apply the limits; then release, then start the filtered network's serving threads
(every socket listens already and its nft rules are in place: what connects meanwhile waits in
a backlog). Nothing the sandbox can do happens before the release: the command has not run,
and bwrap's setup makes only the placeholders, which the git snapshot does not read
(``runtime._githistory``). A start that fails before the ``start`` record still writes it,
then ``error``.
Teardown runs in reverse; every step runs even when an earlier one failed (failures are kept
in :attr:`Sandbox.cleanup_errors` and audited).
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the start-up path
# ruff: noqa: PTH117, PTH118

from __future__ import annotations

import contextlib
import enum
import os
import time
from collections.abc import Callable, Mapping, Sequence

from bwsandbox._errors import (
    LaunchError,
    NetworkError,
    SandboxError,
    WorkspaceError,
)
from bwsandbox.policy import NetworkMode, Policy
from bwsandbox.runtime._launch import BwrapProcess, Stdio, diagnose, launch, preflight
from bwsandbox.runtime._launcher import (
    bwrap_message,
    exit_code,
    exit_record,
    setup_error,
    start_record,
)
from bwsandbox.runtime._protect import ProtectedPaths
from bwsandbox.runtime._workdir import (
    Workdir,
    create_workdir,
    keep_workdir,
    remove_workdir,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from typing import Any

    from bwsandbox._audit import AuditLog, AuditSink
    from bwsandbox.compile._facts import HostFacts
    from bwsandbox.compile._plan import SandboxPlan
    from bwsandbox.net._ask import Question
    from bwsandbox.runtime._cast import Recorder
    from bwsandbox.runtime._limits import AppliedLimits
    from bwsandbox.runtime._prepared import Prepared
    from bwsandbox.runtime._supervise import Relay, Supervisor
    from bwsandbox.runtime._tty import Pty

if not TYPE_CHECKING:  # the same numbers, without building signal's enums (0.4-0.7 ms)
    import _signal as signal

__all__ = ["TIMEOUT_STATUS", "Sandbox", "SandboxState"]

#: session ids of prepared sessions started in this process (one start per session id)
_STARTED: set[str] = set()

#: exit status when the wall-clock limit (``limits.timeout``) ended the command, as timeout(1)
TIMEOUT_STATUS = 124


class SandboxState(enum.Enum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


class Sandbox:
    """Run one prepared session (:func:`bwsandbox.prepare`): the plan, launched as compiled.

    ``with Sandbox(bwsandbox.prepare(["make"])) as sb: status = sb.wait()``

    With a :class:`~bwsandbox.Policy` instead (``Sandbox(policy, project=".",
    command=["make"])``) the sandbox prepares itself at start, with ``project``, ``command``,
    ``client`` and ``interactive`` (None: whether its stdin and stdout are terminals). A
    prepared session has these already: passing them too is a TypeError.
    """

    def __init__(
        self,
        source: Prepared | Policy,
        *,
        project: str | os.PathLike[str] | None = None,
        command: Sequence[str] = (),
        client: str | None = None,
        interactive: bool | None = None,
        keep_workdir: bool = False,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        audit: AuditSink | None = None,
        environ: Mapping[str, str] | None = None,
        capture_output: bool = False,
        input: bytes | None = None,  # noqa: A002 (subprocess's name)
        stop_timeout: float = 5.0,
        forward_signals: bool = True,
        record: bool = False,
        record_input: bool = False,
        on_ask: Callable[[Question], object] | None = None,
    ) -> None:
        #: decides held questions of ask on first use (``network.unlisted = "ask"``): gets a
        #: :class:`~bwsandbox.Question`, returns a :class:`~bwsandbox.Decision`
        self.on_ask = on_ask
        if isinstance(source, Policy):
            if project is None:
                raise TypeError("Sandbox(policy, ...) needs project=")
            self._prepared: Prepared | None = None
            self.policy = source
            self.project = os.fspath(project)
            self.command = tuple(command)
            self.client = "default" if client is None else client
            self.interactive = interactive
            self._session_id = os.urandom(6).hex()
        else:
            given = (project is not None, bool(command), client is not None)
            if any(given) or interactive is not None:
                raise TypeError(
                    "a prepared session has its project, command, client and terminal: "
                    "pass them to bwsandbox.prepare()"
                )
            if source.interactive and (capture_output or input is not None):
                raise TypeError("a session prepared interactive cannot capture output or input")
            self._prepared = source
            self.policy = source.policy
            self.project = source.project
            self.command = source.workspace.command
            self.client = source.client
            self.interactive = source.interactive
            self._session_id = source.session_id
        self.keep_workdir = keep_workdir
        self.stdio = (stdin, stdout, stderr)
        self.environ = environ
        self.capture_output = capture_output
        self.input = input
        self.stop_timeout = stop_timeout
        self.forward_signals = forward_signals
        #: record the terminal output (asciicast v2, ``session.cast`` in the session dir);
        #: ``record_input`` also records keystrokes (passwords included) and implies it
        self.record = record or record_input
        self.record_input = record_input
        #: the recording's path once started (None: not recording)
        self.recording: str | None = None
        self._recorder: Recorder | None = None
        self._started: float | None = None
        self.state = SandboxState.CREATED
        self.returncode: int | None = None
        self.cleanup_errors: list[str] = []
        #: what the user should know after the session (protected paths changed, ...)
        self.warnings: list[str] = []
        self.stdout_data: bytes | None = None
        self.stderr_data: bytes | None = None
        self._audit = audit
        self._own_audit: AuditLog | None = None  # the log this sandbox opened, closed here
        self._begun = False  # the "start" record is written
        self._held = _Held()  # events made before it (secrets, recording)
        self._stack = contextlib.ExitStack()
        self._plan: SandboxPlan | None = None
        self._workdir: str | None = None
        self._process: BwrapProcess | None = None
        self._supervisor: Supervisor | None = None
        self._limits: AppliedLimits | None = None
        self._deadline: float | None = None  # the wall-clock limit (limits.timeout)
        #: True when the wall-clock limit ended the command (exit status 124)
        self.timed_out = False
        self._sinks: tuple[bytearray | None, bytearray | None] = (None, None)
        self._child_ends: list[int] = []  # our copies of fds only bwrap should hold
        self._stack.callback(self._close_child_ends)

    # -- properties ----------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def plan(self) -> SandboxPlan:
        if self._plan is None:
            raise LaunchError("the sandbox has no plan yet", hint="call start() first")
        return self._plan

    @property
    def workdir(self) -> str | None:
        return self._workdir

    @property
    def prepared(self) -> Prepared | None:
        """The session as prepared (policy, host facts, workspace, plan); None before start
        when the sandbox was given a policy."""
        return self._prepared

    @property
    def pid(self) -> int | None:
        """bwrap's pid on the host (None before start)."""
        return None if self._process is None else self._process.pid

    @property
    def child_pid(self) -> int | None:
        """Host pid of the sandbox's pid 1 (from bwrap's info fd)."""
        return None if self._process is None else self._process.child_pid

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.state is not SandboxState.CREATED:
            raise LaunchError(f"the sandbox was already started (state {self.state.value})")
        self.state = SandboxState.STARTING
        try:
            self._start()
        except BaseException as exc:
            self.state = SandboxState.FAILED
            if self._plan is not None and not self._begun:
                with contextlib.suppress(SandboxError):  # the error to report is exc
                    self._begin_audit()
            if self._begun and self._audit is not None:
                self._audit.event("error", error=str(exc) or type(exc).__name__)
            self._stack.close()
            raise
        self.state = SandboxState.RUNNING

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the command; its exit status (128+N for signal N). TimeoutError on timeout."""
        if self.state is not SandboxState.RUNNING:
            if self.returncode is not None:
                return self.returncode
            raise LaunchError(f"the sandbox is not running (state {self.state.value})")
        assert self._supervisor is not None
        try:
            code = self._run(timeout)
        except TimeoutError:
            raise
        except BaseException:
            self._fail()
            raise
        return self._finish(code)

    def stop(self) -> None:
        """TERM the command, wait ``stop_timeout``, KILL, wait; then tear everything down."""
        if self.state is SandboxState.RUNNING:
            assert self._supervisor is not None
            try:
                self._supervisor.signal_sandbox(signal.SIGTERM)
                try:
                    code = self._supervisor.run(self.stop_timeout)
                except TimeoutError:
                    self._kill()
                    code = self._supervisor.run()
            except BaseException:
                self._fail()
                raise
            self._finish(code, check_setup=False)
        elif self.state is not SandboxState.STOPPED:
            self._stack.close()

    # -- start ---------------------------------------------------------------------------

    def _start(self) -> None:
        environ = dict(os.environ if self.environ is None else self.environ)
        prepared = self._prepare(environ)  # stale work dirs were swept before its probe
        workdir, prepared = _create_workdir(prepared)
        self._prepared, self._session_id, facts = prepared, prepared.session_id, prepared.facts
        self._workdir = workdir.path
        if self.keep_workdir:
            self._teardown(lambda: keep_workdir(workdir.path))
        else:
            self._teardown(lambda: remove_workdir(workdir.path))
        project, interactive, plan = prepared.project, prepared.interactive, prepared.plan
        _check_binds(plan, environ)
        self._plan = plan
        self._teardown(self._close_audit)  # after every step that writes to it
        if self.record:
            self._open_recorder(plan, self._held, interactive)
        preflight(plan)
        launch_plan, injections = _deliver_secrets(plan, environ, self._session_id, self._held)
        launch_plan, ca = _session_ca(launch_plan, environ, self._session_id)
        guard = ProtectedPaths(plan, self._session_id)  # before bwrap makes the placeholders
        guard.record(workdir.path)
        history: Any = None
        early_git = _git_placeholders(plan.placeholders)
        if early_git:  # bwrap would make what the git snapshot reads: snapshot it first
            history = self._git_snapshot(plan, guard.since)
        settle = contextlib.ExitStack()  # what runs once bwrap is reaped (its place: here)
        self._stack.callback(settle.close)
        stdio, prefix, pty, relays = self._stdio(plan, interactive)
        self._teardown(self._close_limits)  # here: it runs after bwrap is reaped
        # bwrap starts now and sets up its mounts on another core (15-20 ms) while we finish
        # what must be done before its command runs, which waits for release()
        process = launch(launch_plan, stdio, command_prefix=prefix, read_pid=False)
        self._process = process
        self._teardown(self._reap)
        self._close_child_ends()
        if pty is not None:
            pty.close_slave()
        audit = self._begin_audit()
        self._started = time.monotonic()
        from bwsandbox.runtime._resolve import resolve_command

        resolve_command(plan.command, plan)
        if not early_git:
            history = self._git_snapshot(plan, guard.since)
        if history is not None:  # runs after _settle (teardown is in reverse)
            from bwsandbox.runtime._githistory import settle_git

            self._teardown(lambda: self.warnings.extend(settle_git(history, audit)), settle)
        self._teardown(lambda: self._settle(guard, audit), settle)
        if guard.roots:  # loaded now, not at the end: the scan for planted repositories
            import bwsandbox.runtime._nested  # noqa: F401
        from bwsandbox.runtime._supervise import Supervisor

        self._supervisor = Supervisor(
            process, pty=pty, relays=relays, forward_signals=self.forward_signals
        )
        self._teardown(self._supervisor.close)
        child_pid = process.wait_child_pid()
        if child_pid is None:
            raise self._setup_error(exit_code(process.wait()))
        serve: Callable[[], None] | None = None
        if plan.network.mode is NetworkMode.FILTERED:
            # the namespace helper first: it works on the other core while we load the rest
            helper = _start_helper(child_pid)
            if helper is not None:
                self._teardown(helper.close)
            network = _open_network(
                plan,
                audit,
                self._session_id,
                injections,
                self.policy.network.quiet,
                ca=ca,
                helper=helper,
            )
            _serve_live_changes(
                network, facts.runtime_dir, self._session_id, self.policy, self.on_ask
            )
            self._teardown(lambda: self.warnings.extend(_close_network(network, audit)))
            # attached: the namespace is configured and every socket listens; the threads
            # that answer them start after the release (a connection waits in its backlog)
            serve = getattr(network, "serve", None)  # test fakes of the network layer: none
            try:
                if serve is None:
                    network.attach(child_pid)
                else:
                    network.attach(child_pid, serve=False)
            except NetworkError:
                if _gone(child_pid):  # bwrap failed after telling its pid: say why
                    raise self._setup_error(exit_code(process.wait())) from None
                raise
        self._register(facts, plan, project, process.pid, child_pid)
        if plan.limits:
            self._apply_limits(plan, child_pid, audit)
        process.release()
        if serve is not None:
            serve()  # ProxyError: the command is stopped, its egress never opened

    def _git_snapshot(self, plan: SandboxPlan, since: float) -> Any:
        from bwsandbox.runtime._githistory import git_guard

        return git_guard(plan.protected, self._session_id, since)

    def _register(
        self, facts: HostFacts, plan: SandboxPlan, project: str, bwrap: int, init: int
    ) -> None:
        """Record the running sandbox for ``ps``/``exec``/``stop``; removed at teardown."""
        from bwsandbox._paths import record_key
        from bwsandbox.compile import Fd
        from bwsandbox.policy import SecretDelivery
        from bwsandbox.runtime._registry import register, unregister

        filters = {o.fd for o in plan.options if isinstance(o, Fd) and o.name == "--seccomp"}
        path = register(
            facts.runtime_dir,
            session=self._session_id,
            client=self.client,
            policy=self.policy.name,
            project=project,
            network=plan.network.mode.value,
            bwrap_pid=bwrap,
            init_pid=init,
            env=plan.env,
            cwd=plan.cwd,
            uid=plan.user.uid,
            gid=plan.user.gid,
            key=record_key(),
            seccomp=b"".join(d.content for d in plan.data if d.fd in filters),
            hidden=(u.env for u in plan.secrets if u.deliver is SecretDelivery.ENV),
        )
        self._teardown(lambda: unregister(path))

    def _apply_limits(self, plan: SandboxPlan, pid: int, audit: AuditSink) -> None:
        from bwsandbox.runtime._limits import apply_limits, is_host_root, unenforced

        _wait_for_setup(pid)  # an rlimit (nofile) set during bwrap's mounts would fail them

        self._limits = apply_limits(
            plan.limits, pid, session=self._session_id, is_root=is_host_root()
        )
        for record in unenforced(self._limits.records):  # only when limits.strict is false
            self.warnings.append(f"limit {record.limit} {record.value} is {record.how}")
        audit.event(
            "limits",
            limits={r.limit: {"value": r.value, "how": r.how} for r in self._limits.records},
        )
        if plan.limits.timeout is not None:
            self._deadline = time.monotonic() + plan.limits.timeout

    def _close_limits(self) -> None:
        if self._limits is not None:
            self._limits.close()

    def _run(self, timeout: float | None) -> int:
        """The supervisor's run, bounded by the wall-clock limit: TERM, KILL, then 124."""
        assert self._supervisor is not None
        if self._deadline is None:
            return self._supervisor.run(timeout)
        remaining = max(0.0, self._deadline - time.monotonic())
        if timeout is not None and timeout < remaining:
            return self._supervisor.run(timeout)
        try:
            return self._supervisor.run(remaining)
        except TimeoutError:
            pass
        self.timed_out = True
        if self._audit is not None:
            self._audit.event("timeout", after=self.plan.limits.timeout)
        self._supervisor.signal_sandbox(signal.SIGTERM)
        try:
            self._supervisor.run(self.stop_timeout)
        except TimeoutError:
            self._kill()
            self._supervisor.run()
        return TIMEOUT_STATUS

    def _settle(self, guard: ProtectedPaths, audit: AuditSink) -> None:
        for warning in guard.settle():
            self.warnings.append(warning)
            audit.event("protected-path", message=warning)

    def _prepare(self, environ: Mapping[str, str]) -> Prepared:
        """The prepared session: made here for a policy; for a prepared one, its project
        checked again (a path swapped for a symlink since then is refused)."""
        from bwsandbox._guard import check_project

        if self._prepared is None:
            from bwsandbox.runtime._prepared import prepare_policy

            return prepare_policy(
                self.policy,
                project=self.project,
                command=self.command,
                client=self.client,
                interactive=self._interactive(),
                environ=environ,
                session_id=self._session_id,
            )
        prepared = self._prepared
        if not os.path.isabs(prepared.workdir):
            raise LaunchError(
                f"this session was prepared with the symbolic work dir {prepared.workdir!r}",
                hint="prepare it without workdir= to run it",
            )
        if check_project(prepared.project, environ) != prepared.project:
            raise WorkspaceError(
                f"the project {prepared.project} changed since the session was prepared",
                hint="prepare the session again",
            )
        if prepared.session_id in _STARTED:  # started before: a new session, same decisions
            prepared = prepared.renewed()
        _STARTED.add(prepared.session_id)
        return prepared

    def _interactive(self) -> bool:
        if self.capture_output or self.input is not None:
            return False
        if self.interactive is not None:
            return self.interactive
        stdin, stdout, _ = self.stdio
        return os.isatty(0 if stdin is None else stdin) and os.isatty(
            1 if stdout is None else stdout
        )

    def _begin_audit(self) -> AuditSink:
        """Open the audit log (unless given one), write ``start``, then the held events."""
        audit = self._open_audit()
        if self._begun:
            return audit
        plan, prepared = self.plan, self._prepared
        assert prepared is not None  # set with the plan
        from bwsandbox.policy import policy_digest

        audit.event(
            "start",
            **start_record(
                policy=self.policy.name,
                policy_digest=policy_digest(self.policy),
                sources=self.policy.sources,
                argv=plan.argv(),
                command=plan.command,
                network=plan.network.mode.value,
                project=prepared.project,
                workdir=prepared.workdir,
                interactive=prepared.interactive,
                client=self.client,
            ),
        )
        self._begun = True
        for event, fields in self._held.events:
            audit.event(event, **fields)
        self._held.events.clear()
        return audit

    def _open_audit(self) -> AuditSink:
        if self._audit is not None:
            return self._audit
        from bwsandbox._audit import AuditLog
        from bwsandbox._paths import session_dir

        path = os.path.join(session_dir(self.client, self._session_id), "audit.jsonl")
        try:
            log = AuditLog(path, self._session_id)
        except OSError as exc:
            raise WorkspaceError(f"cannot write the audit log {path}: {exc.strerror}") from exc
        self._audit = self._own_audit = log
        return log

    def _close_audit(self) -> None:
        if self._own_audit is not None:
            self._own_audit.close()

    def _open_recorder(self, plan: SandboxPlan, audit: AuditSink, interactive: bool) -> None:
        from bwsandbox._paths import session_dir
        from bwsandbox.runtime._cast import CAST_NAME, Recorder

        out = self.stdio[1]
        try:
            cols, rows = os.get_terminal_size(1 if out is None else out)
        except OSError:
            cols, rows = 80, 24
        env = dict(plan.env)
        recorder = Recorder(
            os.path.join(session_dir(self.client, self._session_id), CAST_NAME),
            width=cols,
            height=rows,
            title=f"agent-sandbox {self.client}/{self._session_id}: {' '.join(plan.command)}",
            env=env,
            record_input=self.record_input and interactive,
        )
        self._recorder = recorder
        self.recording = recorder.path
        self._teardown(lambda: self._close_recorder(recorder))
        audit.event("record", path=recorder.path, input=recorder.input)

    def _close_recorder(self, recorder: Recorder) -> None:
        recorder.close()
        if recorder.error:
            self.warnings.append(recorder.error)

    def _stdio(
        self, plan: SandboxPlan, interactive: bool
    ) -> tuple[Stdio, tuple[str, ...], Pty | None, list[Relay]]:
        stdin, stdout, stderr = self.stdio
        if interactive:
            return self._pty_stdio(
                plan, 0 if stdin is None else stdin, 1 if stdout is None else stdout
            )
        relays: list[Relay] = []
        tap = None if self._recorder is None else self._recorder.output
        if self.input is not None or self.capture_output:
            from bwsandbox.runtime._supervise import Relay
        if self.input is not None:
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(write_end, False)
            relays.append(Relay(None, dst=write_end, buf=bytearray(self.input), close_dst=True))
            self._child_ends.append(read_end)
            stdin = read_end
        if self.capture_output:
            sinks = (bytearray(), bytearray())
            self._sinks = sinks
            ends = []
            for sink in sinks:
                read_end, write_end = os.pipe2(os.O_CLOEXEC)
                os.set_blocking(read_end, False)
                relays.append(
                    Relay(read_end, sink=sink, close_src=True, from_sandbox=True, tap=tap)
                )
                self._child_ends.append(write_end)
                ends.append(write_end)
            stdout, stderr = ends
        elif tap is not None or self._filters_terminal(stdout, stderr):
            # recorded, or a terminal to protect: relayed by the supervisor to where they go
            stdout, stderr = self._relayed_output(relays, tap, stdout, stderr)
        return Stdio(stdin, stdout, stderr), (), None, relays

    def _filters_terminal(self, *fds: int | None) -> bool:
        """True when the terminal filter is on and one of ``fds`` (None: 1, 2) is a tty."""
        if not self.policy.hardening.terminal_filter:
            return False
        return any(os.isatty(n + 1 if fd is None else fd) for n, fd in enumerate(fds))

    def _terminal_filter(self, fd: int) -> Callable[[bytes], bytes] | None:
        """The filter for output relayed to ``fd`` (a fresh one per stream), or None."""
        if not self.policy.hardening.terminal_filter or not os.isatty(fd):
            return None
        from bwsandbox.runtime._termfilter import TermFilter

        return TermFilter().feed

    def _relayed_output(
        self,
        relays: list[Relay],
        tap: Callable[[bytes], None] | None,
        stdout: int | None,
        stderr: int | None,
    ) -> list[int]:
        """stdout and stderr relayed by the supervisor: recorded (pipes), or filtered for the
        user's terminal (a private pty, so the command still sees a terminal there); one
        stream when both go to the same place, so their order is kept. A stream that is
        neither recorded nor a terminal keeps its own fd."""
        out = 1 if stdout is None else stdout
        err = 2 if stderr is None else stderr
        try:
            same = os.path.samestat(os.fstat(out), os.fstat(err))
        except OSError:
            same = False
        ends: list[int] = []
        from bwsandbox.runtime._supervise import Relay

        for target in (out,) if same else (out, err):
            clean = self._terminal_filter(target)
            if clean is not None:
                from bwsandbox.runtime._tty import open_output_pty

                pty = open_output_pty(target)
                self._teardown(pty.close)
                read_end, write_end, owned = pty.master, pty.slave, False
                pty.slave = -1  # closed with the other child ends once bwrap has it
            elif tap is not None:
                read_end, write_end = os.pipe2(os.O_CLOEXEC)
                os.set_blocking(read_end, False)
                owned = True
            else:
                ends.append(target)
                continue
            relays.append(
                Relay(
                    read_end,
                    dst=target,
                    close_src=owned,
                    from_sandbox=True,
                    tap=tap,
                    clean=clean,
                )
            )
            self._child_ends.append(write_end)
            ends.append(write_end)
        return ends * 2 if same else ends

    def _pty_stdio(
        self, plan: SandboxPlan, in_fd: int, out_fd: int
    ) -> tuple[Stdio, tuple[str, ...], Pty, list[Relay]]:
        from bwsandbox.runtime._resolve import resolve_command
        from bwsandbox.runtime._supervise import Relay
        from bwsandbox.runtime._tty import HostTerminal, open_pty  # interactive sessions only

        host = HostTerminal(in_fd, out_fd) if os.isatty(in_fd) and os.isatty(out_fd) else None
        pty = open_pty(host)
        self._teardown(pty.close)
        if host is not None:
            host.enter_raw()
            self._teardown(host.restore)
        recorder = self._recorder
        typed = recorder.keystrokes if recorder is not None and recorder.input else None
        shown = None if recorder is None else recorder.output
        relays = [
            Relay(in_fd, dst=pty.master, tap=typed),
            Relay(
                pty.master,
                dst=out_fd,
                from_sandbox=True,
                tap=shown,
                clean=self._terminal_filter(out_fd),
            ),
        ]
        if recorder is not None:
            pty.on_resize = recorder.resize
        try:
            setsid = resolve_command(("setsid",), plan)
        except SandboxError:
            setsid = None
        if setsid is None:  # no util-linux inside: bwrap's session gets the pty directly
            return Stdio(ctty_path=pty.slave_path), (), pty, relays
        return Stdio(pty.slave, pty.slave, pty.slave), (setsid, "-c"), pty, relays

    # -- teardown ------------------------------------------------------------------------

    def _teardown(
        self, step: Callable[[], object], stack: contextlib.ExitStack | None = None
    ) -> None:
        """Register a teardown step whose failure is recorded, never skipping later steps
        (on ``stack``, a nested one that runs in its place, or the sandbox's own)."""

        def run() -> None:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - recorded, and the next step still runs
                self.cleanup_errors.append(str(exc))

        (self._stack if stack is None else stack).callback(run)

    def _reap(self) -> None:
        process = self._process
        if process is None:
            return
        try:
            if process.poll() is None:
                process.kill(signal.SIGKILL)
                process.wait()
        finally:
            process.close()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill(signal.SIGKILL)

    def _fail(self) -> None:
        self.state = SandboxState.FAILED
        self._stack.close()

    def _finish(self, code: int, *, check_setup: bool = True) -> int:
        stdout_sink, stderr_sink = self._sinks
        self.stdout_data = None if stdout_sink is None else bytes(stdout_sink)
        self.stderr_data = None if stderr_sink is None else bytes(stderr_sink)
        error: LaunchError | None = None
        if check_setup and self._process is not None and self._process.setup_failed():
            error = self._setup_error(code)
        self.returncode = code
        if self._audit is not None:
            duration = None if self._started is None else time.monotonic() - self._started
            fields = exit_record(code, duration=duration, error="" if error is None else str(error))
            self._audit.event("exit", **fields)
        self.state = SandboxState.FAILED if error else SandboxState.STOPPED
        self._stack.close()
        if self.cleanup_errors and self._audit is not None:
            for problem in self.cleanup_errors:
                self._audit.event("cleanup-error", error=problem)
        if error is not None:
            raise error
        return code

    def _close_child_ends(self) -> None:
        for fd in self._child_ends:
            _close_quietly(fd)
        self._child_ends.clear()

    def _setup_error(self, code: int) -> LaunchError:
        message = bwrap_message(self.stderr_data)
        if not message and self._plan is not None:
            message = diagnose(self._plan)
        return setup_error(code, message)


#: what the git snapshot (``runtime._githistory``) reads in a ``.git``: the first name below it
_GIT_READ = ("HEAD", "index", "refs", "packed-refs", "objects", "commondir", "gitdir")


def _git_placeholders(placeholders: Sequence[tuple[str, str]]) -> bool:
    """Whether bwrap would make a placeholder the git snapshot reads (a ``.git`` itself, or
    one of :data:`_GIT_READ` in one): then the snapshot is taken before the spawn. The
    shipped policies' placeholders in ``.git`` (hooks, config, config.worktree, worktrees)
    are not read by it, so it usually runs while bwrap sets up."""
    for path, _ in placeholders:
        parts = path.rstrip("/").split("/")
        for index, part in enumerate(parts):
            if part == ".git" and (index + 1 == len(parts) or parts[index + 1] in _GIT_READ):
                return True
    return False


class _Held:
    """An audit sink that keeps the events made before the ``start`` record is written
    (after bwrap is spawned): secret delivery, the recording."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def event(self, event: str, /, **fields: Any) -> None:
        self.events.append((event, fields))


def _create_workdir(prepared: Prepared) -> tuple[Workdir, Prepared]:
    """The work dir at the path the plan was compiled with; if something is there already
    (this prepared session started before), a renewed session with a fresh path."""
    for _ in range(3):
        parent, name = os.path.split(prepared.workdir)
        try:
            return create_workdir(parent, name=name), prepared
        except FileExistsError:
            prepared = prepared.renewed()
    raise WorkspaceError(f"cannot create a unique work dir in {parent}")


#: the sandbox's pid 1 waits in a pipe read only on its block fd, once bwrap's mounts are done
_SETUP_DONE = (b"anon_pipe_read", b"pipe_read", b"pipe_wait")


def _wait_for_setup(pid: int, patience: float = 5.0) -> None:
    """Wait until bwrap has set the sandbox up (its pid 1 blocks on the block fd), it is gone,
    or ``patience`` seconds have passed. The limits go on pid 1 before the release; put on
    it while bwrap still opens files (``/proc/self/mountinfo`` for each mount), a low
    ``nofile`` made bwrap fail."""
    path = f"/proc/{pid}/wchan"
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            where = os.read(fd, 256)
        finally:
            os.close(fd)
        if where in _SETUP_DONE or _gone(pid):
            return
        time.sleep(0.0005)


def _gone(pid: int) -> bool:
    """Whether the sandbox's first process has exited (bwrap failed during its setup)."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    return data.rsplit(b")", 1)[-1].split()[:1] in ([b"Z"], [b"X"])


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _check_binds(plan: SandboxPlan, environ: Mapping[str, str]) -> None:
    """No bind may expose the session records, their key, the plan cache or user policies."""
    from bwsandbox._guard import bind_exposure
    from bwsandbox.compile import MountKind

    binds = [
        (m.src, m.kind is MountKind.RW)
        for m in plan.mounts
        if m.kind in (MountKind.RO, MountKind.RW) and m.src
    ]
    reason = bind_exposure(binds, environ)
    if reason is not None:
        raise WorkspaceError(reason, hint="bind a directory below it, or something else")


def _close_network(network: Any, audit: AuditSink) -> list[str]:
    """Close the network session, audit its denial summary and return it for the user."""
    try:
        network.close()
    finally:
        lines: list[str] = list(network.summary())
        for line in lines:
            audit.event("network", summary=line)
    return lines


def _deliver_secrets(
    plan: SandboxPlan, environ: Mapping[str, str], session_id: str, audit: AuditSink
) -> tuple[SandboxPlan, tuple[Any, ...]]:
    """The plan to launch with its secrets filled in, and the proxy's injections."""
    if not plan.secrets and plan.ssh is None:
        return plan, ()
    from bwsandbox.runtime._secrets import deliver_secrets

    delivery = deliver_secrets(plan, environ, session_id=session_id, audit=audit)
    return delivery.plan, delivery.injections


def _session_ca(
    plan: SandboxPlan, environ: Mapping[str, str], session_id: str
) -> tuple[SandboxPlan, Any]:
    """For inspecting rules: the session's CA (host memory only) and the plan with the
    sandbox's CA bundle filled in (the host's bundle plus the CA's certificate)."""
    if not plan.network.inspecting:
        return plan, None
    from bwsandbox.net import fill_bundle

    return fill_bundle(plan, environ, session_id)


def _serve_live_changes(
    network: Any, runtime: str, session_id: str, policy: Policy, on_ask: Any = None
) -> None:
    """Let ``agent-sandbox allow``/``deny``/``watch`` reach this session (served once it
    attaches); ask on first use when the policy says ``network.unlisted = "ask"``."""
    from bwsandbox.net import control_path, limits_for

    if hasattr(network, "serve_control"):  # test fakes of the network layer have none
        network.serve_control(control_path(runtime, session_id), limits_for(policy))
    if policy.network.unlisted == "ask" and hasattr(network, "ask_unlisted"):
        from bwsandbox.policy import parse_duration

        network.ask_unlisted(parse_duration(policy.network.ask_timeout), callback=on_ask)


def _start_helper(pid: int) -> Any:
    """Fork the network namespace helper for ``pid`` now (``net.start_listeners``), before
    the network modules load; None when that cannot be done here (``attach`` then tries
    again and says why)."""
    try:
        from bwsandbox.net import start_listeners

        return start_listeners(pid)
    except (ImportError, OSError):
        return None


def _open_network(
    plan: SandboxPlan,
    audit: AuditSink,
    session_id: str,
    injections: tuple[Any, ...] = (),
    quiet: tuple[str, ...] = (),
    *,
    ca: Any = None,
    helper: Any = None,
) -> Any:
    try:
        from bwsandbox.net import open_network
    except ImportError as exc:
        raise NetworkError(
            "filtered networking is not available in this installation",
            hint="reinstall bwsandbox, or use --network none",
        ) from exc
    extra: dict[str, Any] = {}  # only what is set: test fakes take the minimal signature
    if injections:
        extra["injections"] = injections
    if quiet:
        extra["quiet"] = quiet
    if ca is not None:
        extra["ca"] = ca
    if helper is not None:  # the session's listeners are the forked helper's
        extra["listeners"] = lambda _pid: helper.listeners()
    return open_network(plan.network, audit=audit, session_id=session_id, **extra)

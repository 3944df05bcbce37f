"""One sandbox's filtered network: set up the namespace, serve it, report what was blocked."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable

from bwsandbox._audit import NullAudit
from bwsandbox._errors import NetworkError, ProxyError
from bwsandbox.net._allowlist import Allowlist
from bwsandbox.net._netns import Helper, start_listeners

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from bwsandbox._audit import AuditSink  # typing's Protocol: not at run time
    from bwsandbox.compile._plan import NetworkPlan
    from bwsandbox.net._ask import Asker, Callback, Hub
    from bwsandbox.net._control import ControlServer
    from bwsandbox.net._gate import Gate, Resolver
    from bwsandbox.net._injection import Injection
    from bwsandbox.net._listeners import Listeners, ListenersFactory
    from bwsandbox.net._live import LiveLimits
    from bwsandbox.net._serve import Server
    from bwsandbox.net._tls_ca import SessionCA

__all__ = ["NetworkSession", "SessionState", "open_network"]


class SessionState(enum.Enum):
    CREATED = "created"
    ATTACHED = "attached"  # configured, every socket listening; no thread answers yet
    SERVING = "serving"
    CLOSED = "closed"


class NetworkSession:
    """Filtered egress for one sandbox. ``attach(pid)`` once, ``close()`` at exit.

    Start-up is what a filtered ``run`` adds, so ``attach`` overlaps: the namespace helper
    is forked first (here, or by the runtime before this module loaded: ``listeners``), and
    while it works on the other core the gate is built, the serving loop's module loaded and
    the control socket bound. The gate is built on first use; the proxy and the DNS
    responder load with the first connection or lookup (:mod:`._serve`).
    """

    def __init__(
        self,
        plan: NetworkPlan,
        *,
        audit: AuditSink | None = None,
        session_id: str = "",
        resolver: Resolver | None = None,
        listeners: ListenersFactory | None = None,
        injections: Sequence[Injection] = (),
        quiet: Sequence[str] = (),
        ca: SessionCA | None = None,
    ) -> None:
        try:
            self._allowlist = Allowlist(plan.allow, plan.deny, plan.add_hosts)
        except ValueError as exc:
            raise NetworkError(f"invalid network rule: {exc}") from exc
        self.session_id = session_id
        self.quiet = tuple(quiet)
        self.state = SessionState.CREATED
        self._sink = audit or NullAudit()
        self._resolver = resolver
        self._injections = tuple(injections)
        self._gate: Gate | None = None
        self._hub: Hub | None = None
        self._audit: AuditSink = self._sink  # the live one (LiveAudit) once the gate exists
        #: the session's CA when an allow rule inspects HTTPS (the runtime put its
        #: certificate in the sandbox's CA bundle); minted here when none was given
        self.ca = ca
        if ca is not None or plan.inspecting:
            self._inspect(plan, ca)
        self._server: Server | None = None
        self._control_path = ""
        self._limits: LiveLimits | None = None
        self._control: ControlServer | None = None
        self.asker: Asker | None = None
        #: why live changes are not available ("" when they are, or were not asked for)
        self.control_error = ""
        self._open_listeners = listeners
        self._helper: Helper | None = None
        self.listeners: Listeners | None = None

    @property
    def gate(self) -> Gate:
        """Where every egress decision is made (:mod:`._gate`); built on first use."""
        if self._gate is None:
            from bwsandbox.net._ask import Hub, LiveAudit
            from bwsandbox.net._gate import Gate

            self._hub = Hub()
            live = LiveAudit(self._sink, self._hub)
            if self._resolver is None:
                gate = Gate(self._allowlist, live)
            else:
                gate = Gate(self._allowlist, live, resolver=self._resolver)
            gate.session = self.session_id
            if self._injections:
                from bwsandbox.net._inject import Injector

                gate.injector = Injector(self._injections)
            self._gate, self._audit = gate, live
        return self._gate

    @property
    def hub(self) -> Hub:
        """The live event stream (``agent-sandbox watch``): every ``net*`` event goes there."""
        self.gate  # noqa: B018 - made with the gate
        assert self._hub is not None
        return self._hub

    def _inspect(self, plan: NetworkPlan, ca: SessionCA | None) -> None:
        from bwsandbox.net._tls_ca import SessionCA
        from bwsandbox.net._tls_inspect import Inspector

        if ca is None:
            ca = SessionCA(self.session_id)
        self.ca = ca
        try:
            self.gate.inspector = Inspector(ca, plan.upstream_ca_file)
        except OSError as exc:  # ssl.SSLError included (ssl stays off the start-up path)
            raise NetworkError(
                f"cannot read network.upstream_ca_file {plan.upstream_ca_file!r}: {exc}",
                hint="name a readable PEM file of CA certificates",
            ) from exc

    def serve_control(self, path: str, limits: LiveLimits) -> None:
        """Serve live ``allow``/``deny`` at ``path`` (:mod:`._control`) once attached, within
        ``limits`` (:func:`bwsandbox.net._live.limits_for`)."""
        from bwsandbox._record import replace

        self._control_path = path
        # an inspecting rule can be added live only when the sandbox trusts the session's CA
        # (then _inspect gave the gate its inspector)
        self._limits = replace(limits, inspects=self.ca is not None)

    def ask_unlisted(
        self,
        timeout: float,
        *,
        callback: Callback | None = None,
        remembered: str | None = "",
    ) -> None:
        """Ask on first use: hold unlisted names until ``agent-sandbox watch`` or ``callback``
        answers, at most ``timeout`` seconds (:mod:`._ask`). ``remembered``: the policy file
        of "allow always" answers, read now and written by them ("": the user's,
        :func:`~bwsandbox.net._remember.allowed_path`; None: none)."""
        from bwsandbox.net._ask import Asker
        from bwsandbox.net._remember import allowed_path, read_allowed, remember

        path = allowed_path() if remembered == "" else remembered
        self.asker = Asker(
            timeout,
            hub=self.hub,
            audit=lambda **fields: self._audit.event("net-ask", **fields),
            allow_session=self._allow_live,
            remember=(lambda rule: remember(rule, path)) if path else None,
            callback=callback,
            permitted=self._askable,
        )
        self.gate.asker = self.asker
        if path:
            self._apply_remembered(path, read_allowed)

    def _refusal(self, rule: str) -> str:
        """Why ``rule`` may not be allowed live ("" when it may): the session's limits."""
        from bwsandbox._netrules import parse_rule
        from bwsandbox.net._live import Refused

        if self._limits is None:
            from bwsandbox.net._live import LiveLimits

            self._limits = LiveLimits()
        try:
            self._limits.check_allow(parse_rule(rule, allow=True))
        except (Refused, ValueError) as exc:
            return str(exc)
        return ""

    def _askable(self, rule: str) -> str:
        """Why ``rule`` is denied without asking ("" when it may be asked): a name of
        ``network.quiet`` (denied on purpose), or outside the session's limits."""
        from bwsandbox._netrules import parse_rule

        try:
            host = parse_rule(rule, allow=True).host
        except ValueError as exc:  # e.g. the host's loopback without a port
            return str(exc)
        for text in self.quiet:
            with contextlib.suppress(ValueError):
                if parse_rule(text).matches_name(host):
                    return f"denied on purpose: network.quiet {text}"
        return self._refusal(rule)

    def _allow_live(self, rule: str) -> str:
        from bwsandbox._netrules import parse_rule

        refusal = self._refusal(rule)
        if not refusal:
            self.gate.change("allow", [parse_rule(rule, allow=True)])
        return refusal

    def _apply_remembered(self, path: str, read: Callable[[str], tuple[str, ...]]) -> None:
        """The "allow always" rules of earlier sessions, within this session's limits."""
        try:
            texts = read(path)
        except (OSError, ValueError) as exc:
            self._audit.event("net-ask", op="remembered", rules=[], path=path, error=str(exc))
            return
        from bwsandbox._netrules import parse_rule

        kept = [text for text in texts if not self._refusal(text)]
        if kept:
            self.gate.change("allow", [parse_rule(text, allow=True) for text in kept])
        if texts:
            skipped = [text for text in texts if text not in kept]
            extra = (
                {"error": "outside this session's limits: " + ", ".join(skipped)} if skipped else {}
            )
            self._audit.event("net-ask", op="remembered", rules=kept, path=path, **extra)

    def attach(self, pid: int, *, serve: bool = True) -> None:
        """Configure the network namespace of ``pid`` (blocked bwrap child) and start serving.

        Raises NetworkError when the namespace cannot be configured, ProxyError when the
        listeners cannot be served; nothing is left running after a failure.

        ``serve=False`` stops short of the threads: the namespace is configured and every
        socket listens (the control socket too), so a connection made from now on waits in
        its backlog; :meth:`serve` then starts the threads that answer. The runtime lets the
        command go in between: a thread start is a hand-over that waits for the scheduler
        (milliseconds on a loaded machine), and the command need not wait for it.
        """
        if self.state is not SessionState.CREATED:
            raise NetworkError(f"network session already {self.state.value}")
        try:
            if self._open_listeners is None:
                self._helper = start_listeners(pid)  # forked: works while we go on
            # meanwhile, on this core: the gate, the proxy's modules, the control socket
            self.gate  # noqa: B018
            from bwsandbox.net._serve import Server

            if self._control_path:
                self._bind_control()
            if self._helper is None:
                assert self._open_listeners is not None
                listeners = self._open_listeners(pid)
            else:
                listeners = self._helper.listeners()
        except OSError as exc:
            self.close()
            raise NetworkError(
                f"cannot set up the sandbox network: {exc}",
                hint="run `agent-sandbox doctor`; use --network none to run without network",
            ) from exc
        except BaseException:
            self.close()
            raise
        self._server = Server(self.gate, listeners)
        self.listeners = listeners
        self.state = SessionState.ATTACHED
        if serve:
            self.serve()

    def serve(self) -> None:
        """Start the threads that answer the attached sockets (:meth:`attach` with
        ``serve=False``); ProxyError, with everything closed, when no thread can be had."""
        if self.state is not SessionState.ATTACHED:
            raise NetworkError(f"network session {self.state.value}, not attached")
        assert self._server is not None
        _raise_fd_limit()  # for the relayed connections: none before the threads serve
        try:
            self._server.start()
        except RuntimeError as exc:  # thread start failure
            self.close()
            raise ProxyError(f"cannot start the egress proxy: {exc}") from exc
        self.state = SessionState.SERVING
        if self._control is not None:
            try:
                self._control.serve()
            except RuntimeError as exc:
                self._control_unavailable(exc)

    def _bind_control(self) -> None:
        """Live ``allow``/``deny`` (:mod:`._control`); a failure leaves the session running
        without them (``agent-sandbox allow`` then says it cannot reach the session)."""
        from bwsandbox.net._control import ControlServer

        assert self._limits is not None  # serve_control set them
        control = ControlServer(
            self._control_path, self.gate.change, self._control_audit, self._limits
        )
        control.hub = self.hub
        control.asker = self.asker
        control.session = self.session_id
        self._control = control
        try:
            control.bind()
        except OSError as exc:
            self._control_unavailable(exc)

    def _control_audit(self, **fields: object) -> None:
        self._audit.event("net-change", **fields)

    def _control_unavailable(self, exc: Exception) -> None:
        if self._control is not None:
            self._control.stop()
            self._control = None
        self.control_error = f"live changes unavailable: {exc}"
        self._control_audit(op="unavailable", rules=[], error=str(exc))

    def close(self) -> None:
        """Stop serving and close every socket; safe to call more than once."""
        if self.asker is not None:
            self.asker.close()  # held requests are denied, not left waiting
        if self._hub is not None:
            self._hub.close()
        if self._control is not None:
            self._control.stop()
            self._control = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._helper is not None:
            self._helper.close()  # reaped here: it exited long ago
            self._helper = None
        self.state = SessionState.CLOSED

    def summary(self) -> list[str]:
        """Compact denial report: each blocked host and the ``--allow`` to permit it, the
        ``quiet`` names summed up in one line (:mod:`bwsandbox.net._summary`)."""
        if self._gate is None:
            return []  # never attached: nothing was decided
        denials, refused = self._gate.denials(), self._gate.refused_requests()
        if not denials and not refused:
            return []  # nothing blocked: the report's module is not loaded at teardown
        from bwsandbox.net._summary import request_lines, summary_lines

        return summary_lines(denials, self.quiet) + request_lines(refused)

    def __enter__(self) -> NetworkSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _raise_fd_limit(wanted: int = 65536) -> None:
    """Each relayed connection holds six descriptors (two sockets, two pipes): lift the soft
    limit towards the hard one so hundreds of concurrent connections do not hit EMFILE."""
    import resource  # here, after the release (attach(serve=False) then serve())

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def open_network(
    plan: NetworkPlan,
    *,
    audit: AuditSink | None = None,
    session_id: str = "",
    resolver: Resolver | None = None,
    listeners: ListenersFactory | None = None,
    injections: Sequence[Injection] = (),
    quiet: Sequence[str] = (),
    ca: SessionCA | None = None,
) -> NetworkSession:
    """A session for ``plan`` (mode filtered); nothing happens until :meth:`attach`.

    ``resolver`` (host-side name resolution) and ``listeners`` (where the sockets come from;
    :func:`~bwsandbox.net._listeners.loopback_listeners` is the fake; default: the namespace
    helper, :func:`~bwsandbox.net._netns.start_listeners`) are for tests.
    ``injections``: headers the proxy adds for secret injection endpoints (``_inject``).
    ``quiet``: names denied on purpose, left out of the suggestions (``network.quiet``).
    ``ca``: the session CA whose certificate the sandbox trusts (inspecting rules).
    """
    return NetworkSession(
        plan,
        audit=audit,
        session_id=session_id,
        resolver=resolver,
        listeners=listeners,
        injections=injections,
        quiet=quiet,
        ca=ca,
    )

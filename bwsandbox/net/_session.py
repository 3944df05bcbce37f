"""One sandbox's filtered network: set up the namespace, serve it, report what was blocked."""

from __future__ import annotations

import contextlib
import enum
import resource
import ssl
from typing import TYPE_CHECKING

from bwsandbox._audit import AuditSink, NullAudit
from bwsandbox._errors import NetworkError, ProxyError
from bwsandbox.net._allowlist import Allowlist
from bwsandbox.net._gate import Gate, Resolver
from bwsandbox.net._listeners import Listeners, ListenersFactory
from bwsandbox.net._live import LiveLimits
from bwsandbox.net._netns import open_listeners
from bwsandbox.net._serve import Server

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bwsandbox.compile._plan import NetworkPlan
    from bwsandbox.net._control import ControlServer
    from bwsandbox.net._injection import Injection
    from bwsandbox.net._tls_ca import SessionCA

__all__ = ["NetworkSession", "SessionState", "open_network"]


class SessionState(enum.Enum):
    CREATED = "created"
    SERVING = "serving"
    CLOSED = "closed"


class NetworkSession:
    """Filtered egress for one sandbox. ``attach(pid)`` once, ``close()`` at exit."""

    def __init__(
        self,
        plan: NetworkPlan,
        *,
        audit: AuditSink | None = None,
        session_id: str = "",
        resolver: Resolver | None = None,
        listeners: ListenersFactory = open_listeners,
        injections: Sequence[Injection] = (),
        quiet: Sequence[str] = (),
        ca: SessionCA | None = None,
    ) -> None:
        try:
            allowlist = Allowlist(plan.allow, plan.deny, plan.add_hosts)
        except ValueError as exc:
            raise NetworkError(f"invalid network rule: {exc}") from exc
        self.session_id = session_id
        self.quiet = tuple(quiet)
        self.state = SessionState.CREATED
        if resolver is None:
            self.gate = Gate(allowlist, audit or NullAudit())
        else:
            self.gate = Gate(allowlist, audit or NullAudit(), resolver=resolver)
        if injections:
            from bwsandbox.net._inject import Injector

            self.gate.injector = Injector(injections)
        #: the session's CA when an allow rule inspects HTTPS (the runtime put its
        #: certificate in the sandbox's CA bundle); minted here when none was given
        self.ca = ca
        if ca is not None or plan.inspecting:
            self._inspect(plan, ca)
        self._server: Server | None = None
        self._control_path = ""
        self._limits = LiveLimits()
        self._control: ControlServer | None = None
        self._audit = audit or NullAudit()
        #: why live changes are not available ("" when they are, or were not asked for)
        self.control_error = ""
        self._open_listeners = listeners
        self.listeners: Listeners | None = None

    def _inspect(self, plan: NetworkPlan, ca: SessionCA | None) -> None:
        from bwsandbox.net._tls_ca import SessionCA
        from bwsandbox.net._tls_inspect import Inspector

        if ca is None:
            ca = SessionCA(self.session_id)
        self.ca = ca
        try:
            self.gate.inspector = Inspector(ca, plan.upstream_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise NetworkError(
                f"cannot read network.upstream_ca_file {plan.upstream_ca_file!r}: {exc}",
                hint="name a readable PEM file of CA certificates",
            ) from exc

    def serve_control(self, path: str, limits: LiveLimits) -> None:
        """Serve live ``allow``/``deny`` at ``path`` (:mod:`._control`) once attached, within
        ``limits`` (:func:`bwsandbox.net._live.limits_for`)."""
        self._control_path = path
        self._limits = limits

    def attach(self, pid: int) -> None:
        """Configure the network namespace of ``pid`` (blocked bwrap child) and start serving.

        Raises NetworkError when the namespace cannot be configured, ProxyError when the
        listeners cannot be served; nothing is left running after a failure.
        """
        if self.state is not SessionState.CREATED:
            raise NetworkError(f"network session already {self.state.value}")
        try:
            listeners = self._open_listeners(pid)
        except OSError as exc:
            self.state = SessionState.CLOSED
            raise NetworkError(
                f"cannot set up the sandbox network: {exc}",
                hint="run `agent-sandbox doctor`; use --network none to run without network",
            ) from exc
        _raise_fd_limit()
        server = Server(self.gate, listeners)
        try:
            server.start()
        except RuntimeError as exc:  # thread start failure
            server.stop()
            self.state = SessionState.CLOSED
            raise ProxyError(f"cannot start the egress proxy: {exc}") from exc
        self._server = server
        self.listeners = listeners
        self.state = SessionState.SERVING
        if self._control_path:
            self._serve_control()

    def _serve_control(self) -> None:
        """Live ``allow``/``deny`` (:mod:`._control`); a failure leaves the session running
        without them (``agent-sandbox allow`` then says it cannot reach the session)."""
        from bwsandbox.net._control import ControlServer

        def audit(**fields: object) -> None:
            self._audit.event("net-change", **fields)

        control = ControlServer(self._control_path, self.gate.change, audit, self._limits)
        try:
            control.start()
        except (OSError, RuntimeError) as exc:
            control.stop()
            self.control_error = f"live changes unavailable: {exc}"
            audit(op="unavailable", rules=[], error=str(exc))
            return
        self._control = control

    def close(self) -> None:
        """Stop serving and close every socket; safe to call more than once."""
        if self._control is not None:
            self._control.stop()
            self._control = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.state = SessionState.CLOSED

    def summary(self) -> list[str]:
        """Compact denial report: each blocked host and the ``--allow`` to permit it, the
        ``quiet`` names summed up in one line (:mod:`bwsandbox.net._summary`)."""
        from bwsandbox.net._summary import request_lines, summary_lines

        lines = summary_lines(self.gate.denials(), self.quiet)
        return lines + request_lines(self.gate.refused_requests())

    def __enter__(self) -> NetworkSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _raise_fd_limit(wanted: int = 65536) -> None:
    """Each relayed connection holds six descriptors (two sockets, two pipes): lift the soft
    limit towards the hard one so hundreds of concurrent connections do not hit EMFILE."""
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
    listeners: ListenersFactory = open_listeners,
    injections: Sequence[Injection] = (),
    quiet: Sequence[str] = (),
    ca: SessionCA | None = None,
) -> NetworkSession:
    """A session for ``plan`` (mode filtered); nothing happens until :meth:`attach`.

    ``resolver`` (host-side name resolution) and ``listeners`` (where the sockets come from;
    :func:`~bwsandbox.net._listeners.loopback_listeners` is the fake) are for tests.
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

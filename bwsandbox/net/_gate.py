"""Decides, resolves, connects and records: the one place every egress decision is made.

Shared by the DNS responder and the proxy handlers (thread-safe). Every decision becomes an
audit event ``net`` and every denial is remembered for the summary shown at exit.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Sequence

from bwsandbox._netconst import HOST_LOOPBACK_NAME
from bwsandbox._netrules import IPAddress, Rule, normalize_name
from bwsandbox._record import record
from bwsandbox.net._allowlist import HOST_LOOPBACK, Allowlist, Verdict, suggest
from bwsandbox.net._ask import ASK_ONCE
from bwsandbox.net._names import SyntheticNames

TYPE_CHECKING = False  # not typing's: importing typing costs 2-3 ms of a filtered start
if TYPE_CHECKING:
    from typing import Any, Protocol

    from bwsandbox._audit import AuditSink
    from bwsandbox.net._ask import Asker
    from bwsandbox.net._injection import Injection

__all__ = ["Denial", "Denied", "Gate", "Resolver", "Upstream"]

Resolver = Callable[[str, int], Sequence[IPAddress]]
_CONNECT_TIMEOUT = 10.0
_TRACK_PRUNE = 256  # closed upstreams are dropped from the tracking list at this length


def _system_resolver(name: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _as_address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _overlap(a: Rule, b: Rule) -> bool:
    from bwsandbox.policy import covers

    return covers(a, b) or covers(b, a)


if TYPE_CHECKING:  # the types of the gate's optional parts (``_inject``, ``_tls_inspect``)

    class Endpoints(Protocol):
        """Names the proxy answers itself (secret injection, ``_inject.Injector``)."""

        def handles(self, name: str) -> bool: ...

        def endpoint_at(self, gate: Gate, address: IPAddress) -> str | None: ...

        def serve(self, gate: Gate, client: socket.socket, endpoint: str, head: bytes) -> None: ...

        def for_host(self, host: str, port: int) -> list[Injection]: ...

    class Inspecting(Protocol):
        """HTTPS inspection of a session (``_tls_inspect.Inspector``)."""

        def serve(
            self, gate: Gate, client: socket.socket, upstream: Upstream, first: bytes, proto: str
        ) -> None: ...


class Denied(Exception):  # noqa: N818 - control flow inside the proxy, never escapes it
    def __init__(
        self,
        host: str,
        port: int | None,
        reason: str,
        rule: str = "",
        *,
        failed: bool = False,
        smuggling: bool = False,
    ) -> None:
        super().__init__(f"{host}:{port} {reason}")
        self.host = host
        self.port = port
        self.reason = reason
        self.rule = rule
        self.failed = failed  # allowed, but the upstream could not be reached
        self.smuggling = smuggling  # SNI/Host contradicted the name: no --allow fixes that

    @property
    def by_deny_rule(self) -> bool:
        """Refused by a ``network.deny`` rule (``rule``): no ``--allow`` fixes that either."""
        return bool(self.rule) and self.reason.removeprefix("dns: ").startswith("denied ")


@record
class Upstream:
    """A connection the gate opened from the host, with what allowed it."""

    sock: socket.socket
    host: str  # the name asked for, or the address dialled
    port: int
    name: str | None  # the DNS name, when there is one: SNI and Host must match it
    rule: str
    address: str
    #: the inspecting rules every request must pass (empty: relayed untouched)
    inspect: tuple[Rule, ...] = ()


@record(frozen=False)
class Denial:
    """Refused destinations, counted for the summary shown at exit."""

    host: str
    port: int | None
    reason: str
    smuggling: bool = False
    count: int = 1


class Gate:
    def __init__(
        self,
        allowlist: Allowlist,
        audit: AuditSink,
        *,
        names: SyntheticNames | None = None,
        resolver: Resolver = _system_resolver,
    ) -> None:
        self.allowlist = allowlist
        self.names = names or SyntheticNames()
        self._audit = audit
        self._resolver = resolver
        self._lock = threading.Lock()
        self._denials: dict[tuple[str, int | None], Denial] = {}
        self._dns_seen: set[tuple[str, bool]] = set()
        #: secret injection endpoints (``HOST.proxy.internal``), see ``_inject``
        self.injector: Endpoints | None = None
        #: ask on first use (``_ask``): unlisted names are held until answered
        self.asker: Asker | None = None
        #: HTTPS inspection (``_tls_inspect``), when an allow rule inspects
        self.inspector: Inspecting | None = None
        #: the session's id, named in the ``agent-sandbox allow`` a denial suggests
        self.session = ""
        self._refused: dict[tuple[str, str, int, str], int] = {}
        self._base = allowlist
        self._live_allow: list[Rule] = []
        self._live_deny: list[Rule] = []
        self._upstreams: list[Upstream] = []  # open connections, for a live deny to cut

    # -- live changes --------------------------------------------------------------------
    def change(self, op: str, rules: Sequence[Rule]) -> int:
        """Allow or deny ``rules`` from now on (DNS and new connections); a deny also cuts
        the open connections the new rules refuse. Returns how many were cut.

        The allowlist is replaced as a whole, so a decision in flight sees the old rules or
        the new ones. A live allow takes back the earlier live denies that cover it or that
        it covers (the policy's own denies stay: :mod:`._live` refuses an allow inside one);
        a live deny takes back a live allow of the same rule (a deny wins anyway).
        """
        with self._lock:
            add, remove = (
                (self._live_allow, self._live_deny)
                if op == "allow"
                else (self._live_deny, self._live_allow)
            )
            for rule in rules:
                if op == "allow":  # a live deny that would still block it is taken back
                    remove[:] = [r for r in remove if not _overlap(r, rule)]
                elif rule in remove:
                    remove.remove(rule)
                if rule not in add:
                    add.append(rule)
            self.allowlist = self._base.changed(self._live_allow, self._live_deny)
            if op != "deny":
                return 0
            upstreams = [u for u in self._upstreams if u.sock.fileno() != -1]
            self._upstreams = upstreams
        cut = 0
        for upstream in upstreams:
            if not self._still_allowed(upstream):
                with contextlib.suppress(OSError):
                    upstream.sock.shutdown(socket.SHUT_RDWR)
                cut += 1
        return cut

    def _still_allowed(self, upstream: Upstream) -> bool:
        allowlist = self.allowlist
        address = ipaddress.ip_address(upstream.address)
        if upstream.name is not None:
            verdict = allowlist.check_name(upstream.name, upstream.port)
            # allowed once (ask on first use): it stays until a deny rule names it
            once = upstream.rule == ASK_ONCE and not verdict.rule
            if not verdict.allowed and not once:
                return False
        return allowlist.check_address(address, upstream.port, name=upstream.name).allowed

    # -- records -------------------------------------------------------------------------
    def audit(
        self, host: str, port: int | None, proto: str, verdict: Verdict, **extra: Any
    ) -> None:
        fields: dict[str, Any] = {
            "host": host,
            "port": port,
            "proto": proto,
            "decision": "allow" if verdict.allowed else "deny",
            "rule": verdict.rule,
        }
        if verdict.reason:
            fields["reason"] = verdict.reason
        self._audit.event("net", **fields, **extra)

    def deny(self, denied: Denied, proto: str, **extra: Any) -> None:
        if denied.failed:
            verdict = Verdict(True, denied.rule)
            self.audit(denied.host, denied.port, proto, verdict, error=denied.reason, **extra)
            return
        verdict = Verdict(False, denied.rule, denied.reason)
        self.audit(denied.host, denied.port, proto, verdict, **extra)
        with self._lock:
            key = (denied.host, denied.port)
            if key in self._denials:
                self._denials[key].count += 1
            else:
                unfixable = denied.smuggling or denied.by_deny_rule
                self._denials[key] = Denial(denied.host, denied.port, denied.reason, unfixable)

    def request(
        self, host: str, port: int, method: str, target: str, *, decision: str, **extra: Any
    ) -> None:
        """One request on an inspected connection: a ``request`` event; a refusal is kept
        for the exit summary. The path is logged without its query (it may carry tokens)."""
        path, _, query = target.partition("?")
        fields: dict[str, Any] = {
            "host": host,
            "port": port,
            "method": method,
            "path": path,
            "decision": decision,
        }
        if query:
            fields["query"] = True
        self._audit.event("request", **fields, **extra)
        if decision != "allow":
            with self._lock:
                key = (method, host, port, path)
                self._refused[key] = self._refused.get(key, 0) + 1

    def refused_requests(self) -> list[tuple[str, str, int, str, int]]:
        """(method, host, port, path, count) of each refused inspected request."""
        with self._lock:
            return [(*key, count) for key, count in self._refused.items()]

    def denials(self) -> list[Denial]:
        with self._lock:
            return list(self._denials.values())

    def summary(self) -> list[str]:
        """One line per blocked destination with the ``--allow`` that would permit it."""
        denials = self.denials()
        if not denials:
            return []
        lines = [f"network: blocked {len(denials)} destination(s); to permit them:"]
        for d in denials:
            where = d.host if d.port is None else f"{d.host}:{d.port}"
            times = f", {d.count}x" if d.count > 1 else ""
            fix = "(refused: not fixable by --allow)" if d.smuggling else suggest(d.host, d.port)
            lines.append(f"  {fix:<40} # {where}: {d.reason}{times}")
        return lines

    # -- ask on first use ----------------------------------------------------------------
    def decide(self, name: str, port: int | None, kind: str) -> Verdict:
        """The verdict for a name and port (``None``: a DNS lookup). When the session asks on
        first use, a name no rule decided is held for an answer (up to the ask bound)."""
        allowlist = self.allowlist
        verdict = allowlist.resolvable(name) if port is None else allowlist.check_name(name, port)
        if verdict.allowed or verdict.rule or self.asker is None:
            return verdict
        outcome = self.asker.ask(name, port, kind)
        return Verdict(outcome.allowed, outcome.rule, outcome.reason)

    def would_hold(self, name: str) -> bool:
        """Whether a lookup of ``name`` would be held (the DNS responder defers those)."""
        if self.asker is None or (self.injector is not None and self.injector.handles(name)):
            return False
        verdict = self.allowlist.resolvable(name)
        return not verdict.allowed and not verdict.rule

    # -- DNS -----------------------------------------------------------------------------
    def lookup(self, name: str) -> tuple[IPAddress, IPAddress] | None:
        """Synthetic addresses for an allowed name, ``None`` (NXDOMAIN) for any other."""
        if self.injector is not None and self.injector.handles(name):
            verdict = Verdict(True, "secret injection endpoint")
        else:
            verdict = self.decide(name, None, "dns")
        first = False
        with self._lock:
            key = (name, verdict.allowed)
            if key not in self._dns_seen:
                self._dns_seen.add(key)
                first = True
        if not verdict.allowed:
            if first:
                self.deny(Denied(name, None, "dns: " + verdict.reason, verdict.rule), "dns")
            else:
                with self._lock:
                    self._denials[(name, None)].count += 1
            return None
        if first:
            self.audit(name, None, "dns", verdict)
        return self.names.addresses(name)

    # -- connections ---------------------------------------------------------------------
    def open(self, target: str | IPAddress, port: int, kind: str = "tcp") -> Upstream:
        """Decide and connect to a name or address; raises :class:`Denied`.

        A synthetic address stands for its name. Errors connecting to an allowed
        destination are reported as denials too ("unreachable"), so the client fails fast.
        """
        if isinstance(target, str):
            address = _as_address(target)
            if address is None:
                try:
                    name = normalize_name(target)
                except ValueError:
                    raise Denied(target, port, "not a valid host name") from None
                return self._open_name(name, port, kind)
            target = address
        if self.names.is_synthetic(target):
            synthetic = self.names.name_for(target)
            if synthetic is None:
                raise Denied(str(target), port, "unknown synthetic address")
            return self._open_name(synthetic, port, kind)
        verdict = self.allowlist.check_address(target, port)
        if not verdict.allowed:
            raise Denied(str(target), port, verdict.reason, verdict.rule)
        return self._connect(str(target), port, None, verdict.rule, [target])

    def _open_name(self, name: str, port: int, kind: str) -> Upstream:
        verdict = self.decide(name, port, kind)
        if not verdict.allowed:
            raise Denied(name, port, verdict.reason, verdict.rule)
        pinned = self.allowlist.hosts.get(name)
        try:
            if pinned is not None:
                candidates = [pinned]
            elif name == HOST_LOOPBACK_NAME:
                candidates = list(HOST_LOOPBACK)  # the host's loopback, dialled from the host
            else:
                candidates = list(self._resolver(name, port))
        except OSError as exc:
            reason = f"cannot resolve on the host: {exc}"
            raise Denied(name, port, reason, verdict.rule, failed=True) from None
        usable = []
        reason = "no addresses"
        for address in candidates:
            check = self.allowlist.check_address(address, port, name=name)
            if check.allowed:
                usable.append(address)
            else:
                reason = f"resolves to {address}: {check.reason}"
        if not usable:
            raise Denied(name, port, reason, verdict.rule)
        return self._connect(name, port, name, verdict.rule, usable, inspect=verdict.inspect)

    def _connect(
        self,
        host: str,
        port: int,
        name: str | None,
        rule: str,
        addresses: list[IPAddress],
        *,
        inspect: tuple[Rule, ...] = (),
    ) -> Upstream:
        error: OSError | None = None
        for address in dict.fromkeys(addresses):
            family = socket.AF_INET if address.version == 4 else socket.AF_INET6
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(_CONNECT_TIMEOUT)
                sock.connect((str(address), port))
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            upstream = Upstream(sock, host, port, name, rule, str(address), inspect)
            with self._lock:
                if len(self._upstreams) >= _TRACK_PRUNE:
                    self._upstreams = [u for u in self._upstreams if u.sock.fileno() != -1]
                self._upstreams.append(upstream)
            if not self._still_allowed(upstream):  # a live deny came while connecting
                sock.close()
                raise Denied(host, port, "denied while connecting", rule)
            return upstream
        raise Denied(host, port, f"unreachable: {error}", rule, failed=True)

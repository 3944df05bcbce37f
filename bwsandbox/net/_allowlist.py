"""Allow/deny decisions for names and addresses (pure; no I/O).

Deny rules win over allow rules. Host-local and private destinations (loopback, link-local,
RFC 1918, CGNAT, ULA, the cloud metadata address...) are refused unless the policy names them
explicitly: an ``--add-host`` name, or an IP/CIDR rule that lies entirely inside such a range
(``0.0.0.0/0`` does not count).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from bwsandbox._netconst import HOST_LOOPBACK_NAME
from bwsandbox._netrules import IPAddress, IPNetwork, Rule, RuleKind, normalize_name, parse_rule
from bwsandbox._record import record

__all__ = ["HOST_LOOPBACK", "Allowlist", "Verdict", "is_special", "suggest"]

#: where ``host.agent-sandbox.internal`` leads: the host's loopback, dialled from the host
HOST_LOOPBACK: tuple[IPAddress, ...] = (
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv6Address("::1"),
)

#: not public (loopback, private, link-local, metadata, multicast...): parsed on first use,
#: by the first connection (19 networks: about 0.4 ms off a filtered start)
_SPECIAL_TEXT = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4", "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "100::/64",
    "fc00::/7", "fe80::/10", "ff00::/8",
)  # fmt: skip
_special_networks: tuple[IPNetwork, ...] = ()


def _special() -> tuple[IPNetwork, ...]:
    global _special_networks  # noqa: PLW0603 - a cache filled once (racing threads agree)
    if not _special_networks:
        _special_networks = tuple(ipaddress.ip_network(n) for n in _SPECIAL_TEXT)
    return _special_networks


def _unmap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_special(address: IPAddress) -> bool:
    """Loopback, private, link-local, metadata, multicast or otherwise not public."""
    address = _unmap(address)
    return any(address.version == n.version and address in n for n in _special())


def _explicit(rule: Rule) -> bool:
    net = rule.network
    return net is not None and any(
        net.version == n.version and net.subnet_of(n)  # type: ignore[arg-type]
        for n in _special()
    )


def _allows(rule: Rule, name: str, port: int | None = None) -> bool:
    """An allow rule's match; the host's loopback opens to its exact name only (deny rules,
    wildcards included, still match it)."""
    if name == HOST_LOOPBACK_NAME and rule.kind is not RuleKind.NAME:
        return False
    return rule.matches_name(name, port)


@record
class Verdict:
    """The allowlist's answer for one destination."""

    allowed: bool
    rule: str  # the rule that decided, "" for the default
    reason: str = ""
    #: when every allow rule that matched inspects requests: those rules (TLS is terminated
    #: and each request checked against them); empty when a plain rule allows the destination
    inspect: tuple[Rule, ...] = ()


def suggest(host: str, port: int | None) -> str:
    """The ``--allow`` that would permit ``host`` (and ``port``)."""
    if port is None:
        # the host's loopback opens one port at a time: a bare name would be refused
        return f"--allow {host}:PORT" if host == HOST_LOOPBACK_NAME else f"--allow {host}"
    if ":" in host:
        return f"--allow [{host}]:{port}"
    return f"--allow {host}:{port}"


class Allowlist:
    """The session's rules; immutable after construction, safe to share between threads."""

    def __init__(
        self,
        allow: Iterable[Rule],
        deny: Iterable[Rule] = (),
        add_hosts: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.allow = tuple(allow)
        self.deny = tuple(deny)
        self.hosts: dict[str, IPAddress] = {
            normalize_name(name): ipaddress.ip_address(ip) for name, ip in add_hosts
        }

    @classmethod
    def parse(
        cls,
        allow: Iterable[str],
        deny: Iterable[str] = (),
        add_hosts: Iterable[tuple[str, str]] = (),
    ) -> Allowlist:
        """From rule texts (tests and tools; a session gets the plan's parsed rules)."""
        return cls(
            (parse_rule(text, allow=True) for text in allow),
            (parse_rule(text) for text in deny),
            add_hosts,
        )

    def resolvable(self, name: str) -> Verdict:
        """May the sandbox resolve ``name`` (DNS)? Allowed names and ``--add-host`` names."""
        for rule in self.deny:
            if rule.ports is None and rule.matches_name(name):
                return Verdict(False, str(rule), "denied name")
        if name in self.hosts:
            return Verdict(True, "add-host")
        for rule in self.allow:
            if _allows(rule, name):
                return Verdict(True, str(rule))
        return Verdict(False, "", "name not allowed")

    def check_name(self, name: str, port: int) -> Verdict:
        for rule in self.deny:
            if rule.matches_name(name, port):
                return Verdict(False, str(rule), "denied name")
        matched = [rule for rule in self.allow if _allows(rule, name, port)]
        plain = [rule for rule in matched if not rule.inspecting]
        if plain:
            return Verdict(True, str(plain[0]))
        if matched:  # only inspecting rules: the union of what they let through
            return Verdict(True, str(matched[0]), inspect=tuple(matched))
        if any(_allows(rule, name) for rule in self.allow):
            return Verdict(False, "", "port not allowed")
        return Verdict(False, "", "name not allowed")

    def check_address(self, address: IPAddress, port: int, *, name: str | None = None) -> Verdict:
        """A destination address, dialled directly (``name=None``) or resolved from ``name``."""
        address = _unmap(address)
        for rule in self.deny:
            if rule.matches_address(address, port):
                return Verdict(False, str(rule), "denied address")
        if name is not None and self.hosts.get(name) == address:
            return Verdict(True, "add-host")
        if name == HOST_LOOPBACK_NAME and name not in self.hosts and address in HOST_LOOPBACK:
            return Verdict(True, "host loopback")
        special = is_special(address)
        for rule in self.allow:
            if rule.matches_address(address, port) and (not special or _explicit(rule)):
                return Verdict(True, str(rule))
        if name is not None and not special:
            return Verdict(True, "")
        if special:
            return Verdict(False, "", "private or host-local address")
        return Verdict(False, "", "address not allowed")

    def changed(self, allow: Iterable[Rule] = (), deny: Iterable[Rule] = ()) -> Allowlist:
        """A new allowlist with ``allow`` and ``deny`` appended (a live change; this one is
        left as it is, so a decision in flight sees either the old rules or the new ones)."""
        new = Allowlist(())
        new.allow = (*self.allow, *(r for r in allow if r not in self.allow))
        new.deny = (*self.deny, *(r for r in deny if r not in self.deny))
        new.hosts = self.hosts
        return new

    def explicitly_named(self) -> frozenset[str]:
        return frozenset(r.host for r in self.allow if r.kind is RuleKind.NAME)

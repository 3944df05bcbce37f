"""Allowlist rule grammar for ``network.allow`` / ``network.deny`` and ``--allow``.

::

    host                 example.com            any port
    host:port            example.com:443        one port (or a range: example.com:8000-8099)
    *.domain[:port]      *.example.com          every name below example.com (not itself)
    IPv4[/len][:port]    10.0.0.5, 10.0.0.0/8:22
    IPv6[/len]           2001:db8::1, 2001:db8::/32
    [IPv6[/len]]:port    [2001:db8::1]:443

``parse_rule(text)`` returns a :class:`Rule` or raises ``ValueError`` saying what was
expected; the policy loader turns that into a PolicyError with the key path.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass

from bwsandbox._netconst import HOST_LOOPBACK_NAME

__all__ = ["IPAddress", "IPNetwork", "Rule", "RuleKind", "normalize_name", "parse_rule"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_EXPECTED = "expected host, host:port, *.domain, IP, CIDR or [IPv6]:port"


class RuleKind(enum.StrEnum):
    NAME = "name"
    WILDCARD = "wildcard"
    NETWORK = "network"


@dataclass(frozen=True, slots=True)
class Rule:
    """One parsed rule; ``ports`` is an inclusive range, ``None`` for every port."""

    kind: RuleKind
    host: str  # the name, the wildcard's suffix (without "*."), or the network in CIDR form
    network: IPNetwork | None = None
    ports: tuple[int, int] | None = None

    def __str__(self) -> str:
        if self.kind is RuleKind.WILDCARD:
            host = f"*.{self.host}"
        elif self.network is not None:
            net = self.network
            host = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
            if net.version == 6 and self.ports is not None:
                host = f"[{host}]"
        else:
            host = self.host
        if self.ports is None:
            return host
        low, high = self.ports
        return f"{host}:{low}" if low == high else f"{host}:{low}-{high}"

    def covers_port(self, port: int) -> bool:
        return self.ports is None or self.ports[0] <= port <= self.ports[1]

    def matches_name(self, name: str, port: int | None = None) -> bool:
        """``port=None`` asks whether the name matches for some port (DNS)."""
        if port is not None and not self.covers_port(port):
            return False
        if self.kind is RuleKind.NAME:
            return name == self.host
        if self.kind is RuleKind.WILDCARD:
            return name.endswith("." + self.host)
        return False

    def matches_address(self, address: IPAddress, port: int) -> bool:
        return (
            self.network is not None
            and address.version == self.network.version
            and address in self.network
            and self.covers_port(port)
        )


def normalize_name(text: str) -> str:
    """Lower-case, no trailing dot; raises ``ValueError`` for what is not a DNS name."""
    name = text.lower().removesuffix(".")
    if not name or len(name) > 253:
        raise ValueError(f"{text!r} is not a valid host name")
    for label in name.split("."):
        if not _LABEL.fullmatch(label):
            raise ValueError(f"{text!r} is not a valid host name (bad label {label!r})")
    return name


def _parse_ports(text: str, whole: str) -> tuple[int, int]:
    low_text, _, high_text = text.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if high_text else low
    except ValueError:
        raise ValueError(f"{whole!r}: port {text!r} is not a number or range") from None
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{whole!r}: port {text!r} is out of range 1-65535")
    return low, high


def _parse_network(text: str, whole: str) -> IPNetwork | None:
    """The IP address or CIDR in ``text``; ``None`` if it is not IP-shaped."""
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    raise ValueError(f"{whole!r}: host bits set in {text!r} (did you mean {loose}?)")


def parse_rule(text: str, *, allow: bool = False) -> Rule:
    """One rule; ``allow=True`` for an allow rule (stricter for the host's loopback)."""
    whole = text
    text = text.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{whole!r}: {_EXPECTED}")
    if "://" in text or ("/" in text.split(":", 1)[0] and not _looks_ip(text)):
        raise ValueError(f"{whole!r}: {_EXPECTED} (no scheme or path)")
    ports: tuple[int, int] | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{whole!r}: expected [IPv6] or [IPv6]:port")
        if rest:
            ports = _parse_ports(rest[1:], whole)
        network = _parse_network(host, whole)
        if network is None or network.version != 6:
            raise ValueError(f"{whole!r}: brackets are only for IPv6 addresses")
        return Rule(RuleKind.NETWORK, str(network), network, ports)
    if text.count(":") > 1:
        network = _parse_network(text, whole)
        if network is None:
            raise ValueError(f"{whole!r}: not an IPv6 address (write [IPv6]:port for a port)")
        return Rule(RuleKind.NETWORK, str(network), network, None)
    host, sep, port_text = text.partition(":")
    if sep:
        ports = _parse_ports(port_text, whole)
    network = _parse_network(host, whole)
    if network is not None:
        return Rule(RuleKind.NETWORK, str(network), network, ports)
    if host == "*" or (host.startswith("*") and not host.startswith("*.")):
        raise ValueError(f"{whole!r}: wildcards are written *.domain (use network mode host)")
    if host.startswith("*."):
        return Rule(RuleKind.WILDCARD, normalize_name(host[2:]), None, ports)
    if "*" in host:
        raise ValueError(f"{whole!r}: '*' is only allowed as the first label (*.domain)")
    if host.replace(".", "").isdigit():
        raise ValueError(f"{whole!r}: not a valid IPv4 address")
    name = normalize_name(host)
    _check_loopback_names(name, ports, whole, allow=allow)
    return Rule(RuleKind.NAME, name, None, ports)


def _check_loopback_names(
    name: str, ports: tuple[int, int] | None, whole: str, *, allow: bool
) -> None:
    """``localhost`` is the sandbox's own; the host's loopback opens one port at a time."""
    port = (
        ""
        if ports is None
        else f":{ports[0]}"
        if ports[0] == ports[1]
        else f":{ports[0]}-{ports[1]}"
    )
    if name == "localhost" or name.endswith(".localhost"):
        raise ValueError(
            f"{whole!r}: inside the sandbox, localhost is the sandbox itself (its loopback is"
            f" always open); to reach a port on the host's loopback, allow"
            f" {HOST_LOOPBACK_NAME}{port or ':PORT'}"
        )
    if allow and name == HOST_LOOPBACK_NAME and ports is None:
        raise ValueError(
            f"{whole!r}: the host's loopback opens one port (or range) at a time:"
            f" write {HOST_LOOPBACK_NAME}:PORT"
        )


def _looks_ip(text: str) -> bool:
    head = text.lstrip("[").split("/", 1)[0]
    return all(c in "0123456789abcdefABCDEF.:" for c in head)

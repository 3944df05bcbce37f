"""Allowlist rule grammar for ``network.allow`` / ``network.deny`` and ``--allow``.

::

    host                 example.com            any port
    host:port            example.com:443        one port (or a range: example.com:8000-8099)
    *.domain[:port]      *.example.com          every name below example.com (not itself)
    IPv4[/len][:port]    10.0.0.5, 10.0.0.0/8:22
    IPv6[/len]           2001:db8::1, 2001:db8::/32
    [IPv6[/len]]:port    [2001:db8::1]:443

An allow rule for a name may also say which HTTP requests pass; the proxy then terminates
TLS for that name and checks every request (``net/_tls_inspect``)::

    METHODS host[:port][/PATH-GLOB]   GET,HEAD github.com/myorg/*
    host[:port]/PATH-GLOB             api.example.com/v1/*        (any method)
    METHODS host[:port]               GET example.com             (any path)

``*`` in the path matches any characters, ``/`` included; every other character is literal.
A glob without ``?`` is matched against the path alone (the query is ignored), a glob with
``?`` against the path and query.

``parse_rule(text)`` returns a :class:`Rule` or raises ``ValueError`` saying what was
expected; the policy loader turns that into a PolicyError with the key path.
"""

from __future__ import annotations

import enum
import functools

from bwsandbox._netconst import HOST_LOOPBACK_NAME
from bwsandbox._record import record

__all__ = [
    "METHODS",
    "IPAddress",
    "IPNetwork",
    "Rule",
    "RuleKind",
    "has_dot_segment",
    "normalize_name",
    "parse_rule",
]

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds on the start-up path
if TYPE_CHECKING:
    import ipaddress
    import re

    IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
    IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def __getattr__(name: str) -> object:
    """``IPAddress`` and ``IPNetwork`` for the network modules that import them: ``ipaddress``
    (about 1.4 ms) loads only when rules are parsed or the network starts."""
    if name in ("IPAddress", "IPNetwork"):
        import ipaddress

        if name == "IPAddress":
            return ipaddress.IPv4Address | ipaddress.IPv6Address
        return ipaddress.IPv4Network | ipaddress.IPv6Network
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: what a label may hold (no regex: ``re`` stays off the start-up path, 1.4 ms)
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_EXPECTED = "expected host, host:port, *.domain, IP, CIDR or [IPv6]:port"
#: the request methods an inspecting rule may name (RFC 9110, PATCH, WebDAV, QUERY)
METHODS = frozenset(
    {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND",
        "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "QUERY",
    }
)  # fmt: skip
#: a path glob: visible ASCII (0x21-0x7e, no space), checked further below
_PATH_CHARS = frozenset(map(chr, range(0x21, 0x7F)))
_INSPECT_HINT = "write [METHODS ]HOST[:PORT][/PATH-GLOB], e.g. 'GET,HEAD github.com/myorg/*'"


class RuleKind(enum.StrEnum):
    NAME = "name"
    WILDCARD = "wildcard"
    NETWORK = "network"


@record
class Rule:
    """One parsed rule; ``ports`` is an inclusive range, ``None`` for every port."""

    kind: RuleKind
    host: str  # the name, the wildcard's suffix (without "*."), or the network in CIDR form
    network: IPNetwork | None = None
    ports: tuple[int, int] | None = None
    #: HTTP methods an inspecting rule lets through (empty: any method)
    methods: tuple[str, ...] = ()
    #: the path glob of an inspecting rule ("" : any path)
    path: str = ""

    @property
    def inspecting(self) -> bool:
        """Whether the proxy terminates TLS for this rule and checks each request."""
        return bool(self.methods or self.path)

    def allows_request(self, method: str, target: str) -> bool:
        """Whether this rule lets ``method`` to the origin-form ``target`` through."""
        if self.methods and method not in self.methods:
            return False
        if not self.path:
            return True
        subject = target if "?" in self.path else target.partition("?")[0]
        return _glob(self.path).fullmatch(subject) is not None

    def __str__(self) -> str:
        text = self._destination()
        if self.methods:
            text = ",".join(self.methods) + " " + text
        return text + self.path

    def _destination(self) -> str:
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


@functools.lru_cache(maxsize=256)
def _glob(path: str) -> re.Pattern[str]:
    import re  # an inspecting rule's path: loaded when a request is checked

    return re.compile(".*".join(re.escape(part) for part in path.split("*")), re.DOTALL)


def normalize_name(text: str) -> str:
    """Lower-case, no trailing dot; raises ``ValueError`` for what is not a DNS name."""
    name = text.lower().removesuffix(".")
    if not name or len(name) > 253:
        raise ValueError(f"{text!r} is not a valid host name")
    for label in name.split("."):
        if not _is_label(label):
            raise ValueError(f"{text!r} is not a valid host name (bad label {label!r})")
    return name


def _is_label(label: str) -> bool:
    """1-63 of ``a-z0-9_-``, not starting or ending with ``-``."""
    return (
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c in _LABEL_CHARS for c in label)
    )


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
    import ipaddress

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
    """One rule; ``allow=True`` for an allow rule (stricter for the host's loopback; may
    inspect: methods and/or a path glob)."""
    whole = text
    parts = text.split()
    if len(parts) >= 2 or (parts and "/" in parts[0] and not _looks_ip(parts[0])):
        return _parse_inspecting(parts, whole, allow=allow)
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


def _parse_inspecting(parts: list[str], whole: str, *, allow: bool) -> Rule:
    """``[METHODS ]HOST[:PORT][/PATH-GLOB]``: an allow rule that inspects requests."""
    if "://" in whole:
        raise ValueError(f"{whole!r}: no scheme; {_INSPECT_HINT}")
    if len(parts) > 2:
        raise ValueError(f"{whole!r}: {_INSPECT_HINT}")
    methods: tuple[str, ...] = ()
    if len(parts) == 2:
        words = parts[0].split(",")
        if "CONNECT" in words:
            raise ValueError(f"{whole!r}: CONNECT is not an inspectable request method")
        bad = [w for w in words if w not in METHODS]
        if bad:
            known = ", ".join(sorted(METHODS))
            raise ValueError(
                f"{whole!r}: {bad[0]!r} is not an HTTP method (in capitals, comma-separated:"
                f" {known}); {_INSPECT_HINT}"
            )
        methods = tuple(sorted(set(words)))
    if not allow:
        raise ValueError(
            f"{whole!r}: only allow rules take methods or a path (a deny rule names a"
            " destination: host, host:port, *.domain, IP or CIDR)"
        )
    destination = parts[-1]
    slash = destination.find("/")
    path = destination[slash:] if slash >= 0 else ""
    destination = destination[:slash] if slash >= 0 else destination
    if path and not all(c in _PATH_CHARS for c in path):
        raise ValueError(f"{whole!r}: the path {path!r} has a character a path glob cannot hold")
    if path and ("#" in path or "\\" in path or _has_dot_segment(path)):
        raise ValueError(f"{whole!r}: the path {path!r} has a fragment, backslash or dot segment")
    try:
        base = parse_rule(destination, allow=allow)
    except ValueError as exc:
        message = str(exc).removeprefix(f"{destination!r}: ")
        raise ValueError(f"{whole!r}: {message}") from None
    if base.kind is RuleKind.NETWORK:
        raise ValueError(
            f"{whole!r}: methods and paths are for host names (the proxy needs a name to"
            " present a certificate for); allow the address without them"
        )
    return Rule(base.kind, base.host, None, base.ports, methods, path)


def has_dot_segment(path: str) -> bool:
    """Whether a path has a ``.`` or ``..`` segment, also percent-encoded (``%2e``)."""
    return _has_dot_segment(path)


def _has_dot_segment(path: str) -> bool:
    segments = path.partition("?")[0].split("/")
    return any(s.lower().replace("%2e", ".") in (".", "..") for s in segments)


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

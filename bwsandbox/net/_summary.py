"""The network part of the exit summary: what was blocked, grouped by host, capped.

Pure: ``(denials, quiet patterns) -> lines``. One line per host (a DNS denial and the
connection attempts to the same name are one entry), the ``--allow`` that would permit it,
at most :data:`LIMIT` hosts and then "and N more". Names the profile denies on purpose
(``network.quiet``: update checks, telemetry) get no suggestion: they are summed up in one
line. Every name is the sandbox's choice, so every line goes through
:func:`bwsandbox._printable.printable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from bwsandbox._printable import printable
from bwsandbox._record import field, record
from bwsandbox.net._allowlist import suggest

__all__ = ["LIMIT", "is_quiet", "summary_lines"]

LIMIT = 10


class DenialLike(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def smuggling(self) -> bool: ...
    @property
    def count(self) -> int: ...


@record(frozen=False)
class _Host:
    host: str
    ports: list[int] = field(default_factory=list)
    dns: bool = False
    reasons: list[str] = field(default_factory=list)
    smuggling: bool = False
    count: int = 0


def is_quiet(host: str, patterns: Iterable[str]) -> bool:
    """True when ``host`` is one of ``patterns`` (exact, or ``*.domain`` for its subdomains)."""
    name = host.lower().rstrip(".")
    for pattern in patterns:
        text = pattern.lower()
        if text.count(":") == 1:  # host:port: the port does not matter here
            text = text.split(":", 1)[0]
        text = text.strip("[]").rstrip(".")
        if name == text or (text.startswith("*.") and name.endswith(text[1:])):
            return True
    return False


def _group(denials: Iterable[DenialLike]) -> list[_Host]:
    hosts: dict[str, _Host] = {}
    for d in denials:
        entry = hosts.setdefault(d.host, _Host(d.host))
        if d.port is None:
            entry.dns = True
        elif d.port not in entry.ports:
            entry.ports.append(d.port)
        reason = d.reason.removeprefix("dns: ")
        if reason not in entry.reasons:
            entry.reasons.append(reason)
        entry.smuggling = entry.smuggling or d.smuggling
        entry.count += d.count
    return list(hosts.values())


def _fix(entry: _Host) -> str:
    if entry.smuggling:
        return "(refused: not fixable by --allow)"
    if 1 <= len(entry.ports) <= 3:  # least privilege: the ports it used
        return " ".join(suggest(entry.host, port) for port in sorted(entry.ports))
    return suggest(entry.host, None)


def _what(entry: _Host) -> str:
    parts = ["DNS"] if entry.dns else []
    parts += [f":{port}" for port in sorted(entry.ports)]
    times = f", {entry.count}x" if entry.count > 1 else ""
    return f"{' + '.join(parts)}{times}: {'; '.join(entry.reasons)}"


def summary_lines(
    denials: Sequence[DenialLike], quiet: Sequence[str] = (), *, limit: int = LIMIT
) -> list[str]:
    """The exit summary's network lines (empty when nothing was blocked)."""
    hosts = _group(denials)
    loud = [h for h in hosts if h.smuggling or not is_quiet(h.host, quiet)]
    hushed = [h for h in hosts if h not in loud]
    lines: list[str] = []
    if loud:
        lines.append(f"network: blocked {len(loud)} host(s); to permit one, add:")
        for entry in loud[:limit]:
            fix = printable(_fix(entry), limit=120)
            lines.append(f"  {fix:<40} # {printable(_what(entry), limit=160)}")
        if len(loud) > limit:
            lines.append(
                f"  ... and {len(loud) - limit} more host(s): `agent-sandbox logs` lists them"
            )
    if hushed:
        requests = sum(h.count for h in hushed)
        lines.append(
            f"network: quietly denied {requests} update-check/telemetry request(s) to "
            f"{len(hushed)} host(s) (network.quiet; `agent-sandbox logs` lists them)"
        )
    return lines


def request_lines(
    refused: Sequence[tuple[str, str, int, str, int]], *, limit: int = LIMIT
) -> list[str]:
    """Refused requests on inspected hosts (method and path), with the rule that allows each."""
    if not refused:
        return []
    import shlex

    lines = [f"network: refused {len(refused)} inspected request(s); to permit one, add:"]
    for method, host, port, path, count in refused[:limit]:
        where = host if port == 443 else f"{host}:{port}"
        fix = printable("--allow " + shlex.quote(f"{method} {where}{path}"), limit=160)
        times = f" ({count}x)" if count > 1 else ""
        lines.append(f"  {fix}{times}")
    if len(refused) > limit:
        lines.append(f"  ... and {len(refused) - limit} more: `agent-sandbox logs` lists them")
    return lines

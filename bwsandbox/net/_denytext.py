"""The one text every denial's ``403`` body is built from (docs/network.md, "What the agent
sees when something is denied").

Every path that answers a denied client in words (explicit proxy, ``CONNECT``, transparent
HTTP, an inspected request, a request held by ask on first use and then denied) calls
:func:`deny_text`, so the agent reads the same shape everywhere: the destination (and the
method and path of an inspected request), the reason, and both ways to allow it:

- for this running session: ``agent-sandbox allow [--session ID] RULE`` (or an answer in
  ``agent-sandbox watch`` when the session asks on first use);
- for next time: ``--allow RULE``.

A denial no rule fixes (a contradicted SNI/Host, a ``network.deny`` rule) says so instead, and
an allowed destination that could not be reached says that. Pure; no I/O.
"""

from __future__ import annotations

import shlex

from bwsandbox._record import record
from bwsandbox.net._allowlist import suggest
from bwsandbox.net._gate import Denied

__all__ = ["Refusal", "deny_text"]


@record
class Refusal:
    """An inspected request that was refused: its method and target, and the host's rules."""

    method: str
    target: str
    rules: str  # the host's inspecting rules, as text ("GET,HEAD web.test/org/*, ...")


def _where(denied: Denied) -> str:
    host = f"[{denied.host}]" if ":" in denied.host else denied.host
    return host if denied.port is None else f"{host}:{denied.port}"


def _rule(denied: Denied, refusal: Refusal | None) -> str:
    """The rule that would allow the destination (or, inspected, this method and path)."""
    if refusal is not None:
        port = "" if denied.port in (None, 443) else f":{denied.port}"
        return f"{refusal.method} {denied.host}{port}{refusal.target.partition('?')[0]}"
    return suggest(denied.host, denied.port).removeprefix("--allow ")


def _both_ways(rule: str, session: str, *, asks: bool) -> str:
    quoted = shlex.quote(rule)
    named = f" --session {shlex.quote(session)}" if session else ""
    watch = f" (or answer its question in `agent-sandbox watch{named}`)" if asks else ""
    return (
        f"To allow it in this running session: agent-sandbox allow{named} {quoted}{watch}\n"
        f"To allow it next time: start the sandbox with --allow {quoted} "
        f"(for example: agent-sandbox run --allow {quoted} -- COMMAND)\n"
    )


def deny_text(
    denied: Denied,
    *,
    session: str = "",
    asks: bool = False,
    refusal: Refusal | None = None,
) -> str:
    """The body of a denial: what was refused, why, and what would allow it.

    ``session``: the running session's id (named in the ``agent-sandbox allow`` it suggests);
    ``asks``: whether the session asks on first use (``watch`` can answer);
    ``refusal``: the method and path of a refused inspected request.
    """
    where = _where(denied)
    if denied.failed:
        return f"bwsandbox: {where} is allowed but could not be reached: {denied.reason}\n"
    if refusal is not None:
        text = (
            f"bwsandbox: refused {refusal.method} {where}{refusal.target}: {denied.reason}\n"
            f"This host is inspected; its rules allow only: {refusal.rules or 'none'}.\n"
        )
    else:
        text = f"bwsandbox: blocked {where}: {denied.reason}\n"
    if denied.smuggling:
        return text + "This request contradicts its own destination; no rule allows it.\n"
    if denied.by_deny_rule:
        return text + (
            f"It matches the deny rule {denied.rule!r} (network.deny), which neither "
            "agent-sandbox allow nor --allow overrides; ask whoever wrote that rule.\n"
        )
    if denied.rule and refusal is None:  # an allow rule matched the name, not the address
        return text + (
            f"The name is allowed (rule {denied.rule!r}) but not that address: a private "
            "or host-local address needs its own IP or CIDR rule (agent-sandbox allow, or "
            "--allow next time), or --add-host NAME=IP.\n"
        )
    lead = "" if refusal is not None else "The sandbox policy does not allow it.\n"
    return text + lead + _both_ways(_rule(denied, refusal), session, asks=asks)

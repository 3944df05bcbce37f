"""Live changes to a running session's rules: what may be changed (pure; no I/O).

A live ``allow`` is refused when it would loosen the admin-enforced layer: outside an enforced
``network.allow`` ceiling, or inside a ``network.deny`` rule (the session's denies include the
enforced ones; a deny rule always wins, so an allow inside one would do nothing anyway). A live
``deny`` only restricts and is always accepted. Rules use the grammar of ``--allow``
(:func:`bwsandbox._netrules.parse_rule`).

The request on the control channel is one JSON line ``{"op": "allow"|"deny", "rules": [...]}``,
``{"op": "watch"}`` (the connection becomes a live event stream, see :mod:`._control`) or
``{"op": "answer", "id": N, "decision": "once"|"session"|"always"|"deny"}`` (ask on first use,
:mod:`._ask`); :func:`parse_request` turns anything else into a :class:`Refused` with a message
for the client.
"""

from __future__ import annotations

from bwsandbox._netrules import Rule, parse_rule
from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.policy._model import Policy

__all__ = ["MAX_REQUEST", "LiveLimits", "Refused", "Request", "limits_for", "parse_request"]

#: the longest request line accepted (bytes)
MAX_REQUEST = 64 * 1024
_MAX_RULES = 256


class Refused(Exception):  # noqa: N818 - a refusal sent back to the client, never escapes
    pass


@record
class Request:
    op: str  # "allow", "deny", "watch" or "answer"
    rules: tuple[Rule, ...] = ()
    question: int = 0  # "answer": the question's id
    decision: str = ""  # "answer": once, session, always or deny


_DECISIONS = ("once", "session", "always", "deny")
_SHAPES = {
    "allow": {"op", "rules"},
    "deny": {"op", "rules"},
    "watch": {"op"},
    "answer": {"op", "id", "decision"},
}


def parse_request(data: bytes) -> Request:
    """One request line; :class:`Refused` for anything malformed."""
    import json  # loaded when a request comes, not at start-up

    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refused("malformed request: expected one JSON line") from None
    if not isinstance(value, dict) or "op" not in value:
        raise Refused('malformed request: expected {"op": ..., ...}')
    op = value["op"]
    if not isinstance(op, str) or op not in _SHAPES:
        raise Refused(f"unknown operation {str(op)[:40]!r}: expected allow, deny, watch or answer")
    if set(value) != _SHAPES[op]:
        keys = ", ".join(sorted(_SHAPES[op]))
        raise Refused(f"malformed {op} request: expected exactly the keys {keys}")
    if op == "watch":
        return Request(op)
    if op == "answer":
        qid, decision = value["id"], value["decision"]
        if isinstance(qid, bool) or not isinstance(qid, int) or not 0 < qid < 2**63:
            raise Refused("malformed answer: id must be a question's number")
        if decision not in _DECISIONS:
            raise Refused(
                f"unknown decision {str(decision)[:40]!r}: expected {', '.join(_DECISIONS)}"
            )
        return Request(op, question=qid, decision=decision)
    texts = value["rules"]
    if not isinstance(texts, list) or not texts or len(texts) > _MAX_RULES:
        raise Refused(f"expected a list of 1 to {_MAX_RULES} rules")
    rules = []
    for text in texts:
        if not isinstance(text, str):
            raise Refused("malformed request: every rule must be a string")
        try:
            rules.append(parse_rule(text, allow=op == "allow"))
        except ValueError as exc:
            raise Refused(f"invalid rule {exc}") from None
    return Request(op, tuple(rules))


@record
class LiveLimits:
    """What a live allow may not loosen.

    ``ceilings``: per enforced file, its ``network.allow`` rules (a live allow must lie inside
    one rule of each); ``deny``: the session's deny rules (the enforced ones included);
    ``unreadable``: an enforced layer exists but its rules are unknown, so every live allow
    is refused; ``inspects``: the session has a CA the sandbox trusts (it started with an
    inspecting rule), so an inspecting rule (methods or a path) can be added live.
    """

    ceilings: tuple[tuple[str, tuple[Rule, ...]], ...] = ()
    deny: tuple[Rule, ...] = ()
    unreadable: str = ""
    inspects: bool = False

    def check_allow(self, rule: Rule) -> None:
        """:class:`Refused` when allowing ``rule`` live would loosen the policy, or cannot
        work in this session (an inspecting rule without the session's CA)."""
        from bwsandbox.policy import covers

        if self.unreadable:
            raise Refused(f"live allow is refused: {self.unreadable}")
        if rule.inspecting and not self.inspects:
            import shlex  # only for this message: off the start-up path

            raise Refused(
                f"{rule} inspects HTTPS (methods or a path), but this session started without "
                "an inspecting rule, so the sandbox trusts no session CA and its requests "
                f"cannot be checked; restart the sandbox with --allow {shlex.quote(str(rule))}, "
                "or allow the host without methods and path"
            )
        for deny in self.deny:
            if covers(deny, rule):
                raise Refused(f"{rule} is inside the network.deny rule {deny}")
        for source, ceiling in self.ceilings:
            if not any(covers(outer, rule) for outer in ceiling):
                listing = ", ".join(str(r) for r in ceiling) or "nothing"
                raise Refused(
                    f"{rule} is outside the enforced network.allow of {source} (at most: {listing})"
                )


def limits_for(policy: Policy) -> LiveLimits:
    """The limits of a session running ``policy``: its denies and, when it has an enforced
    layer, that layer's allow ceiling (read again, with the launch's safety checks)."""
    from bwsandbox._errors import PolicyError
    from bwsandbox.policy import read_enforced

    deny = tuple(parse_rule(text) for text in policy.network.deny)
    if not policy.enforced:
        return LiveLimits(deny=deny)
    try:
        layers = [layer for layer in read_enforced() if layer.source in policy.enforced]
    except PolicyError as exc:
        return LiveLimits(deny=deny, unreadable=f"the enforced policy cannot be read: {exc}")
    if len(layers) != len(policy.enforced):
        missing = ", ".join(policy.enforced)
        return LiveLimits(deny=deny, unreadable=f"the enforced policy changed ({missing})")
    ceilings = tuple(
        (layer.source, tuple(parse_rule(e.value) for e in layer.lists["network.allow"]))
        for layer in layers
        if "network.allow" in layer.lists
    )
    return LiveLimits(ceilings, deny)

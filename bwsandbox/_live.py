"""Changing a running filtered session: :func:`allow` and :func:`deny` (the library calls
behind ``agent-sandbox allow``/``deny``).

The session is the one named (an id or a unique prefix, as ``ps`` shows it), or by default the
newest running session of this user whose project is ``project`` (the current directory). The
change travels over the session's owner-only control socket (:mod:`bwsandbox.net._control`)
and is applied by its supervisor at once: DNS and new connections; a deny also closes the open
connections the new rules refuse.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bwsandbox._errors import LaunchError, NetworkError

if TYPE_CHECKING:
    from bwsandbox.runtime._registry_record import SessionRecord

__all__ = ["LiveChange", "allow", "change", "choose_session", "deny"]

_HINT = "name one with --session ID; `agent-sandbox ps` lists them"


@dataclass(frozen=True, slots=True)
class LiveChange:
    """What a live change did: the session, the rules as parsed, the connections cut."""

    session: str
    op: str
    rules: tuple[str, ...]
    cut: int


def choose_session(
    session: str | None = None, project: str | os.PathLike[str] | None = None
) -> SessionRecord:
    """The session to change; :class:`NetworkError` when there is none, the choice is
    ambiguous, or the session is not filtered."""
    from bwsandbox.runtime._registry import find_session, list_sessions

    if session is not None:
        try:
            chosen = find_session(session)
        except LaunchError as exc:  # no such id, or an ambiguous prefix
            raise NetworkError(exc.message, hint=exc.hint) from None
    else:
        where = str(Path(project if project is not None else Path.cwd()).resolve())
        mine = [s for s in list_sessions() if s.project == where]
        if not mine:
            raise NetworkError(f"no running sandbox has the project {where}", hint=_HINT)
        newest = [s for s in mine if s.started == mine[-1].started]
        if len(newest) > 1:
            ids = ", ".join(s.id for s in newest)
            raise NetworkError(f"several sandboxes of {where} started together ({ids})", hint=_HINT)
        chosen = mine[-1]
    if chosen.network != "filtered":
        raise NetworkError(
            f"sandbox {chosen.id} runs with network {chosen.network!r}: only a filtered "
            "session can be changed",
            hint="start it with --network filtered",
        )
    return chosen


def change(
    op: str,
    rules: Iterable[str],
    *,
    session: str | None = None,
    project: str | os.PathLike[str] | None = None,
) -> LiveChange:
    """Send ``op`` (``allow``/``deny``) with ``rules`` to the session; NetworkError when the
    rules are malformed, the session cannot be reached, or it refuses the change."""
    from bwsandbox._netrules import parse_rule
    from bwsandbox.net._control import control_path, send_request
    from bwsandbox.runtime._registry import runtime_dir

    if op not in ("allow", "deny"):
        raise NetworkError(f"unknown live change {op!r}: expected allow or deny")
    texts = list(rules)
    if not texts:
        raise NetworkError(f"nothing to {op}", hint=f"agent-sandbox {op} HOST[:PORT]...")
    for text in texts:
        try:
            parse_rule(text, allow=op == "allow")
        except ValueError as exc:
            raise NetworkError(f"invalid rule {exc}") from None
    chosen = choose_session(session, project)
    path = control_path(runtime_dir(), chosen.id)
    try:
        reply = send_request(path, op, texts)
    except (OSError, ValueError) as exc:
        raise NetworkError(
            f"cannot reach sandbox {chosen.id}: {exc}",
            hint="its supervisor may be stopping, or serves no live changes (see its audit log)",
        ) from None
    if reply.get("ok") is not True:
        raise NetworkError(f"sandbox {chosen.id} refused: {reply.get('error')}")
    got = reply.get("rules")
    done = tuple(str(r) for r in got) if isinstance(got, list) else tuple(texts)
    cut = reply.get("cut")
    return LiveChange(chosen.id, op, done, cut if isinstance(cut, int) else 0)


def allow(
    *rules: str, session: str | None = None, project: str | os.PathLike[str] | None = None
) -> LiveChange:
    """Allow ``rules`` (the grammar of ``--allow``) in a running filtered session, at once.

    Refused when a rule lies inside a ``network.deny`` rule or outside an admin-enforced
    ``network.allow``. Raises :class:`~bwsandbox.NetworkError`.
    """
    return change("allow", rules, session=session, project=project)


def deny(
    *rules: str, session: str | None = None, project: str | os.PathLike[str] | None = None
) -> LiveChange:
    """Deny ``rules`` in a running filtered session, at once; open connections they refuse
    are closed. Raises :class:`~bwsandbox.NetworkError`."""
    return change("deny", rules, session=session, project=project)

"""Changing a running filtered session: :func:`allow` and :func:`deny` (the library calls
behind ``agent-sandbox allow``/``deny``), and watching it: :func:`watch` (a live view of its
decisions, with answers to its held questions: ``agent-sandbox watch``) and :func:`answer`.

The session is the one named (an id or a unique prefix, as ``ps`` shows it), or by default the
newest running session of this user whose project is ``project`` (the current directory). The
change travels over the session's owner-only control socket (:mod:`bwsandbox.net._control`)
and is applied by its supervisor at once: DNS and new connections; a deny also closes the open
connections the new rules refuse.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from bwsandbox._errors import LaunchError, NetworkError
from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bwsandbox.runtime._registry_record import SessionRecord

__all__ = [
    "LiveChange",
    "Watch",
    "allow",
    "answer",
    "change",
    "choose_session",
    "deny",
    "describe_sessions",
    "watch",
]

_HINT = "name one with --session ID; `agent-sandbox ps` lists them"


@record
class LiveChange:
    """What a live change did: the session, the rules as parsed, the connections cut."""

    session: str
    op: str
    rules: tuple[str, ...]
    cut: int


def choose_session(
    session: str | None = None,
    project: str | os.PathLike[str] | None = None,
    *,
    purpose: str = "changed",
) -> SessionRecord:
    """The session to change (or watch: ``purpose``); :class:`NetworkError` when there is
    none, the choice is ambiguous, or the session is not filtered."""
    from bwsandbox.runtime import find_session, list_sessions

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
            raise NetworkError(
                f"several sandboxes of {where} started together: {describe_sessions(newest)}",
                hint=_HINT,
            )
        if len(mine) > 1 and purpose == "watched":  # its answers must go to the right agent
            raise NetworkError(
                f"{len(mine)} sandboxes of {where} are running: {describe_sessions(mine)}",
                hint="name the one to watch with --session ID",
            )
        chosen = mine[-1]
    if chosen.network != "filtered":
        raise NetworkError(
            f"sandbox {chosen.id} runs with network {chosen.network!r}: only a filtered "
            f"session can be {purpose}",
            hint="start it with --network filtered",
        )
    return chosen


def describe_sessions(sessions: Iterable[SessionRecord], now: float | None = None) -> str:
    """``ID (COMMAND, started AGE ago)`` for each session, newest first, on one line (names
    the sandbox chose are escaped)."""
    import time

    from bwsandbox._printable import printable

    now = time.time() if now is None else now
    parts = []
    for session in reversed(list(sessions)):
        command = printable(_command(session) or session.policy)
        if len(command) > 48:
            command = command[:45] + "..."
        parts.append(f"{session.id} ({command}, started {_age(session.started, now)} ago)")
    return "; ".join(parts)


def _command(record: SessionRecord) -> str:
    """The sandbox's command line (its pid 1 as the host sees it; after ``--`` when that is
    bwrap's init), or ""."""
    if not record.init.alive():
        return ""
    try:
        words = Path(f"/proc/{record.init.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return ""
    if words[0].endswith(b"bwrap") and b"--" in words:  # bwrap's own init: its command
        words = words[words.index(b"--") + 1 :]
    return " ".join(w.decode(errors="replace") for w in words if w)


def _age(started: str, now: float) -> str:
    """``12 s``, ``5 min``, ``3 h``, ``2 d`` since an ISO time ``2026-12-05T15:37:39.123Z``."""
    import calendar
    import time

    try:
        then = calendar.timegm(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "?"
    seconds = max(0, int(now - then))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


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
    from bwsandbox.net import control_path, send_request
    from bwsandbox.runtime import runtime_dir

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


class Watch:
    """A live view of a running filtered session (:func:`watch`): its network events as
    dicts, and answers to its held questions (ask on first use). A context manager.

    ``session``, ``ask`` (whether the session asks), ``timeout`` (its ask bound) and
    ``pending`` (questions already open) come from the session's greeting.
    """

    def __init__(self, sock: socket.socket, hello: dict[str, Any], rest: bytes) -> None:
        self._sock = sock
        self._buffer = rest
        self.session = str(hello.get("session") or "")
        self.ask = hello.get("ask") is True
        timeout = hello.get("timeout")
        self.timeout = float(timeout) if isinstance(timeout, int | float) else None
        pending = hello.get("pending")
        self.pending: list[dict[str, Any]] = list(pending) if isinstance(pending, list) else []

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """The events that arrive within ``timeout`` seconds (None: wait for one); an empty
        list on timeout; :class:`EOFError` when the session has ended."""
        self._sock.settimeout(timeout)
        while b"\n" not in self._buffer:
            try:
                more = self._sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                return []
            if not more:
                raise EOFError("the session has ended")
            self._buffer += more
        *lines, self._buffer = self._buffer.split(b"\n")
        events = []
        for line in lines:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                events.append(value)
        return events

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event until the session ends."""
        while True:
            try:
                yield from self.read()
            except EOFError:
                return

    def answer(self, question: int, decision: str) -> None:
        """Answer a held question (``once``, ``session``, ``always``, ``deny``); the session
        acknowledges it with a ``reply`` event (``ok``, ``error``, ``path``)."""
        line = {"op": "answer", "id": question, "decision": decision}
        self._sock.sendall(json.dumps(line).encode() + b"\n")

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def watch(session: str | None = None, project: str | os.PathLike[str] | None = None) -> Watch:
    """Watch a running filtered session (chosen as for :func:`allow`): its decisions as they
    happen, and its held questions to answer. Raises :class:`~bwsandbox.NetworkError`."""
    from bwsandbox.net import connect, control_path
    from bwsandbox.runtime import runtime_dir

    chosen = choose_session(session, project, purpose="watched")
    path = control_path(runtime_dir(), chosen.id)
    try:
        sock = connect(path)
        sock.sendall(b'{"op": "watch"}\n')
        data = b""
        while b"\n" not in data:
            more = sock.recv(65536)
            if not more:
                break
            data += more
    except OSError as exc:
        raise NetworkError(
            f"cannot reach sandbox {chosen.id}: {exc}",
            hint="its supervisor may be stopping, or serves no live changes (see its audit log)",
        ) from None
    line, _, rest = data.partition(b"\n")
    try:
        hello = json.loads(line or b"null")
    except ValueError:
        hello = None
    if not isinstance(hello, dict) or hello.get("ok") is not True:
        sock.close()
        error = hello.get("error") if isinstance(hello, dict) else "no greeting"
        raise NetworkError(f"sandbox {chosen.id} refused to be watched: {error}")
    hello.setdefault("session", chosen.id)
    return Watch(sock, hello, rest)


def answer(
    question: int,
    decision: str,
    *,
    session: str | None = None,
    project: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Answer held question ``question`` of a session in one request (without watching);
    the session's reply (``ok``, ``error``, ``path``). Raises :class:`NetworkError` when the
    session cannot be reached or refuses."""
    from bwsandbox.net import control_path, send_request
    from bwsandbox.runtime import runtime_dir

    chosen = choose_session(session, project, purpose="answered")
    path = control_path(runtime_dir(), chosen.id)
    try:
        reply = send_request(path, "answer", id=question, decision=decision)
    except (OSError, ValueError) as exc:
        raise NetworkError(f"cannot reach sandbox {chosen.id}: {exc}") from None
    if reply.get("ok") is not True:
        raise NetworkError(f"sandbox {chosen.id} refused: {reply.get('error')}")
    return reply

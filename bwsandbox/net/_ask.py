"""Ask on first use: hold a lookup of, or a connection to, an unlisted name until someone
answers (``agent-sandbox watch`` over the control socket, or a library callback), at most
``timeout`` seconds; then deny.

- :class:`Hub` fans the session's network events out to watchers. A watcher is a bounded
  queue: publishing never blocks the proxy or the DNS responder, and a watcher that does not
  keep up is dropped (its queue is closed), never waited for.
- :class:`Asker` keeps one pending :class:`Question` per ``(host, port)`` (``port`` is
  ``None`` for a DNS lookup): concurrent requests for the same destination wait for the same
  answer. The first answer wins; later ones are told the question is gone. A watcher that
  disconnects leaves its questions pending for the others (or the timeout).
- Answers (:class:`Decision`): ``once`` lets the waiting requests through (a DNS ``once``
  also answers the same name's lookups for :data:`DNS_ONCE_WINDOW` seconds: A, AAAA and the
  resolver's retries); ``session`` adds a live allow rule (as ``agent-sandbox allow``);
  ``always`` does that and writes the rule to the user's policy file
  (:mod:`._remember`); ``deny`` refuses. A callback's exception or a missing answer counts
  as ``deny``. Every step is an audit event ``net-ask``.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import threading
import time
from collections.abc import Callable

from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import queue
    from typing import Any

    from bwsandbox._audit import AuditSink

__all__ = [
    "ASK_ONCE",
    "DNS_ONCE_WINDOW",
    "Asker",
    "Decision",
    "Hub",
    "LiveAudit",
    "Outcome",
    "Question",
    "Watcher",
]

#: the ``rule`` of a request allowed once (audit events, and the gate keeps such connections)
ASK_ONCE = "ask: once"
#: how long a DNS ``once`` answer also covers the same name's next lookups (seconds)
DNS_ONCE_WINDOW = 5.0
_QUEUE = 1024  # events a watcher may lag behind before it is dropped
_MAX_PENDING = 256  # questions at once; beyond that new unlisted names are denied at once
_APPLY_WAIT = 10.0  # at most this long for an answer being applied (writing the policy file)


class Decision(enum.StrEnum):
    """An answer to a :class:`Question`."""

    ONCE = "once"
    SESSION = "session"
    ALWAYS = "always"
    DENY = "deny"


@record
class Question:
    """A held request: ``host`` (a name), ``port`` (``None`` for a DNS lookup) and ``kind``
    (``dns``, ``tcp``, ``http``, ``connect``); ``id`` numbers the questions of a session."""

    host: str
    port: int | None
    kind: str
    id: int = 0

    @property
    def rule(self) -> str:
        """The rule an answer ``session``/``always`` adds: the name, with the port if any."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "port": self.port, "kind": self.kind}


@record
class Outcome:
    """What the held request gets: allowed or not, the ``rule`` for the audit, a reason."""

    allowed: bool
    rule: str
    reason: str = ""


class Watcher:
    """One subscriber's bounded event queue (see :class:`Hub`)."""

    def __init__(self) -> None:
        import queue  # loaded by the first watcher, not by every session

        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue(_QUEUE)
        self.dropped = False

    def put(self, event: dict[str, Any]) -> None:
        import queue

        if self.dropped:
            return
        try:
            self.events.put_nowait(event)
        except queue.Full:
            self.close("this watch fell behind (it did not read its events) and was dropped")

    def close(self, reason: str = "") -> None:
        """No more events: the reader gets ``reason`` (as an ``error`` event) and then
        ``None``, making room for them in a full queue by dropping the oldest events."""
        import queue

        if self.dropped:
            return
        self.dropped = True
        last: list[dict[str, Any] | None] = [{"event": "error", "error": reason}] if reason else []
        for item in [*last, None]:
            while True:
                try:
                    self.events.put_nowait(item)
                    break
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        self.events.get_nowait()


class Hub:
    """The session's live event stream: ``publish`` never blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: list[Watcher] = []

    def subscribe(self) -> Watcher:
        watcher = Watcher()
        with self._lock:
            self._watchers.append(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)
        watcher.close()

    def publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.put(event)
            if watcher.dropped:
                self.unsubscribe(watcher)

    def close(self) -> None:
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.close()


class LiveAudit:
    """An audit sink that also publishes the network events (``net``, ``net-change``,
    ``net-ask``) to the :class:`Hub`."""

    def __init__(self, sink: AuditSink, hub: Hub) -> None:
        self._sink = sink
        self._hub = hub

    def event(self, event: str, /, **fields: Any) -> None:
        self._sink.event(event, **fields)
        if event.startswith("net") and event != "net-ask":  # the asker publishes its own
            self._hub.publish({"event": event, **fields})


class _Pending:
    __slots__ = ("deadline", "done", "outcome", "question")

    def __init__(self, question: Question, deadline: float) -> None:
        self.question = question
        self.deadline = deadline
        self.done = threading.Event()
        self.outcome = Outcome(False, "", "not answered")


#: allow_session(rule text) -> "" or why it was refused (the live limits)
AllowSession = Callable[[str], str]
#: remember(rule text) -> the policy file written (raises OSError/ValueError)
Remember = Callable[[str], str]
Callback = Callable[[Question], object]


class Asker:
    """Holds unlisted destinations until answered (see the module docstring)."""

    def __init__(
        self,
        timeout: float,
        *,
        hub: Hub,
        audit: Callable[..., None],
        allow_session: AllowSession,
        remember: Remember | None = None,
        callback: Callback | None = None,
        permitted: Callable[[str], str] | None = None,
    ) -> None:
        self.timeout = timeout
        self._hub = hub
        self._audit = audit
        self._allow_session = allow_session
        self._remember = remember
        self._callback = callback
        self._permitted = permitted
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int | None], _Pending] = {}
        self._dns_once: dict[str, float] = {}
        self._ids = itertools.count(1)

    def pending(self) -> list[Question]:
        with self._lock:
            return [p.question for p in self._pending.values()]

    # -- the proxy's and the DNS responder's side ------------------------------------------
    def ask(self, host: str, port: int | None, kind: str) -> Outcome:
        """Hold until answered or timed out; never raises."""
        rule = host if port is None else f"{host}:{port}"
        if self._permitted is not None:
            refusal = self._permitted(rule)
            if refusal:  # outside what the session may loosen: never asked
                return Outcome(False, "", f"name not allowed ({refusal})")
        key = (host, port)
        with self._lock:
            if port is None and self._dns_once.get(host, 0.0) > time.monotonic():
                return Outcome(True, ASK_ONCE)
            pending = self._pending.get(key)
            new = pending is None
            if pending is None:
                if len(self._pending) >= _MAX_PENDING:
                    return Outcome(False, "", "name not allowed (too many open questions)")
                question = Question(host, port, kind, next(self._ids))
                pending = _Pending(question, time.monotonic() + self.timeout)
                self._pending[key] = pending
        if new:
            question = pending.question
            self._audit(op="held", **question.as_dict(), timeout=self.timeout)
            self._hub.publish({"event": "question", **question.as_dict(), "timeout": self.timeout})
            if self._callback is not None:
                self._start_callback(question)
        pending.done.wait(max(0.0, pending.deadline - time.monotonic()))
        if not pending.done.is_set():
            self._finish(pending, Decision.DENY, "timeout", f"no answer in {self.timeout:g} s")
            # an answer that came at the same moment is still being applied: let it finish
            pending.done.wait(_APPLY_WAIT)
        return pending.outcome

    def _start_callback(self, question: Question) -> None:
        def run() -> None:
            try:
                assert self._callback is not None
                decision = Decision(str(self._callback(question)))
                by, error = "callback", ""
            except Exception as exc:  # noqa: BLE001 - a failing callback is a deny
                decision, by, error = Decision.DENY, "callback", f"the callback failed: {exc!r}"
            self.answer(question.id, decision, by=by, error=error)

        threading.Thread(target=run, name="bwsbx-ask", daemon=True).start()

    # -- the answering side ----------------------------------------------------------------
    def answer(
        self, qid: int, decision: Decision, *, by: str, error: str = "", **peer: Any
    ) -> dict[str, Any]:
        """Answer question ``qid``; the reply for the control channel (``ok``, ``error``,
        ``rule``, ``path``)."""
        with self._lock:
            found = next((p for p in self._pending.values() if p.question.id == qid), None)
        if found is None:
            return {"ok": False, "error": f"no open question {qid} (answered or timed out)"}
        return self._finish(found, decision, by, error, **peer)

    def _finish(
        self, pending: _Pending, decision: Decision, by: str, error: str = "", **peer: Any
    ) -> dict[str, Any]:
        question = pending.question
        with self._lock:  # the first answer wins
            if self._pending.get((question.host, question.port)) is not pending:
                return {"ok": False, "error": f"question {question.id} was already answered"}
            del self._pending[(question.host, question.port)]
        reply: dict[str, Any] = {"ok": True, "id": question.id, "decision": decision.value}
        rule = question.rule
        path = ""
        if decision in (Decision.SESSION, Decision.ALWAYS):
            refusal = self._allow_session(rule)
            if refusal:
                decision, error = Decision.DENY, refusal
                reply.update(ok=False, error=refusal, decision="deny")
        if decision is Decision.ALWAYS:
            if self._remember is None:
                reply["error"] = error = "no policy file to write to; allowed for this session"
            else:
                try:
                    path = self._remember(rule)
                    reply["path"] = path
                except (OSError, ValueError) as exc:
                    reply["error"] = error = f"allowed for this session only: {exc}"
        if decision is Decision.DENY:
            reason = f"not approved ({error or 'denied by ' + by})"
            pending.outcome = Outcome(False, "", reason)
        else:
            pending.outcome = Outcome(True, rule if decision is not Decision.ONCE else ASK_ONCE)
            if decision is Decision.ONCE and question.port is None:
                now = time.monotonic()
                with self._lock:
                    if len(self._dns_once) >= _MAX_PENDING:  # forget the expired ones
                        self._dns_once = {h: t for h, t in self._dns_once.items() if t > now}
                    self._dns_once[question.host] = now + DNS_ONCE_WINDOW
        pending.done.set()
        fields: dict[str, Any] = {"op": "answered", **question.as_dict()}
        fields.update(decision=decision.value, by=by, rule=rule, **peer)
        if path:
            fields["path"] = path
        if error:
            fields["error"] = error
        self._audit(**fields)
        self._hub.publish({"event": "answered", **fields})
        return reply

    def close(self) -> None:
        """Deny every pending question (the session ends)."""
        with self._lock:
            pendings = list(self._pending.values())
        for pending in pendings:
            self._finish(pending, Decision.DENY, "session end", "the session ended")

"""Ask on first use, the pure parts: the asker (one question per destination, first answer
wins, timeouts, callbacks, limits), the event hub (never blocks), the answer request parser,
and the editor of the "allow always" policy file (tomllib as the oracle)."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bwsandbox.net._ask import ASK_ONCE, Asker, Decision, Hub, Outcome, Question
from bwsandbox.net._live import Refused, parse_request
from bwsandbox.net._remember import read_allowed, remember

_WAIT = 10.0


class Recorder:
    def __init__(self, refuse: str = "") -> None:
        self.audit: list[dict[str, Any]] = []
        self.allowed: list[str] = []
        self.refuse = refuse

    def event(self, **fields: Any) -> None:
        self.audit.append(fields)

    def allow(self, rule: str) -> str:
        if self.refuse:
            return self.refuse
        self.allowed.append(rule)
        return ""


def _asker(timeout: float = _WAIT, **kwargs: Any) -> tuple[Asker, Hub, Recorder]:
    hub = Hub()
    rec = Recorder(kwargs.pop("refuse", ""))
    asker = Asker(timeout, hub=hub, audit=rec.event, allow_session=rec.allow, **kwargs)
    return asker, hub, rec


def _ask_in_thread(
    asker: Asker, host: str, port: int | None
) -> tuple[threading.Thread, list[Outcome]]:
    results: list[Outcome] = []
    thread = threading.Thread(target=lambda: results.append(asker.ask(host, port, "tcp")))
    thread.start()
    return thread, results


def _wait_pending(asker: Asker, count: int) -> list[Question]:
    watcher_deadline = threading.Event()
    for _ in range(int(_WAIT / 0.01)):
        pending = asker.pending()
        if len(pending) >= count:
            return pending
        watcher_deadline.wait(0.01)
    pytest.fail(f"expected {count} pending questions, got {asker.pending()}")


def test_concurrent_requests_share_one_question_and_its_answer() -> None:
    asker, hub, rec = _asker()
    watcher = hub.subscribe()
    threads = [_ask_in_thread(asker, "api.test", 443) for _ in range(5)]
    other = _ask_in_thread(asker, "api.test", 80)  # another port: its own question
    pending = _wait_pending(asker, 2)
    assert sorted((q.host, q.port) for q in pending) == [("api.test", 80), ("api.test", 443)]
    target = next(q for q in pending if q.port == 443)
    reply = asker.answer(target.id, Decision.ONCE, by="test")
    assert reply["ok"] is True
    for thread, results in threads:
        thread.join(_WAIT)
        assert results == [Outcome(True, ASK_ONCE)]
    assert other[1] == []  # still held: its question was not answered
    assert asker.answer(target.id, Decision.DENY, by="late")["ok"] is False  # first one wins
    rest = next(q for q in pending if q.port == 80)
    asker.answer(rest.id, Decision.DENY, by="test")
    other[0].join(_WAIT)
    assert other[1][0].allowed is False
    assert "denied by test" in other[1][0].reason
    questions = []
    while not watcher.events.empty():
        event = watcher.events.get_nowait()
        if event and event["event"] == "question":
            questions.append(event)
    assert len(questions) == 2  # one per destination, not one per request
    assert [e["op"] for e in rec.audit].count("held") == 2


def test_no_answer_is_a_deny_after_the_bound() -> None:
    asker, _, rec = _asker(timeout=0.05)
    outcome = asker.ask("slow.test", 443, "connect")
    assert outcome == Outcome(False, "", "not approved (no answer in 0.05 s)")
    assert rec.audit[-1]["by"] == "timeout"
    assert asker.pending() == []


@pytest.mark.parametrize(
    ("decision", "allowed", "rule"),
    [
        (Decision.ONCE, True, ASK_ONCE),
        (Decision.SESSION, True, "api.test:443"),
        (Decision.DENY, False, ""),
    ],
)
def test_a_callback_answers(decision: Decision, allowed: bool, rule: str) -> None:
    seen: list[Question] = []

    def callback(question: Question) -> Decision:
        seen.append(question)
        return decision

    asker, _, rec = _asker(callback=callback)
    outcome = asker.ask("api.test", 443, "http")
    assert (outcome.allowed, outcome.rule) == (allowed, rule)
    assert [(q.host, q.port, q.kind) for q in seen] == [("api.test", 443, "http")]
    assert rec.allowed == (["api.test:443"] if decision is Decision.SESSION else [])


@pytest.mark.parametrize("result", [RuntimeError("boom"), "maybe", None, 1])
def test_a_failing_or_confused_callback_is_a_deny(result: object) -> None:
    def callback(question: Question) -> object:
        if isinstance(result, Exception):
            raise result
        return result

    asker, _, rec = _asker(callback=callback)
    outcome = asker.ask("api.test", 443, "tcp")
    assert outcome.allowed is False
    assert "the callback failed" in outcome.reason
    assert rec.audit[-1]["decision"] == "deny"


def test_session_allow_outside_the_limits_is_a_deny() -> None:
    asker, _, _ = _asker(refuse="x.test is inside the network.deny rule x.test")
    thread, results = _ask_in_thread(asker, "x.test", 443)
    (question,) = _wait_pending(asker, 1)
    reply = asker.answer(question.id, Decision.SESSION, by="test")
    thread.join(_WAIT)
    assert reply["ok"] is False
    assert "inside the network.deny rule" in reply["error"]
    assert results[0].allowed is False


def test_what_the_session_may_not_loosen_is_never_asked() -> None:
    asker, _, _ = _asker(permitted=lambda rule: "outside the enforced network.allow")
    outcome = asker.ask("far.test", 443, "tcp")
    assert outcome.allowed is False
    assert "outside the enforced" in outcome.reason
    assert asker.pending() == []


def test_always_writes_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "allowed.toml"
    asker, _, rec = _asker(remember=lambda rule: remember(rule, str(path)))
    thread, results = _ask_in_thread(asker, "api.test", 443)
    (question,) = _wait_pending(asker, 1)
    reply = asker.answer(question.id, Decision.ALWAYS, by="test")
    thread.join(_WAIT)
    assert reply["path"] == str(path)
    assert results[0].allowed is True
    assert rec.allowed == ["api.test:443"]
    assert read_allowed(str(path)) == ("api.test:443",)


def test_a_dns_once_covers_the_same_lookup_briefly() -> None:
    asker, _, _ = _asker()
    thread, results = _ask_in_thread(asker, "new.test", None)
    (question,) = _wait_pending(asker, 1)
    asker.answer(question.id, Decision.ONCE, by="test")
    thread.join(_WAIT)
    assert results[0].allowed is True
    # the AAAA query and the resolver's retries that follow are not asked again
    assert asker.ask("new.test", None, "dns") == Outcome(True, ASK_ONCE)
    assert asker.pending() == []


def test_closing_denies_what_is_held() -> None:
    asker, _, _ = _asker()
    thread, results = _ask_in_thread(asker, "api.test", 443)
    _wait_pending(asker, 1)
    asker.close()
    thread.join(_WAIT)
    assert results[0].allowed is False
    assert "the session ended" in results[0].reason


def test_a_watcher_that_does_not_read_is_dropped_not_waited_for() -> None:
    hub = Hub()
    slow = hub.subscribe()
    for index in range(5000):
        hub.publish({"event": "net", "n": index})  # never blocks
    assert slow.dropped
    drained = []
    while not slow.events.empty():
        drained.append(slow.events.get_nowait())
    assert drained[-1] is None  # the writer ends, having said why
    last = drained[-2]
    assert last is not None
    assert last["event"] == "error"
    assert "fell behind" in last["error"]
    fresh = hub.subscribe()
    hub.publish({"event": "net", "n": -1})
    assert fresh.events.get_nowait() == {"event": "net", "n": -1}


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'{"op": "answer", "id": 1}', "exactly the keys"),
        (b'{"op": "answer", "id": true, "decision": "once"}', "id must be"),
        (b'{"op": "answer", "id": 0, "decision": "once"}', "id must be"),
        (b'{"op": "answer", "id": 1, "decision": "yes"}', "unknown decision"),
        (b'{"op": "watch", "x": 1}', "exactly the keys"),
    ],
)
def test_bad_answers_are_refused(line: bytes, error: str) -> None:
    with pytest.raises(Refused, match=error):
        parse_request(line)


def test_answers_parse() -> None:
    request = parse_request(b'{"op": "answer", "id": 7, "decision": "always"}')
    assert (request.op, request.question, request.decision) == ("answer", 7, "always")
    assert parse_request(b'{"op": "watch"}').op == "watch"


# -- the "allow always" file -------------------------------------------------------------------

_RULES = st.sampled_from(
    ["a.test", "b.test:443", "*.c.test", "10.0.0.0/8", "[2001:db8::1]:443", "d.test:80-90"]
)
_COMMENT = st.sampled_from(["", "  # note", " # ] [ \" '"])


@st.composite
def _files(draw: st.DrawFn) -> str:
    """Policy files in the shapes people write: comments, other keys and tables around."""
    before = draw(st.sampled_from(["", "# mine\n", 'description = "x"\n', "extends = []\n\n"]))
    rules = draw(st.lists(_RULES, unique=True, max_size=4))
    if not rules and draw(st.booleans()):
        return before + draw(st.sampled_from(["", "[filesystem]\nro = []\n"]))
    quoted = [f'"{r}"' if draw(st.booleans()) else f"'{r}'" for r in rules]
    comment = draw(_COMMENT)
    if draw(st.booleans()):
        array = "[" + ", ".join(quoted) + "]" + comment
    else:
        sep = ",\n  "
        trailing = "," if draw(st.booleans()) and quoted else ""
        array = "[\n  " + sep.join(quoted) + trailing + comment + "\n]"
    table = "[network]" + draw(_COMMENT) + "\n"
    other = draw(st.sampled_from(["", 'mode = "filtered"\n', 'deny = ["x.test"]\n']))
    after = draw(st.sampled_from(["", '\n[filesystem]\nro = ["/opt"]  # ]\n']))
    empty_list = draw(st.booleans())
    allow = f"allow = {array}\n" if rules or empty_list else ""
    return before + table + other + allow + after


@settings(max_examples=150, deadline=None)
@given(_files(), _RULES)
def test_remember_adds_exactly_one_rule(
    tmp_path_factory: pytest.TempPathFactory, text: str, rule: str
) -> None:
    path = tmp_path_factory.mktemp("remember") / "allowed.toml"
    path.write_text(text)
    old = tomllib.loads(text)
    assert remember(rule, str(path)) == str(path)
    new = tomllib.loads(path.read_text())
    before = old.get("network", {}).get("allow", [])
    expected = before if rule in before else [*before, rule]
    assert new.get("network", {}).get("allow") == expected
    assert {k: v for k, v in new.items() if k != "network"} == {
        k: v for k, v in old.items() if k != "network"
    }
    assert {k: v for k, v in new.get("network", {}).items() if k != "allow"} == {
        k: v for k, v in old.get("network", {}).items() if k != "allow"
    }
    for line in text.splitlines():  # comments and the rest stay as written
        if line.strip().startswith("#"):
            assert line in path.read_text()


@pytest.mark.parametrize(
    "text",
    [
        'network.allow = ["a.test"]\n',  # a dotted key: not edited, left as it is
        "[network\nallow = [\n",  # not TOML
        '[network]\nallow = "a.test"\n',  # not a list
    ],
)
def test_remember_refuses_what_it_cannot_edit_safely(tmp_path: Path, text: str) -> None:
    path = tmp_path / "allowed.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=str(path)):
        remember("b.test", str(path))
    assert path.read_text() == text


def test_remember_creates_the_file_and_never_follows_a_symlink(tmp_path: Path) -> None:
    path = tmp_path / "policies" / "allowed.toml"
    assert remember("a.test:443", str(path)) == str(path)
    assert read_allowed(str(path)) == ("a.test:443",)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    target = tmp_path / "elsewhere.toml"
    target.write_text("[network]\nallow = []\n")
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    with pytest.raises(OSError):
        remember("b.test", str(link))
    assert target.read_text() == "[network]\nallow = []\n"
    with pytest.raises(ValueError):
        remember("http://bad/", str(path))
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# -- the watch command's lines -----------------------------------------------------------------


def test_watch_lines_escape_what_the_sandbox_chose() -> None:
    from bwsandbox.cli._watch import render

    evil = "x\x1b]52;c;AAAA\x07.test"
    for event in (
        {"event": "net", "host": evil, "port": 443, "proto": "tcp", "decision": "deny"},
        {"event": "question", "id": 1, "host": evil, "port": None, "kind": "dns"},
        {"event": "answered", "id": 1, "host": evil, "port": 1, "decision": "deny", "by": "x"},
        {"event": "net", "host": "a.test", "port": 1, "proto": "tcp", "reason": evil},
    ):
        line = render(event)
        assert line is not None
        assert "\x1b" not in line
        assert "\x07" not in line
        assert "\\x1b" in line
    assert render({"event": "hello"}) is None
    question = render(
        {
            "event": "question",
            "id": 3,
            "host": "a.test",
            "port": 443,
            "kind": "connect",
            "timeout": 30.0,
        }
    )
    assert question == "held     a.test:443  connect  [question 3, denied in 30 s]"


# -- the control socket's watch stream, without a sandbox --------------------------------------


def test_a_watch_that_stops_reading_does_not_hold_up_the_session_or_other_watches() -> None:
    import json
    import socket
    import tempfile

    from bwsandbox.net._control import ControlServer, connect
    from bwsandbox.net._live import LiveLimits

    base = tempfile.mkdtemp(prefix="bwsbx-ask-")
    path = f"{base}/agent-sandbox/control/s.sock"
    hub = Hub()
    control = ControlServer(path, lambda op, rules: 0, lambda **f: None, LiveLimits())
    control.hub = hub
    control.session = "s"
    control.start()
    stuck = connect(path)
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(b'{"op": "watch"}\n')
        assert b'"hello"' in stuck.recv(4096)
        for index in range(20000):  # never blocks, whatever the stuck watch does
            hub.publish({"event": "net", "host": "x" * 200, "n": index})
        with connect(path) as fresh:
            fresh.sendall(b'{"op": "watch"}\n')
            hello = json.loads(fresh.makefile("rb").readline())
            assert hello["ok"] is True
            assert hello["ask"] is False
    finally:
        stuck.close()
        hub.close()
        control.stop()
    Path(f"{base}/agent-sandbox").rmdir()
    Path(base).rmdir()

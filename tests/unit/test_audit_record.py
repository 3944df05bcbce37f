"""Pure parts of the audit schema, the policy digest, ``logs --follow``, the asciicast recorder
and the replay player."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from bwsandbox._errors import SandboxError, WorkspaceError
from bwsandbox._events import EVENTS, problems, reference_table
from bwsandbox.cli._logs import SETTLE, audit_lines
from bwsandbox.cli._replay import output_events, play
from bwsandbox.policy import load_policy, policy_digest
from bwsandbox.runtime._cast import Recorder
from tests.sandbox._asciicast import CastError, parse_cast

REPO = Path(__file__).resolve().parents[2]


# -- schema ------------------------------------------------------------------------------


def test_docs_contain_the_generated_event_table() -> None:
    doc = (REPO / "docs" / "audit.md").read_text(encoding="utf-8")
    assert reference_table() in doc, "docs/audit.md: paste bwsandbox._events.reference_table()"


def test_problems_finds_missing_and_mistyped_fields() -> None:
    good = {"time": "t", "event": "exit", "session": "s", "returncode": 0, "duration": 0.5}
    assert problems(good) == []
    assert problems({**good, "signal": "SIGTERM"}) == []
    assert problems({"event": "exit", "returncode": 0, "duration": 1}) == [
        "missing or non-string 'time'",
        "missing or non-string 'session'",
    ]
    assert problems({**good, "returncode": True}) == ["exit: 'returncode' has type bool"]
    del good["duration"]
    assert problems(good) == ["exit: missing 'duration'"]


def test_unknown_events_need_only_the_common_fields() -> None:
    assert problems({"time": "t", "event": "something-new", "session": "s", "x": 1}) == []


def test_secrets_and_limits_events() -> None:
    delivered = [{"name": "API", "deliver": "proxy", "source": "env:API"}]
    secrets = {"time": "t", "event": "secrets", "session": "s", "delivered": delivered}
    assert problems(secrets) == []
    limits = {"time": "t", "event": "limits", "session": "s", "limits": {"pids": {}}}
    assert problems(limits) == []
    assert problems({**limits, "limits": ["pids"]}) == ["limits: 'limits' has type list"]
    assert {"secrets", "limits", "start", "exit", "net", "protected-path"} <= set(EVENTS)


# -- digest ------------------------------------------------------------------------------


def test_policy_digest_is_stable_and_follows_the_policy() -> None:
    base = load_policy(["base"])
    digest = policy_digest(base)
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 64
    assert policy_digest(load_policy(["base"])) == digest
    changed = load_policy(["base"], overlays=[("<test>", {"env": {"set": {"X": "1"}}})])
    assert policy_digest(changed) != digest
    assert policy_digest(load_policy(["shell"])) != digest


def test_policy_digest_is_hashlib_sha256_of_the_canonical_policy() -> None:
    """The digest avoids importing hashlib (start-up): the same bytes, hashlib as the oracle."""
    import hashlib

    from bwsandbox.policy import canonical_policy

    for names in (["base"], ["shell"], ["claude"]):
        policy = load_policy(names)
        expected = hashlib.sha256(canonical_policy(policy)).hexdigest()
        assert policy_digest(policy) == f"sha256:{expected}"


# -- logs --follow -----------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _line(event: str) -> bytes:
    return json.dumps({"time": "t", "event": event, "session": "s"}).encode() + b"\n"


class _GrowingLog(io.BytesIO):
    """A log whose writer appends ``later`` after the reader first reaches the end."""

    def __init__(self, first: bytes, later: list[bytes]) -> None:
        super().__init__(first)
        self.later = later

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if not line and self.later:
            position = self.tell()
            self.seek(0, io.SEEK_END)
            self.write(self.later.pop(0))
            self.seek(position)
        return line


def test_follow_reads_what_is_appended_until_the_session_has_ended() -> None:
    clock = _Clock()
    log = _GrowingLog(_line("start"), [_line("net")[:10], _line("net")[10:] + _line("exit")])
    log.later.append(_line("protected-path"))
    got = list(audit_lines(log, follow=True, sleep=clock.sleep, clock=clock))
    assert [json.loads(x)["event"] for x in got] == ["start", "net", "exit", "protected-path"]
    assert clock.now >= SETTLE


def test_event_filter() -> None:
    log = io.BytesIO(_line("start") + _line("net") + _line("net") + _line("exit"))
    got = list(audit_lines(log, events={"net"}))
    assert [json.loads(x)["event"] for x in got] == ["net", "net"]


# -- recorder ----------------------------------------------------------------------------


def _recorder(path: Path, **kwargs: object) -> Recorder:
    return Recorder(
        str(path),
        width=100,
        height=30,
        title="t",
        env={"TERM": "xterm-256color", "SHELL": "/bin/sh", "SECRET": "no"},
        **kwargs,  # type: ignore[arg-type]
    )


def test_recorder_writes_strict_asciicast_v2(tmp_path: Path) -> None:
    path = tmp_path / "s" / "session.cast"
    rec = _recorder(path)
    rec.output(b"hello \xc3")  # a UTF-8 character split across two reads
    rec.output(b"\xa9\r\n")
    rec.keystrokes(b"hunter2\r")
    rec.resize(120, 40)
    rec.output(b"bad \xff byte")
    rec.close()
    cast = parse_cast(path.read_bytes())
    assert cast.header["width"] == 100
    assert cast.header["height"] == 30
    assert cast.header["env"] == {"SHELL": "/bin/sh", "TERM": "xterm-256color"}
    assert cast.text() == "hello \u00e9\r\nbad \ufffd byte"
    assert [e[1] for e in cast.events] == ["o", "o", "r", "o"]
    assert ("r", "120x40") in [(e[1], e[2]) for e in cast.events]
    assert b"hunter2" not in path.read_bytes(), "input is not recorded unless asked for"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_recorder_records_input_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "session.cast"
    rec = _recorder(path, record_input=True)
    rec.keystrokes(b"hunter2\r")
    rec.close()
    assert parse_cast(path.read_bytes()).text("i") == "hunter2\r"


def test_recorder_never_follows_or_reuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "session.cast").symlink_to(target)
    with pytest.raises(WorkspaceError):
        _recorder(tmp_path / "session.cast")
    assert target.read_text() == "keep"


def test_strict_parser_rejects_what_the_spec_rejects() -> None:
    header = b'{"version": 2, "width": 80, "height": 24}\n'
    assert parse_cast(header + b'[0.5, "o", "x"]\n').text() == "x"
    for bad in (
        b'{"version": 1, "width": 80, "height": 24}\n',
        b'{"version": 2, "width": 0, "height": 24}\n',
        b'{"version": 2, "width": 80, "height": 24, "extra": 1}\n',
        header + b'[0.5, "o", "x"]',
        header + b'[0.5, "x", "x"]\n',
        header + b'[0.5, "o"]\n',
        header + b'[1, "o", "a"]\n[0.5, "o", "b"]\n',
        header + b'[1, "r", "80-24"]\n',
        header + b"\n",
    ):
        with pytest.raises(CastError):
            parse_cast(bad)


# -- replay ------------------------------------------------------------------------------


def test_play_keeps_the_timing_scaled_and_capped() -> None:
    pauses: list[float] = []
    out: list[str] = []
    events = [(0.0, "a"), (1.0, "b"), (11.0, "c")]
    play(events, out.append, sleep=pauses.append)
    assert out == ["a", "b", "c"]
    assert pauses == [1.0, 10.0]
    pauses.clear()
    play(events, out.append, speed=2, idle_limit=3, sleep=pauses.append)
    assert pauses == [0.5, 1.5]


def test_output_events_checks_the_format() -> None:
    lines = ['{"version": 2, "width": 1, "height": 1}', '[0.1, "i", "x"]', '[0.2, "o", "y"]']
    assert list(output_events("f", lines)) == [(0.2, "y")]
    for bad in ([], ["{}"], ['{"version": 2}', "[1]"], ["nope"]):
        with pytest.raises(SandboxError, match="not an asciicast v2 recording"):
            list(output_events("f", bad))

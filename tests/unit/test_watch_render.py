"""Every line ``agent-sandbox watch`` prints is free of control characters, whatever any field
of any event holds (the session relays names and reasons the sandbox chose)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bwsandbox.cli._watch import render

_KINDS = ("net", "question", "answered", "net-change", "reply", "error")
_FIELDS = ("host", "port", "proto", "reason", "error", "rule", "id", "kind", "timeout",
           "decision", "by", "path", "op", "rules", "ok")  # fmt: skip
_HOSTILE = st.lists(
    st.sampled_from(["\x1b", "\x07", "\x9b", "\r", "\n", "\x00", "\u202e", "]52;c;", "a", "."]),
    max_size=8,
).map("".join)
_VALUE = st.one_of(_HOSTILE, st.integers(), st.none(), st.lists(_HOSTILE, max_size=3))


@given(st.sampled_from(_KINDS), st.dictionaries(st.sampled_from(_FIELDS), _VALUE))
def test_no_field_reaches_the_terminal_raw(kind: str, fields: dict[str, Any]) -> None:
    event = {**fields, "event": kind}
    if kind == "reply":
        event["ok"] = False
    line = render(event)
    if line is None:
        return
    assert line.isprintable(), repr(line)


def test_control_a_plain_event_renders() -> None:
    line = render({"event": "answered", "host": "a.test", "port": 1, "decision": "once", "by": "w"})
    assert line == "answered a.test:1  once by w"

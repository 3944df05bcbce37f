"""The full ``run``/agent path turns the cyclic garbage collector off for start-up only: it is
off while the plan is resolved, compiled and started, and on again (start-up's objects
frozen) once the sandbox runs, or when start-up fails. No bwrap: the sandbox is a fake."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from types import SimpleNamespace
from typing import ClassVar

import pytest

import bwsandbox.runtime
from bwsandbox._errors import PolicyError
from bwsandbox.cli import _plancache, _resolve, _runcmd


@pytest.fixture(autouse=True)
def _collector_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENT_SANDBOX_PLAN_CACHE", "0")  # the full path, not the cache
    was = gc.isenabled()
    yield
    gc.unfreeze()
    if was:
        gc.enable()
    else:  # pragma: no cover - pytest runs with the collector on
        gc.disable()


class _FakeSandbox:
    """Records whether the collector ran at each step of a session."""

    seen: ClassVar[list[tuple[str, bool]]] = []

    def __init__(self, session: object, **_options: object) -> None:
        self.plan = session
        self.workdir = ""
        self.recording = ""

    def start(self) -> None:
        self.seen.append(("start", gc.isenabled()))

    def wait(self) -> int:
        self.seen.append(("wait", gc.isenabled()))
        return 0

    def stop(self) -> None:
        pass


def _resolved() -> SimpleNamespace:
    def prepare() -> object:
        _FakeSandbox.seen.append(("prepare", gc.isenabled()))
        return object()

    return SimpleNamespace(
        policy=SimpleNamespace(mcp=SimpleNamespace(servers=())),
        prepare=prepare,
        notes=(),
        keep_workdir=False,
        interactive=False,
    )


def test_off_during_start_up_and_on_while_the_sandbox_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _FakeSandbox.seen = []
    monkeypatch.setattr(_resolve, "resolve", lambda *_args: _resolved())
    monkeypatch.setattr(bwsandbox.runtime, "Sandbox", _FakeSandbox, raising=False)
    monkeypatch.setattr(_plancache, "exposes_cache", lambda _plan: False)
    frozen = gc.get_freeze_count()

    assert _runcmd.run_command("run", {}, ("true",)) == 0

    assert _FakeSandbox.seen == [("prepare", False), ("start", False), ("wait", True)]
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen  # start-up's objects are not walked again


def test_on_again_when_start_up_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        assert not gc.isenabled()
        raise PolicyError("no such policy")

    monkeypatch.setattr(_resolve, "resolve", refuse)

    with pytest.raises(PolicyError):
        _runcmd.run_command("run", {}, ("true",))

    assert gc.isenabled()


def test_control_the_fake_sees_a_collector_left_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the switch (the collector untouched), the fake records it on at every step:
    the first test's ``False`` entries come from the switch, not from the fake."""
    _FakeSandbox.seen = []
    monkeypatch.setattr(_resolve, "resolve", lambda *_args: _resolved())
    monkeypatch.setattr(bwsandbox.runtime, "Sandbox", _FakeSandbox, raising=False)
    monkeypatch.setattr(_plancache, "exposes_cache", lambda _plan: False)
    monkeypatch.setattr(gc, "disable", lambda: None)

    assert _runcmd.run_command("run", {}, ("true",)) == 0

    assert _FakeSandbox.seen == [("prepare", True), ("start", True), ("wait", True)]

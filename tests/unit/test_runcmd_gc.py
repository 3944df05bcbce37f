"""``run_command`` turns the cyclic garbage collector off for the start only: on again (the
start's objects frozen) after it, whether the start worked or failed; a caller that had it
off keeps it off. The control: the collector is really off while the start runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bwsandbox._errors import PolicyError
from bwsandbox.cli import _runcmd


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    gc.enable()
    gc.unfreeze()


def _fake(seen: list[bool], *, fail: bool) -> object:
    def run_full(*_args: object) -> int:
        seen.append(gc.isenabled())
        if fail:
            raise PolicyError("refused")
        return 7

    return run_full


@pytest.mark.parametrize("fail", [False, True])
def test_off_for_the_start_and_on_again(monkeypatch: pytest.MonkeyPatch, fail: bool) -> None:
    monkeypatch.setenv("AGENT_SANDBOX_PLAN_CACHE", "0")
    seen: list[bool] = []
    monkeypatch.setattr(_runcmd, "_run_full", _fake(seen, fail=fail))
    gc.enable()
    if fail:
        with pytest.raises(PolicyError):
            _runcmd.run_command("run", {}, ("true",))
    else:
        assert _runcmd.run_command("run", {}, ("true",)) == 7
    assert seen == [False], "control: the collector was off during the start"
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0, "the start's objects are frozen, not scanned again"


def test_a_caller_that_turned_it_off_keeps_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SANDBOX_PLAN_CACHE", "0")
    seen: list[bool] = []
    monkeypatch.setattr(_runcmd, "_run_full", _fake(seen, fail=False))
    gc.disable()
    assert _runcmd.run_command("run", {}, ("true",)) == 7
    assert seen == [False]
    assert not gc.isenabled()

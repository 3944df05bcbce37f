"""``explain`` says plainly what ``--memory`` means for this user (issue 9 finding 13)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from bwsandbox.cli import _explain_limits
from bwsandbox.compile._limits import ResourceLimits
from bwsandbox.compile._plan import SandboxPlan
from bwsandbox.policy import load_policy
from bwsandbox.runtime import _limits
from bwsandbox.runtime._limits import CgroupSupport

NONE = CgroupSupport(0, reason="no delegated subtree")
CGROUP = CgroupSupport(2, (("memory", "/sys/fs/cgroup/x"), ("pids", "/sys/fs/cgroup/x")))


def _lines(monkeypatch: pytest.MonkeyPatch, support: CgroupSupport, **limits: object) -> str:
    monkeypatch.setattr(_limits, "probe_cgroups", lambda: support)
    plan = cast(SandboxPlan, SimpleNamespace(limits=ResourceLimits(**limits)))  # type: ignore[arg-type]
    return "\n".join(_explain_limits.limit_lines(load_policy(("base",)), plan))


def test_memory_without_a_cgroup_is_said_to_be_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _lines(monkeypatch, NONE, memory=256 << 20)
    assert "memory = 256M: rlimit RLIMIT_DATA (per process" in text
    assert "note: --memory 256M is a per-process cap here, not a sandbox total" in text
    assert "memfd, /dev/shm" in text
    assert "supervisor" in text
    assert "agent-sandbox ps" in text


def test_memory_in_a_cgroup_is_the_sandbox_total(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _lines(monkeypatch, CGROUP, memory=256 << 20)
    assert "memory = 256M: cgroup v2 memory controller (the whole sandbox)" in text
    assert "per-process cap" not in text


def test_no_limits_no_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _lines(monkeypatch, NONE)
    assert "note:" not in text

"""Prepared sessions run for real: the plan prepared once is the plan launched.

As root and as an ordinary user (the suite runs as both). The work dir is the seam between
the plan and the session: prepare chooses its path, the runtime creates exactly that dir, and
anything already at that path (a planted symlink) is never followed nor touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import bwsandbox
from bwsandbox import Sandbox
from bwsandbox._audit import MemoryAudit
from bwsandbox.runtime._workdir import PREFIX

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

KEY = "sk-ant-prepare-run-0123456789"


@pytest.fixture
def host_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "host-tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return path


def _workdirs(host_tmp: Path) -> list[Path]:
    return sorted(p for p in host_tmp.iterdir() if p.name.startswith(PREFIX))


def test_the_prepared_plan_is_the_plan_launched(project: Path, host_tmp: Path) -> None:
    prepared = bwsandbox.prepare(["sh", "-c", 'echo "$TMPDIR"; ls -a /tmp'], project=project)
    audit = MemoryAudit()
    with Sandbox(prepared, capture_output=True, audit=audit) as box:
        assert box.plan is prepared.plan, "not compiled again"
        assert box.workdir == prepared.workdir
        assert box.session_id == prepared.session_id
        assert Path(prepared.workdir, "tmp").is_dir()
        assert box.wait(60) == 0
    assert box.stdout_data is not None
    assert box.stdout_data.decode().splitlines()[0] == "/tmp"
    [start] = [e for e in audit.events if e["event"] == "start"]
    assert start["workdir"] == prepared.workdir
    assert start["argv"] == prepared.plan.argv()
    assert _workdirs(host_tmp) == [], "removed at the end, as before"


def test_a_prepared_session_started_twice_is_two_sessions(project: Path, host_tmp: Path) -> None:
    prepared = bwsandbox.prepare(["true"], project=project)
    with Sandbox(prepared, audit=MemoryAudit()) as first:
        assert first.wait(60) == 0
    with Sandbox(prepared, audit=MemoryAudit()) as second:
        assert second.wait(60) == 0
    assert first.session_id == prepared.session_id
    assert second.session_id != first.session_id, "one audit trail per session"
    assert second.workdir != first.workdir
    assert _workdirs(host_tmp) == []


def test_something_planted_at_the_prepared_work_dir_is_never_followed(
    project: Path, host_tmp: Path, tmp_path: Path
) -> None:
    """Between prepare and start, a symlink appears at the planned work dir path, pointing at
    a directory of the victim's. The runtime must not create, write or remove anything through
    it: the session gets a fresh path instead (mkdir never follows the last component)."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("precious")
    prepared = bwsandbox.prepare(["sh", "-c", "echo x > /tmp/out"], project=project)
    planted = Path(prepared.workdir)
    planted.symlink_to(victim)
    with Sandbox(prepared, audit=MemoryAudit()) as box:
        assert box.workdir != prepared.workdir
        assert box.wait(60) == 0
    assert planted.is_symlink(), "left alone"
    assert sorted(p.name for p in victim.iterdir()) == ["keep"]
    assert (victim / "keep").read_text() == "precious"
    assert _workdirs(host_tmp) == [planted]
    # Control: without the planted link the session uses exactly the prepared path
    planted.unlink()
    again = bwsandbox.prepare(["true"], project=project)
    with Sandbox(again, audit=MemoryAudit()) as box:
        assert box.workdir == again.workdir
        assert box.wait(60) == 0


def _counting(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, counts: dict[str, int]
) -> None:
    real: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the host is probed and a plan compiled, from now on."""
    import bwsandbox.compile
    from bwsandbox.runtime import _probe

    seen = {"probe_host": 0, "compile_plan": 0}
    _counting(monkeypatch, _probe, "probe_host", seen)
    _counting(monkeypatch, bwsandbox.compile, "compile_plan", seen)
    return seen


def test_the_library_probes_and_compiles_once(
    project: Path, host_tmp: Path, counts: dict[str, int]
) -> None:
    result = bwsandbox.run(["true"], project=project)
    assert result.returncode == 0
    assert counts == {"probe_host": 1, "compile_plan": 1}


def test_a_cli_cache_miss_probes_and_compiles_once(
    project: Path, host_tmp: Path, counts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``agent-sandbox run`` with the plan cache on, first run (a miss): the cache entry is
    rendered from the session's own plan, not compiled a second time."""
    from bwsandbox.cli._runcmd import run_command

    monkeypatch.chdir(project)
    monkeypatch.setenv("AGENT_SANDBOX_PLAN_CACHE", "1")
    assert run_command("run", {"tty": False}, ("true",)) == 0
    assert counts == {"probe_host": 1, "compile_plan": 1}
    # and the explain path: one probe, one compile too
    from bwsandbox.cli._explain import explain

    explain({"tty": False}, ("true",))
    assert counts == {"probe_host": 2, "compile_plan": 2}


def _stub_claude(tmp_path: Path) -> dict[str, str]:
    stub = tmp_path / "stub-bin" / "claude"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "key=$ANTHROPIC_API_KEY"\necho "args=$*"\n')
    stub.chmod(0o755)
    return {"BWSANDBOX_AGENT_BIN_CLAUDE": str(stub), "ANTHROPIC_API_KEY": KEY}


def _none_layer(tmp_path: Path) -> str:
    path = tmp_path / "no-network.toml"
    path.write_text('[network]\nmode = "none"\n')
    return str(path)


def test_the_library_runs_an_agent_profile(project: Path, host_tmp: Path, tmp_path: Path) -> None:
    """``bwsandbox.run(ARGS, agent="claude")``: the stub agent runs with its arguments; a
    ``policies`` layer with ``network.mode = "none"`` gets the key as a variable (no proxy
    to inject it)."""
    environ = {**os.environ, **_stub_claude(tmp_path)}
    result = bwsandbox.run(
        ["-p", "hi"],
        agent="claude",
        project=project,
        policies=[_none_layer(tmp_path)],
        environ=environ,
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout is not None
    assert result.stdout.decode().splitlines() == [f"key={KEY}", "args=-p hi"]


@pytest.mark.netns
def test_the_library_agent_profile_injects_the_key_when_filtered(
    project: Path, host_tmp: Path, tmp_path: Path
) -> None:
    """Control for the test above: the profile's own filtered mode holds a placeholder."""
    environ = {**os.environ, **_stub_claude(tmp_path)}
    result = bwsandbox.run(
        [], agent="claude", project=project, environ=environ, capture_output=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout is not None
    out = result.stdout.decode()
    assert out.startswith("key=")
    assert out.splitlines()[0] != "key="
    assert KEY not in out


def test_cli_policy_layer_setting_none_gets_no_key_injection(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    """Regression: ``agent-sandbox claude --policy L`` where L sets ``network.mode = "none"``
    (no ``--network``) used to be compiled for proxy injection and fail (exit 125)."""
    env = _stub_claude(tmp_path)
    layered = cli("claude", "--no-tty", "--policy", _none_layer(tmp_path), env=env)
    assert layered.returncode == 0, layered.describe()
    assert f"key={KEY}" in layered.stdout.splitlines()
    assert "injected by the proxy" not in layered.stderr
    # Control: --network none, the documented way, behaves the same
    flagged = cli("claude", "--no-tty", "--network", "none", env=env)
    assert flagged.returncode == 0, flagged.describe()
    assert f"key={KEY}" in flagged.stdout.splitlines()


@pytest.mark.netns
def test_cli_agent_in_filtered_mode_injects_the_key(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    """Control for the regression: the profile's filtered mode still injects (placeholder)."""
    result = cli("claude", "--no-tty", env=_stub_claude(tmp_path))
    assert result.returncode == 0, result.describe()
    assert "injected by the proxy" in result.stderr
    assert KEY not in result.stdout

"""Property: no program planted in the project's git layout runs when host git is used.

Layouts (nested repositories, ``.git`` files, ``commondir`` chains, worktrees, bare dirs,
symlinks, ``.git/modules``, gitlinks, includes, alternates, a new top ``.git``; each with a
way to run a program: ``core.fsmonitor``, hooks, ``core.hooksPath``, ``core.sshCommand``,
diff and filter drivers...) are planted directly into the project as a session would leave
it, then the real post-session checks run (``runtime._nested.scan_nested`` and
``runtime._githistory.GitGuard``), then the real host git commands a user or an IDE runs, in
every directory of the project. A canary dir records any planted program that ran.

The control runs the same layouts (those whose program the host commands surely trigger)
without the checks: the canary must fire. ``tests/sandbox/test_attack_git_property.py``
plants through real bwrap sessions. ``BWSANDBOX_PROPERTY_EXAMPLES=N`` runs longer.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bwsandbox.runtime._githistory import GitGuard
from bwsandbox.runtime._nested import scan_nested
from tests.sandbox._gitplant import Layout, init_project, layouts, run_host_git

EXAMPLES = int(os.environ.get("BWSANDBOX_PROPERTY_EXAMPLES", "12"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def protected(project: Path) -> tuple[str, ...]:
    """What the base policy protects, for the checks' snapshot."""
    return tuple(
        f"{project}/{p}"
        for p in (".git/hooks", ".git/config", ".git/config.worktree", ".envrc", ".vscode")
    )


def plant(base: Path, layout: Layout, *, check: bool) -> Path:
    """Plant ``layout`` in a fresh project, as a session would; returns the canary dir."""
    project, canary, home = base / "project", base / "canary", base / "home"
    for d in (project, canary, home):
        d.mkdir()
    if layout.top_git:
        init_project(project)
    since = time.time() - 1.0
    guard = GitGuard.snapshot(protected(project), "s1", since)
    assert guard is not None
    done = subprocess.run(
        ["sh", "-c", layout.script(canary)],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(home)},
    )
    assert done.returncode == 0, (layout, done.stderr)
    if check:
        scan_nested(str(project), since=since, session="s1", budget=30.0)
        guard.settle()
    run_host_git(project, home)
    return canary


@SETTINGS
@given(layout=layouts())
def test_no_planted_program_runs_on_the_host(
    layout: Layout, tmp_path_factory: pytest.TempPathFactory
) -> None:
    canary = plant(tmp_path_factory.mktemp("plant"), layout, check=True)
    assert sorted(p.name for p in canary.iterdir()) == [], layout
    if layout.alternates:
        project = canary.parent / "project"
        assert not (project / ".git" / "objects" / "info" / "alternates").exists()


@settings(SETTINGS, max_examples=max(6, EXAMPLES // 2))
@given(layout=layouts(effective=True))
def test_control_without_the_checks_the_planted_program_runs(
    layout: Layout, tmp_path_factory: pytest.TempPathFactory
) -> None:
    canary = plant(tmp_path_factory.mktemp("plant"), layout, check=False)
    assert [p.name for p in canary.iterdir()] == ["ran-0"], layout

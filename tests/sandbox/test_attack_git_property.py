"""Property, through real bwrap sessions: planted git layouts run nothing on the host.

The layouts of ``tests/unit/test_git_property.py`` (:mod:`tests.sandbox._gitplant`) are
planted by a script inside a real sandbox session (``agent-sandbox run``), so the real
post-session checks of both launch paths run; then the host git commands a user or an IDE
runs, in every directory of the project, with a canary. The control plants layouts whose
program those commands surely run, puts back what the checks moved aside, and sees the
canary fire. Few examples (each is a session); ``BWSANDBOX_PROPERTY_EXAMPLES`` runs more.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings

from tests.sandbox._gitplant import Layout, init_project, layouts, run_host_git
from tests.sandbox.test_attack_git_history import put_back

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

EXAMPLES = max(4, int(os.environ.get("BWSANDBOX_PROPERTY_EXAMPLES", "0")) // 4)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def session(cli: Cli, tmp_path: Path, layout: Layout) -> tuple[Path, Path, Path]:
    base = Path(tempfile.mkdtemp(dir=tmp_path))
    project, canary, home = base / "project", base / "canary", base / "home"
    for d in (project, canary, home):
        d.mkdir()
    if layout.top_git:
        init_project(project)
    result = cli("run", "--project", str(project), "--", "sh", "-c", layout.script(canary))
    assert "planted" in result.stdout, (layout, result.describe())
    return project, canary, home


@SETTINGS
@given(layout=layouts())
def test_layouts_planted_in_a_session_run_nothing_on_the_host(
    cli: Cli, tmp_path: Path, layout: Layout
) -> None:
    project, canary, home = session(cli, tmp_path, layout)
    run_host_git(project, home)
    assert sorted(p.name for p in canary.iterdir()) == [], layout


@settings(SETTINGS, max_examples=3)
@given(layout=layouts(effective=True))
def test_control_put_back_the_planted_program_runs(
    cli: Cli, tmp_path: Path, layout: Layout
) -> None:
    project, canary, home = session(cli, tmp_path, layout)
    assert put_back(project), layout
    run_host_git(project, home)
    assert [p.name for p in canary.iterdir()] == ["ran-0"], layout

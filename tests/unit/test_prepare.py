"""``bwsandbox.prepare``: the session decided once (policy, host facts, workspace, plan).

Pure parts and the host probe only; no sandbox is started here (``tests/sandbox/
test_prepare_run.py`` runs prepared sessions for real).
"""

# ruff: noqa: PTH119, PTH120

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bwsandbox
from bwsandbox import LaunchError, Sandbox
from bwsandbox._prepare import resolve
from bwsandbox.cli._resolve import resolve as cli_resolve
from bwsandbox.compile._facts import PathKind
from bwsandbox.policy import load_policy
from bwsandbox.runtime._prepared import Prepared, plan_workdir
from bwsandbox.runtime._workdir import PREFIX


@pytest.fixture
def host_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "host-tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    return path


def test_prepare_decides_the_session_without_creating_anything(
    project: Path, host_tmp: Path
) -> None:
    prepared = bwsandbox.prepare(["make", "-j2"], project=project)
    assert isinstance(prepared, bwsandbox.Prepared)
    assert prepared.project == str(project.resolve())
    assert prepared.command == ("make", "-j2")
    assert prepared.facts.tmpdir == str(host_tmp)
    workdir = Path(prepared.workdir)
    assert workdir.parent == host_tmp
    assert workdir.name.startswith(PREFIX)
    assert len(prepared.session_id) == 12
    assert not workdir.exists(), "the runtime creates the work dir at start"
    assert list(host_tmp.iterdir()) == []
    argv = prepared.plan.argv()
    assert f"{workdir}/tmp" in argv, "the plan is compiled with the work dir's real path"
    assert prepared.plan.command == ("make", "-j2")


def test_each_prepare_is_a_new_session(project: Path, host_tmp: Path) -> None:
    first, second = (bwsandbox.prepare(["true"], project=project) for _ in range(2))
    assert first.session_id != second.session_id
    assert first.workdir != second.workdir
    assert first.policy == second.policy


def test_renewed_changes_only_the_session(project: Path, host_tmp: Path) -> None:
    prepared = bwsandbox.prepare(["true"], project=project)
    again = prepared.renewed()
    assert again.session_id != prepared.session_id
    assert again.workdir != prepared.workdir
    assert os.path.dirname(again.workdir) == str(host_tmp)
    same = [token.replace(again.workdir, prepared.workdir) for token in again.plan.argv()]
    assert same == prepared.plan.argv()


def test_paths_in_the_work_dir_are_probed_as_the_runtime_creates_them(
    project: Path, host_tmp: Path
) -> None:
    """A policy may name ``{workdir}``: the plan must see the dir as it will be at launch
    (made by the runtime after the probe), not as missing."""
    layer = {"filesystem": {"ro": [{"src": "{workdir}/home", "dest": "/w", "optional": True}]}}
    prepared = bwsandbox.prepare(["true"], project=project, overlays=[("test", layer)])
    seen = prepared.facts.paths
    assert seen[f"{prepared.workdir}/home"].kind is PathKind.DIR
    assert "/w" in prepared.plan.argv(), "an optional bind of a missing path would be dropped"


def test_a_string_command_is_refused(project: Path, host_tmp: Path) -> None:
    with pytest.raises(TypeError, match="sequence of arguments"):
        bwsandbox.prepare("make all", project=project)


def test_a_prepared_session_carries_its_own_project_and_command(
    project: Path, host_tmp: Path
) -> None:
    prepared = bwsandbox.prepare(["true"], project=project)
    for extra in (
        {"project": project},
        {"command": ["ls"]},
        {"client": "x"},
        {"interactive": False},
    ):
        with pytest.raises(TypeError, match=r"bwsandbox\.prepare"):
            Sandbox(prepared, **extra)
    with pytest.raises(TypeError, match="needs project"):
        Sandbox(load_policy(("base",)))
    box = Sandbox(prepared)  # nothing started yet
    assert (box.project, box.command, box.session_id) == (
        prepared.project,
        ("true",),
        prepared.session_id,
    )


def test_an_interactive_session_cannot_capture_output(project: Path, host_tmp: Path) -> None:
    prepared = bwsandbox.prepare(["true"], project=project, interactive=True)
    with pytest.raises(TypeError, match="interactive"):
        Sandbox(prepared, capture_output=True)


def test_explains_symbolic_session_cannot_be_started(project: Path, host_tmp: Path) -> None:
    stage = resolve(["true"], project=project)
    prepared = stage.prepare(workdir="{workdir}", session_id="explain")
    assert "{workdir}/tmp" in prepared.plan.argv()
    with pytest.raises(LaunchError, match="symbolic work dir"):
        Sandbox(prepared).start()
    assert list(host_tmp.iterdir()) == []


def test_a_project_swapped_after_prepare_is_refused(tmp_path: Path, host_tmp: Path) -> None:
    """The runtime checks the prepared project again: a dir replaced by a symlink to another
    place between prepare and start is refused, nothing is created."""
    project = tmp_path / "proj"
    project.mkdir()
    prepared = bwsandbox.prepare(["true"], project=project)
    project.rename(tmp_path / "moved")
    (tmp_path / "elsewhere").mkdir()
    project.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(bwsandbox.WorkspaceError, match="changed since"):
        Sandbox(prepared).start()
    assert list(host_tmp.iterdir()) == []


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="abcdef0123456789/-_.", min_size=1, max_size=20))
def test_plan_workdir_is_a_fresh_name_in_tmpdir(tmpdir: str) -> None:
    base = "/" + tmpdir.strip("/")
    path = plan_workdir(base)
    assert os.path.dirname(path) == base
    assert os.path.basename(path).startswith(PREFIX)
    assert len(os.path.basename(path)) == len(PREFIX) + 12


#: (CLI option values, the same as bwsandbox.prepare keywords)
OPTION_SETS: list[tuple[dict[str, object], dict[str, Any]]] = [
    ({}, {}),
    (
        {"network": "filtered", "allow": ("example.com",)},
        {"network": "filtered", "allow": ["example.com"]},
    ),
    ({"allow": ("example.com:443",)}, {"allow": ["example.com:443"]}),
    (
        {"ro": ("/etc/hostname",), "env": ("A=1", "HOME")},
        {"ro": ["/etc/hostname"], "env": ["A=1", "HOME"]},
    ),
    ({"policy": ("shell",), "network": "host"}, {"policies": ["base", "shell"], "network": "host"}),
    ({"add_host": ("db.test=10.0.0.5",)}, {"add_hosts": {"db.test": "10.0.0.5"}}),
]


@pytest.mark.parametrize(("values", "keywords"), OPTION_SETS)
def test_the_cli_and_the_library_prepare_the_same_session(
    values: dict[str, object],
    keywords: dict[str, Any],
    project: Path,
    host_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``agent-sandbox run OPTIONS -- env`` and ``bwsandbox.prepare(["env"], ...)`` with the
    same options give the same merged policy, command and plan (one function underneath)."""
    monkeypatch.chdir(project)
    cli = cli_resolve("run", {**values, "tty": False}, ("env",)).prepare()
    library = bwsandbox.prepare(["env"], project=project, **keywords)
    assert cli.policy == library.policy
    assert cli.command == library.command
    same = [t.replace(cli.workdir, library.workdir) for t in cli.plan.argv()]
    assert same == library.plan.argv()


def test_prepared_is_frozen(project: Path, host_tmp: Path) -> None:
    prepared = bwsandbox.prepare(["true"], project=project)
    with pytest.raises(AttributeError):
        prepared.plan = prepared.plan  # type: ignore[misc]
    assert isinstance(prepared, Prepared)

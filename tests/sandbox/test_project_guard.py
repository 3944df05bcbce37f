"""Issue 10.3: projects agent-sandbox refuses, for every way of starting a sandbox.

A project is bound read-write. ``/``, a home dir or an ancestor of one (``~/.ssh``, every
client's compartment), a dir inside agent-sandbox's data or config dir, or one that contains
the data, config or runtime dir (session records, the record key, the plan cache, user
policies) exits 125 with one ``error:`` line: from ``run`` (the full path and the plan-cache
fast path), ``shell``, ``explain``, an agent command and the library. There is no override:
for ``$HOME`` and its ancestors the data dir is normally inside, and a home subdirectory or
single paths (``--ro``/``--rw``) give the same access without exposing everything else.

Each case has its control: the same command from an ordinary project works (``cd /`` used to
hang forever at 100 % CPU, so every call has a timeout).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bwsandbox
from bwsandbox._errors import WorkspaceError
from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

COMMANDS = (
    ("run", "--", "true"),
    ("shell",),
    ("explain", "--", "true"),
    ("codex", "--", "--version"),
)


def _refused(cli: Cli, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = cli(*args, cwd=cwd, env=env, timeout=30)
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1, result.describe()
    return result.error_lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_the_root_directory_is_refused(cli: Cli, args: tuple[str, ...]) -> None:
    line = _refused(cli, Path("/"), *args)
    assert "the project is the root directory /" in line
    line = _refused(cli, cli.cwd, args[0], "--project", "//", *args[1:])
    assert "root directory" in line


def test_the_fast_path_refuses_the_root_too(cli: Cli) -> None:
    """The second ``run`` would hit the plan cache: a refused project is never cached."""
    for _ in range(2):
        _refused(cli, Path("/"), "run", "--", "true")
    plans = cli.runtime_dir / "agent-sandbox" / "plans"
    assert not plans.exists() or not any(plans.iterdir())
    control = cli("run", "--", "true")
    assert control.returncode == 0, control.describe()


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_home_and_its_ancestors_are_refused(
    cli: Cli, tmp_path: Path, args: tuple[str, ...]
) -> None:
    home = tmp_path / "users" / "alice"
    (home / ".ssh").mkdir(parents=True)
    (home / "code").mkdir()
    env = {"HOME": str(home)}
    assert "is your home directory" in _refused(cli, home, *args, env=env)
    line = _refused(cli, tmp_path / "users", *args, env=env)
    assert "contains your home directory" in line
    if args[0] in ("run", "explain"):
        control = cli(*args, cwd=home / "code", env=env, timeout=30)
        assert control.returncode == 0, control.describe()


def test_the_agent_sandbox_dirs_are_refused(cli: Cli) -> None:
    data = Path(cli.env["AGENT_SANDBOX_DATA_DIR"])
    config = Path(cli.env["AGENT_SANDBOX_CONFIG_DIR"])
    compartment = data / "clients" / "acme" / "home"
    compartment.mkdir(parents=True)
    assert "inside agent-sandbox's data dir" in _refused(cli, compartment, "run", "--", "true")
    (config / "policies").mkdir(exist_ok=True)
    assert "inside agent-sandbox's config dir" in _refused(
        cli, config / "policies", "run", "--", "true"
    )
    line = _refused(cli, config.parent, "run", "--", "true")
    assert "contains agent-sandbox's" in line
    runtime = cli.cwd / "xdg"
    runtime.mkdir(mode=0o700)
    line = _refused(cli, cli.cwd, "run", "--", "true", env={"XDG_RUNTIME_DIR": str(runtime)})
    assert "contains the runtime dir" in line


def test_the_library_refuses_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WorkspaceError, match="root directory"):
        bwsandbox.run(["true"], project="/")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with pytest.raises(WorkspaceError, match="your home directory"):
        bwsandbox.run(["true"], project=tmp_path)
    (tmp_path / "code").mkdir()
    assert bwsandbox.run(["true"], project=tmp_path / "code").returncode == 0


def test_a_symlink_to_a_refused_project_is_refused(cli: Cli, tmp_path: Path) -> None:
    link = tmp_path / "innocent"
    link.symlink_to("/")
    assert "root directory" in _refused(cli, cli.cwd, "run", "--project", str(link), "--", "true")
    assert os.path.realpath(link) == "/"

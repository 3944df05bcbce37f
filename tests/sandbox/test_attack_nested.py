"""Attacks: nested git repositories planted below the writable project.

Mounts cannot protect paths that do not exist yet, so the sandbox can ``git init`` anywhere
below the project and configure the new repository to run a program; host git run there
later would run it. After the session the runtime finds such repositories and moves their
config and hooks aside (``runtime._nested``). Each attack is checked by running host git in
the planted repository with a marker file, and a control shows the marker appears when the
moved config is put back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

ASIDE = ".agent-sandbox-"


def host_git(cwd: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Host git as a user's shell prompt would run it (no system or global config)."""
    git = shutil.which("git")
    assert git is not None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PAGER": "",
        "PAGER": "",
    }
    return subprocess.run(
        [git, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def asides(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if ASIDE in p.name)


@pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True)
def test_planted_fsmonitor_does_not_run_on_host(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    attack = sbx.sh(
        "mkdir -p vendor/lib && cd vendor/lib && git init -q && "
        f"git config core.fsmonitor 'touch {marker}; false' && echo planted"
    )
    assert "planted" in attack.stdout, attack.describe()
    assert "warning:" in attack.stderr, attack.describe()
    assert "moved aside" in attack.stderr, attack.describe()
    repo = git_project / "vendor" / "lib"
    host_git(repo, "status", home=tmp_path)
    assert not marker.exists(), attack.describe()
    # Control: the moved config really is the attack (warm: two runs, two moved configs).
    aside = asides(repo / ".git")[0]
    aside.rename(repo / ".git" / "config")
    host_git(repo, "status", home=tmp_path)
    assert marker.exists(), "control: the planted fsmonitor should run when put back"


PLANTS = {
    "hook file": (
        (
            "mkdir -p v/a && cd v/a && git init -q && "
            "printf '#!/bin/sh\\ntouch {marker}\\n' > .git/hooks/pre-commit && "
            "chmod +x .git/hooks/pre-commit"
        ),
        "v/a/.git",
        "hooks",
    ),
    "hooksPath": (
        "mkdir -p v/a && cd v/a && git init -q && git config core.hooksPath /tmp/x",
        "v/a/.git",
        "config",
    ),
    "pager": (
        "mkdir -p v/a && cd v/a && git init -q && git config core.pager 'touch {marker}'",
        "v/a/.git",
        "config",
    ),
    "include": (
        "mkdir -p v/a && cd v/a && git init -q && git config include.path ../../evil.cfg",
        "v/a/.git",
        "config",
    ),
    "bare repository": (
        "git init -q --bare v/b.git && git -C v/b.git config core.pager 'touch {marker}'",
        "v/b.git",
        "config",
    ),
    "submodule git dir": (
        (
            "git init -q --bare .git/modules/sub && mkdir sub && "
            "echo 'gitdir: ../.git/modules/sub' > sub/.git && "
            "git --git-dir=.git/modules/sub config core.fsmonitor 'touch {marker}; false'"
        ),
        ".git/modules/sub",
        "config",
    ),
}


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_planted_repositories_are_defused(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path, name: str
) -> None:
    script, gitdir, moved = PLANTS[name]
    marker = tmp_path / "marker"
    attack = sbx.sh(script.format(marker=marker) + " && echo planted")
    assert "planted" in attack.stdout, attack.describe()
    where = git_project / gitdir
    assert not (where / moved).exists(), attack.describe()
    assert [p.name.split(ASIDE)[0] for p in asides(where)] == [moved], attack.describe()
    assert "moved aside" in attack.stderr, attack.describe()


def test_gitdir_file_pointing_to_a_planted_git_dir_is_moved(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    attack = sbx.sh(
        "git init -q --bare stash/x && git -C stash/x config core.bare false && "
        f"git -C stash/x config core.fsmonitor 'touch {marker}; false' && "
        "mkdir -p w && echo 'gitdir: ../stash/x' > w/.git && echo planted"
    )
    assert "planted" in attack.stdout, attack.describe()
    host_git(git_project / "w", "status", home=tmp_path)
    assert not marker.exists(), attack.describe()


def test_harmless_nested_clone_is_left_alone(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path
) -> None:
    attack = sbx.sh(
        "git init -q src && git -C src -c user.name=t -c user.email=t@e.invalid "
        "commit -q --allow-empty -m one && git clone -q src vendor/dep && echo cloned"
    )
    assert "cloned" in attack.stdout, attack.describe()
    gitdir = git_project / "vendor" / "dep" / ".git"
    assert (gitdir / "config").is_file(), attack.describe()
    assert (gitdir / "hooks").is_dir(), attack.describe()
    assert asides(gitdir) == [], attack.describe()
    assert "moved aside" not in attack.stderr, attack.describe()
    status = host_git(gitdir.parent, "status", "--short", home=tmp_path)
    assert status.returncode == 0, status.stderr


def test_symlinks_out_of_the_project_are_not_followed(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    repo = outside / "repo"
    repo.mkdir(parents=True)
    host_git(repo, "init", "-q", home=tmp_path)
    host_git(repo, "config", "core.fsmonitor", "true", home=tmp_path)
    before = sorted(str(p) for p in outside.rglob("*"))
    config = (repo / ".git" / "config").read_text()
    attack = sbx.sh(f"mkdir -p vendor && ln -s {outside} vendor/x && echo linked")
    assert "linked" in attack.stdout, attack.describe()
    assert sorted(str(p) for p in outside.rglob("*")) == before
    assert (repo / ".git" / "config").read_text() == config
    assert (git_project / "vendor" / "x").is_symlink()


def test_dotgit_symlink_to_a_dangerous_git_dir_is_moved_not_followed(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    host_git(outside, "init", "-q", home=tmp_path)
    host_git(outside, "config", "core.pager", "true", home=tmp_path)
    before = sorted(str(p) for p in outside.rglob("*"))
    attack = sbx.sh(f"mkdir -p w && ln -s {outside}/.git w/.git && echo linked")
    assert "linked" in attack.stdout, attack.describe()
    assert sorted(str(p) for p in outside.rglob("*")) == before
    assert not (git_project / "w" / ".git").is_symlink(), attack.describe()
    assert len(asides(git_project / "w")) == 1, attack.describe()

"""Attacks: writing outside the project, and planting code the host will run later.

The project is read-write, but paths the host later executes or interprets (git hooks and
config, direnv, editor settings and tasks...: ``protect`` in policies/base.toml) stay
read-only, including when they do not exist yet and against rename tricks.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import Canary, SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

EVIL = "bwsbx-evil"


def test_host_tmp_is_not_writable(sbx: SandboxRunner, canary: Canary) -> None:
    path = Path("/tmp") / f"bwsbx-canary-{os.getpid()}-tmp"
    new = Path("/tmp") / f"bwsbx-canary-{os.getpid()}-new"
    secret = canary(path)
    try:
        attack = sbx.sh(f"echo {EVIL} > {path}; echo {EVIL} > {new}; cat {path} {new}")
        # The writes succeed, into the sandbox's private /tmp...
        assert attack.stdout.count(EVIL) == 2, attack.describe()
        # ...and the host's /tmp is untouched.
        assert path.read_text().strip() == secret
        assert not new.exists()
    finally:
        new.unlink(missing_ok=True)


def test_real_home_is_not_writable(sbx: SandboxRunner, canary: Canary) -> None:
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    path = home / f".bwsbx-canary-{os.getpid()}-w"
    new = home / f".bwsbx-canary-{os.getpid()}-new"
    secret = canary(path)
    try:
        sbx.sh(f"echo {EVIL} >> {path}; echo {EVIL} > {new}; mkdir -p {home}; true")
        assert path.read_text().strip() == secret
        assert not new.exists()
    finally:
        new.unlink(missing_ok=True)


def test_sibling_directory_is_not_writable(
    sbx: SandboxRunner, project: Path, canary: Canary
) -> None:
    sibling = project.parent / "sibling"
    secret = canary(sibling / "data.txt")
    attack = sbx.sh(
        f"echo {EVIL} >> ../sibling/data.txt; echo {EVIL} > {sibling}/new.txt; "
        f"mkdir {sibling}/dir; rm -f {sibling}/data.txt; true"
    )
    assert (sibling / "data.txt").read_text().strip() == secret, attack.describe()
    assert sorted(p.name for p in sibling.iterdir()) == ["data.txt"], attack.describe()
    # Control: granted read-write, the same writes land.
    granted = sbx.sh(f"echo ok > {sibling}/new.txt", "--rw", str(sibling))
    assert granted.returncode == 0, granted.describe()
    assert (sibling / "new.txt").read_text() == "ok\n"


def test_system_directories_are_read_only(sbx: SandboxRunner) -> None:
    """Invoked as root, these would be writable on the host if bound read-write."""
    targets = ["/usr/bwsbx-evil", "/usr/bin/bwsbx-evil", "/etc/bwsbx-evil", "/bwsbx-evil"]
    script = "; ".join(f"echo {EVIL} > {t}" for t in targets) + "; true"
    attack = sbx.sh(script)
    for target in targets:
        assert not Path(target).exists(), f"{target} written on the host\n{attack.describe()}"
    usr = sbx.sh("touch /usr/bin/bwsbx-evil")
    assert usr.returncode != 0, usr.describe()


def test_project_files_stay_writable(sbx: SandboxRunner, git_project: Path) -> None:
    """Control for the protect tests: ordinary project files and .git internals are writable."""
    result = sbx.sh(
        "echo changed > README && mkdir -p src && echo 'x = 1' > src/app.py && "
        "echo hook > src/pre-commit && git add -A && git commit -qm 'from the sandbox' && "
        "echo ok"
    )
    assert result.returncode == 0, result.describe()
    assert (git_project / "README").read_text() == "changed\n"
    log = subprocess.run(
        ["git", "-C", str(git_project), "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout.splitlines()[0] == "from the sandbox"


# (attack script, path that must keep its content or stay absent)
PLANTS = {
    "existing hook": (f"echo {EVIL} > .git/hooks/pre-commit", ".git/hooks/pre-commit"),
    "new hook": (
        f"h=.git/hooks/post-checkout; printf '#!/bin/sh\\n{EVIL}\\n' > $h; chmod +x $h",
        ".git/hooks/post-checkout",
    ),
    "hooksPath": (f"git config core.hooksPath /tmp/{EVIL}", ".git/config"),
    "fsmonitor": (f"git config core.fsmonitor '{EVIL}'", ".git/config"),
    "config append": (f"printf '[core]\\n\\tpager = {EVIL}\\n' >> .git/config", ".git/config"),
    "envrc": (f"echo {EVIL} > .envrc", ".envrc"),
    "vscode settings": (f"echo {EVIL} > .vscode/settings.json", ".vscode/settings.json"),
    "vscode tasks": (f"echo {EVIL} > .vscode/tasks.json", ".vscode/tasks.json"),
    "idea": (f"echo {EVIL} > .idea/workspace.xml", ".idea/workspace.xml"),
    "absent devcontainer": (
        f"mkdir -p .devcontainer && echo {EVIL} > .devcontainer/devcontainer.json",
        ".devcontainer/devcontainer.json",
    ),
    "absent npmrc": (f"echo 'preinstall={EVIL}' > .npmrc", ".npmrc"),
    "absent pre-commit config": (
        f"echo {EVIL} > .pre-commit-config.yaml",
        ".pre-commit-config.yaml",
    ),
    "absent cargo config": (
        f"mkdir -p .cargo && echo {EVIL} > .cargo/config.toml",
        ".cargo/config.toml",
    ),
    "absent nvim": (f"echo {EVIL} > .nvim.lua", ".nvim.lua"),
    "absent husky": (f"mkdir -p .husky && echo {EVIL} > .husky/pre-commit", ".husky/pre-commit"),
    "rm hooks": (
        f"rm -rf .git/hooks; mkdir -p .git/hooks; echo {EVIL} > .git/hooks/pre-commit",
        ".git/hooks/pre-commit",
    ),
    "rename .git": (
        (
            "mv .git .git-orig && cp -a .git-orig .git && "
            f"echo {EVIL} > .git/hooks/pre-commit && echo '[core]' >> .git/config && "
            f"echo '	hooksPath = /tmp/{EVIL}' >> .git/config"
        ),
        ".git/hooks/pre-commit",
    ),
    "rename .git config": (
        (
            "mv .git .git-orig && cp -a .git-orig .git && "
            f"echo '[core]' >> .git/config && echo '	fsmonitor = {EVIL}' >> .git/config"
        ),
        ".git/config",
    ),
    "rename .vscode": (
        f"mv .vscode .vscode-orig; mkdir -p .vscode && echo {EVIL} > .vscode/tasks.json",
        ".vscode/tasks.json",
    ),
    "replace envrc": (f"rm -f .envrc; mv .envrc x; echo {EVIL} > .envrc", ".envrc"),
    "symlink envrc": (
        f"echo {EVIL} > payload; rm -f .envrc; ln -sf payload .envrc",
        ".envrc",
    ),
}


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_host_executed_files_cannot_be_planted(
    sbx: SandboxRunner, git_project: Path, name: str
) -> None:
    script, target = PLANTS[name]
    path = git_project / target
    before = path.read_bytes() if path.exists() else None
    attack = sbx.sh(f"{script}; true")
    after = path.read_bytes() if path.exists() or path.is_symlink() else None
    assert after == before, f"{target} changed by {name!r}\n{attack.describe()}"
    for config in (git_project / ".git" / "config", git_project / ".envrc"):
        assert EVIL.encode() not in config.read_bytes(), attack.describe()
    assert (git_project / ".git" / "hooks" / "pre-commit").read_text().endswith("# benign\n")


def test_protected_paths_are_writable_when_granted(sbx: SandboxRunner, git_project: Path) -> None:
    """Control: the plants above really write when the protection is lifted by a policy."""
    policy = git_project.parent / "unprotect.toml"
    policy.write_text(
        'extends = ["base"]\n[filesystem]\nremove = ["{project}/.git/hooks", "{project}/.envrc"]\n'
    )
    result = sbx.sh(
        f"echo {EVIL} > .git/hooks/pre-commit && echo {EVIL} > .envrc", "--policy", str(policy)
    )
    assert result.returncode == 0, result.describe()
    assert EVIL in (git_project / ".git" / "hooks" / "pre-commit").read_text()
    assert EVIL in (git_project / ".envrc").read_text()


def test_run_leaves_the_project_tree_unchanged(sbx: SandboxRunner, git_project: Path) -> None:
    """Protecting absent paths must not leave stub files or dirs in the project."""
    before = sorted(str(p.relative_to(git_project)) for p in git_project.rglob("*"))
    result = sbx.sh("true")
    assert result.returncode == 0, result.describe()
    after = sorted(str(p.relative_to(git_project)) for p in git_project.rglob("*"))
    assert after == before


def test_symlinked_protected_paths_cannot_be_replaced(sbx: SandboxRunner, project: Path) -> None:
    """A protected path that is a symlink on the host (a shared .envrc, a linked .vscode)."""
    (project / "shared").mkdir()
    (project / "shared" / "envrc").write_text("# benign\n")
    (project / "shared" / "vscode").mkdir()
    (project / ".envrc").symlink_to("shared/envrc")
    (project / ".vscode").symlink_to("shared/vscode")
    attack = sbx.sh(
        f"rm -f .envrc; echo {EVIL} > .envrc; rm -f .vscode; mkdir -p .vscode; "
        f"echo {EVIL} > .vscode/tasks.json; true"
    )
    assert (project / ".envrc").is_symlink(), attack.describe()
    assert (project / ".vscode").is_symlink(), attack.describe()
    assert EVIL not in (project / ".envrc").read_text(), attack.describe()
    assert not (project / ".vscode" / "tasks.json").exists(), attack.describe()


def test_nested_repository_with_fsmonitor_cannot_be_planted(
    sbx: SandboxRunner, git_project: Path
) -> None:
    attack = sbx.sh(
        "mkdir -p vendor/lib && cd vendor/lib && git init -q && "
        f"git config core.fsmonitor 'touch /tmp/{EVIL}; false' && echo planted"
    )
    assert "planted" in attack.stdout or attack.returncode != 0, attack.describe()
    config = git_project / "vendor" / "lib" / ".git" / "config"
    assert not config.exists() or EVIL not in config.read_text(), attack.describe()

"""git inside the sandbox: placeholders stay out of git, the host's identity and nothing else.

- Absent protected paths (``.envrc``, ``.npmrc``, ``.vscode/``...) get empty read-only
  placeholders for the session. ``git status`` inside shows what the host shows, ``git add -A``
  commits only the agent's changes, and every protected path still cannot be created; nothing
  of it is left afterwards.
- ``git commit`` works inside with the host's ``user.name``/``user.email``; the rest of the
  host's git config (aliases, credential helpers, ``core.fsmonitor``, includes) stays out.

Controls: the same commands with git's ignore file cleared show the placeholders; a policy
that lifts the protection lets the same creations land; host git sees the config keys that
the sandbox's git does not.
"""

from __future__ import annotations

import posixpath
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bwsandbox.policy import load_policy

if TYPE_CHECKING:
    from .conftest import PolicyFile, SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

EVIL = "bwsbx-evil"
NAME = 'Ada "the" Lovelace \\ Jr'
EMAIL = "ada@example.invalid"


def _git(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(project), *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout


@pytest.fixture
def host_config(tmp_path: Path) -> Path:
    """A host global git config with an identity and keys that must not reach the sandbox."""
    included = tmp_path / "included.gitconfig"
    included.write_text(f"[alias]\n\tincluded = !echo {EVIL}\n")
    config = tmp_path / "host.gitconfig"
    escaped = NAME.replace("\\", "\\\\").replace('"', '\\"')
    config.write_text(
        f'[user]\n\tname = "{escaped}"\n\temail = {EMAIL}\n'
        f"[alias]\n\tevil = !echo {EVIL}\n"
        f"[credential]\n\thelper = !echo {EVIL}\n"
        f"[include]\n\tpath = {included}\n"
    )
    return config


@pytest.fixture
def repo(project: Path, host_config: Path) -> Path:
    """A committed git repository without any of the protected files, and no local identity."""
    env = {"GIT_CONFIG_GLOBAL": str(host_config), "HOME": str(project.parent)}
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "README").write_text("hello\n")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "initial", env=env)
    return project


def _absent_protected(project: Path) -> list[tuple[str, bool]]:
    """(path relative to the project, is a directory) for every shipped protected path that
    is absent in ``project`` and whose parent exists (so a placeholder is made)."""
    out = []
    for template in load_policy(("base",)).filesystem.protect:
        path = template.replace("{project}", str(project))
        relative = posixpath.relpath(path.rstrip("/"), str(project))
        target = project / relative
        if not target.exists() and target.parent.is_dir():
            out.append((relative, template.endswith("/")))
    return out


def _tree(project: Path) -> list[str]:
    """The work tree outside ``.git/objects`` and ``.git/logs`` (commits change those)."""
    paths = (str(p.relative_to(project)) for p in project.rglob("*"))
    return sorted(p for p in paths if not p.startswith((".git/objects", ".git/logs")))


def test_git_status_inside_shows_what_the_host_shows(
    sbx: SandboxRunner, repo: Path, host_config: Path
) -> None:
    (repo / "untracked.txt").write_text("mine\n")
    (repo / "README").write_text("changed\n")
    host = _git(repo, "status", "--porcelain", "--untracked-files=all")
    env = {"GIT_CONFIG_GLOBAL": str(host_config)}
    inside = sbx.sh("git status --porcelain --untracked-files=all", env=env)
    assert inside.returncode == 0, inside.describe()
    assert inside.stdout == host, inside.describe()
    # a repository's own core.excludesFile does not bring them back
    _git(repo, "config", "core.excludesFile", "/dev/null")
    local = sbx.sh("git status --porcelain --untracked-files=all", env=env)
    assert local.stdout == host, local.describe()
    # Control: the placeholders are there, and git lists them once its ignore file is cleared.
    control = sbx.sh("git -c core.excludesFile=/dev/null status --porcelain -uall", env=env)
    listed = {line[3:] for line in control.stdout.splitlines()}
    expected = {rel for rel, is_dir in _absent_protected(repo) if not is_dir and "/" not in rel}
    assert expected, "the shipped policy protects absent files"
    assert expected <= listed, control.describe()


def test_git_add_all_commits_only_the_agents_changes(
    sbx: SandboxRunner, repo: Path, host_config: Path
) -> None:
    before = _tree(repo)
    result = sbx.sh(
        "mkdir -p src pkg && echo 'x = 1' > src/app.py && echo 'nested' > pkg/.envrc && "
        "git add -A && git commit -qm 'from the sandbox' && git log -1 --format='%an <%ae>'",
        env={"GIT_CONFIG_GLOBAL": str(host_config)},
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == f"{NAME} <{EMAIL}>", result.describe()
    files = _git(repo, "show", "--name-only", "--format=", "HEAD").split()
    # an .envrc below the project is no placeholder: the patterns are anchored
    assert sorted(files) == ["pkg/.envrc", "src/app.py"], result.describe()
    assert _git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert _tree(repo) == sorted([*before, "pkg", "pkg/.envrc", "src", "src/app.py"])


def test_a_repository_started_inside_hides_its_placeholders(
    sbx: SandboxRunner, project: Path, host_config: Path
) -> None:
    """The agent runs ``git init`` in a project that was no repository."""
    (project / "main.py").write_text("print(1)\n")
    inside = sbx.sh(
        "ls -a; git init -q && git status --porcelain --untracked-files=all",
        env={"GIT_CONFIG_GLOBAL": str(host_config)},
    )
    assert ".envrc" in inside.stdout.split(), inside.describe()  # a placeholder is there
    assert inside.stdout.endswith("\nmain.py\n?? main.py\n"), inside.describe()


def test_every_absent_protected_path_cannot_be_created(sbx: SandboxRunner, repo: Path) -> None:
    """For each protected path of the shipped policy: creating it fails during the session
    (as a file, as a directory, after removing it), and nothing of it is left afterwards."""
    absent = _absent_protected(repo)
    assert len(absent) >= 15, absent
    before = _tree(repo)
    attempts = []
    for relative, is_dir in absent:
        if is_dir:
            attempts.append(f"mkdir -p '{relative}' && echo {EVIL} > '{relative}/x'")
        attempts.append(f"rm -rf '{relative}'; echo {EVIL} > '{relative}'")
        # (across mounts, mv copies: the empty copy is the agent's own file, removed here)
        attempts.append(
            f"mv '{relative}' moved-away; rm -rf moved-away; echo {EVIL} > '{relative}'"
        )
    script = "; ".join(f"({a}) 2>/dev/null" for a in attempts)
    script += f"; grep -rl {EVIL} . 2>/dev/null; true"
    attack = sbx.sh(script)
    assert attack.stdout.strip() == "", f"created inside:\n{attack.describe()}"
    assert _tree(repo) == before, attack.describe()
    # Control: with the protection lifted, the same script creates every one of them.
    lifted = repo.parent / "lift.toml"
    lifted.write_text(
        'extends = ["base"]\n[filesystem]\nremove = ['
        + ", ".join(f'"{{project}}/{rel}"' for rel, _ in absent)
        + "]\n"
    )
    control = sbx.sh(script, "--policy", str(lifted))
    created = {
        line.removeprefix("./").split("/x")[0] for line in control.stdout.split() if line.strip()
    }
    assert created == {rel for rel, _ in absent}, control.describe()


def test_only_the_identity_reaches_the_sandbox(
    sbx: SandboxRunner, repo: Path, host_config: Path
) -> None:
    fsmonitor = repo / "fsmonitor.sh"
    marker = repo.parent / "fsmonitor-ran"
    fsmonitor.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fsmonitor.chmod(0o755)
    with host_config.open("a") as handle:
        handle.write(f"[core]\n\tfsmonitor = {fsmonitor}\n\tpager = echo {EVIL}\n")
    env = {"GIT_CONFIG_GLOBAL": str(host_config), "HOME": str(repo.parent)}
    # Control: host git reads all of it (and runs the fsmonitor hook).
    host = _git(repo, "config", "--global", "--list", env=env)
    for key in ("alias.evil", "credential.helper", "include.path", "core.fsmonitor"):
        assert key in host, host
    assert "alias.included" in _git(repo, "config", "--list", "--includes", env=env)
    _git(repo, "status", env=env)
    assert marker.exists(), "control: host git runs core.fsmonitor"
    marker.unlink()
    fsmonitor.unlink()  # keep the tree clean for the status below
    fsmonitor.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fsmonitor.chmod(0o755)
    inside = sbx.sh(
        "git config --list --show-scope; git status >/dev/null; git evil; git included; true",
        env={"GIT_CONFIG_GLOBAL": str(host_config)},
    )
    keys = {line.split("\t", 1)[1].split("=", 1)[0] for line in inside.stdout.splitlines()}
    assert keys == {
        "user.name",
        "user.email",
        "core.excludesfile",
        "core.repositoryformatversion",
        "core.filemode",
        "core.bare",
        "core.logallrefupdates",
    }, inside.describe()
    assert EVIL not in inside.stdout, inside.describe()
    assert not marker.exists(), inside.describe()


def test_identity_can_be_switched_off(
    sbx: SandboxRunner, repo: Path, host_config: Path, policy_file: PolicyFile
) -> None:
    policy = policy_file('extends = ["base"]\n[git]\nidentity = false\n')
    result = sbx.sh(
        "git config --get user.name; echo status=$?",
        "--policy",
        str(policy),
        env={"GIT_CONFIG_GLOBAL": str(host_config)},
    )
    assert result.stdout.strip() == "status=1", result.describe()
    # Control: on by default
    default = sbx.sh("git config --get user.name", env={"GIT_CONFIG_GLOBAL": str(host_config)})
    assert default.stdout.strip() == NAME, default.describe()


def test_editor_variables_pass_through(sbx: SandboxRunner) -> None:
    env = {"EDITOR": "vim", "VISUAL": "nvim -f", "GIT_EDITOR": "nano", "PAGER_X": "no"}
    result = sbx.sh('echo "$EDITOR|$VISUAL|$GIT_EDITOR|${PAGER_X:-unset}"', env=env)
    assert result.stdout.strip() == "vim|nvim -f|nano|unset", result.describe()


def test_a_cached_launch_follows_a_changed_identity(
    sbx: SandboxRunner, repo: Path, host_config: Path
) -> None:
    """The plan cache depends on the host's git config files: an edit is seen at once."""
    env = {"GIT_CONFIG_GLOBAL": str(host_config)}
    for _ in range(2):  # the second run is a cache hit
        first = sbx.sh("git config --get user.email", env=env)
        assert first.stdout.strip() == EMAIL, first.describe()
    host_config.write_text(host_config.read_text().replace(EMAIL, "grace@example.invalid"))
    changed = sbx.sh("git config --get user.email", env=env)
    assert changed.stdout.strip() == "grace@example.invalid", changed.describe()

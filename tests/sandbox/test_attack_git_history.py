"""Attacks on host git through the project's git layout and history (issue 9, findings 2, 3, 11).

Each attack runs in a real bwrap session; afterwards host git runs as a user's shell or IDE
would, with a canary, and must not run what the session planted. Each has a control: what the
post-session check moved aside (or reset) is put back, and the canary fires / the attacker's
content lands, which shows the attack is real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.sandbox._gitplant import host_env

if TYPE_CHECKING:
    from tests.conftest import Cli

    from .conftest import SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

ASIDE = ".agent-sandbox-"


def host_git(cwd: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    assert git is not None
    return subprocess.run(
        [git, *args],
        cwd=cwd,
        env=host_env(home),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def put_back(root: Path) -> list[Path]:
    """Undo every rename aside below ``root`` (the control: the check never ran)."""
    undone = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            if ASIDE in name:
                src = Path(dirpath) / name
                dst = Path(dirpath) / name.split(ASIDE)[0]
                if not dst.exists():
                    src.rename(dst)
                    undone.append(dst)
    return undone


def audit_events(cli: Cli, event: str) -> list[dict[str, object]]:
    data = Path(cli.env["AGENT_SANDBOX_DATA_DIR"])
    found = []
    for log in data.rglob("audit.jsonl"):
        for line in log.read_text().splitlines():
            record = json.loads(line)
            if record["event"] == event:
                found.append(record)
    return found


SPLIT = (
    # finding 2a: sub/.git -> a git dir with only HEAD and commondir -> a common dir that has
    # core.fsmonitor and no HEAD
    "set -e; git init -q --bare st/c; git --git-dir=st/c config core.bare false; "
    "git --git-dir=st/c config core.fsmonitor 'touch {marker}; false'; rm st/c/HEAD; "
    "mkdir -p st/g sub; echo 'ref: refs/heads/main' > st/g/HEAD; echo ../c > st/g/commondir; "
    "echo 'gitdir: ../st/g' > sub/.git; "
)


@pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True)
def test_a_gitfile_to_a_commondir_split_is_defused(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    attack = sbx.sh(SPLIT.format(marker=marker) + "echo planted")
    assert "planted" in attack.stdout, attack.describe()
    assert "moved aside" in attack.stderr, attack.describe()
    host_git(git_project / "sub", "status", home=tmp_path)
    assert not marker.exists(), attack.describe()
    put_back(git_project)
    host_git(git_project / "sub", "status", home=tmp_path)
    assert marker.exists(), "control: the planted fsmonitor should run when put back"


def test_b_a_gitlink_makes_status_at_the_top_recurse_and_is_defused(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path, cli: Cli
) -> None:
    marker = tmp_path / "marker"
    attack = sbx.sh(
        SPLIT.format(marker=marker)
        + "git update-index --add --cacheinfo 160000,$(git rev-parse HEAD),sub; echo planted"
    )
    assert "planted" in attack.stdout, attack.describe()
    assert "submodule entry" in attack.stderr, attack.describe()
    host_git(git_project, "status", home=tmp_path)  # at the project's top
    assert not marker.exists(), attack.describe()
    kinds = {e["kind"] for e in audit_events(cli, "git-history")}
    assert "gitlink" in kinds, kinds
    put_back(git_project)
    host_git(git_project, "status", home=tmp_path)
    assert marker.exists(), "control: plain git status at the top recurses into sub"


@pytest.mark.parametrize("cached", [False, True])
def test_c_a_new_top_git_in_a_non_git_project_is_defused(
    sbx: SandboxRunner, project: Path, tmp_path: Path, cached: bool
) -> None:
    marker = tmp_path / "marker"
    if cached:  # the attack then launches from the plan cache (the fast path)
        assert sbx.sh("true").returncode == 0
    attack = sbx.sh(
        f"git init -q . && git config core.fsmonitor 'touch {marker}; false' && echo planted"
    )
    assert "planted" in attack.stdout, attack.describe()
    assert "moved aside" in attack.stderr, attack.describe()
    host_git(project, "status", home=tmp_path)
    assert not marker.exists(), attack.describe()
    assert [p.name for p in (project / ".git").iterdir() if ASIDE in p.name] != []
    put_back(project)
    host_git(project, "status", home=tmp_path)
    assert marker.exists(), "control: the top .git's fsmonitor runs when put back"


SMUGGLE = (
    "set -e; b=$(printf 'echo pwned > {marker} # %s\\n' $(date +%s%N) "
    "| git hash-object -w --stdin); "
    't=$(printf \'{{"tasks": "evil"}}\\n\' | git hash-object -w --stdin); '
    "git update-index --cacheinfo 100644,$b,.envrc; "
    "git update-index --add --cacheinfo 100644,$t,.vscode/tasks.json; "
    "git -c user.name=a -c user.email=a@example.invalid commit -q -m 'innocent'; "
    "git rev-parse HEAD"
)


@pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True)
def test_3_protected_paths_smuggled_through_history_are_reported_and_unstaged(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path, cli: Cli
) -> None:
    marker = tmp_path / "marker"
    attack = sbx.sh(SMUGGLE.format(marker=marker))
    assert attack.returncode == 0, attack.describe()
    commit = attack.stdout.split()[-1]
    # (warm: the second run's commit changes only .envrc; tasks.json is already in HEAD)
    assert f"git show {commit} -- .envrc" in attack.stderr, attack.describe()
    events = audit_events(cli, "git-history")
    session = next(e["session"] for e in events if e["commits"] == [commit])  # warm: the last run
    by_kind = {str(e["kind"]): e for e in events if e["session"] == session}
    assert by_kind["index"]["action"] == "restored", events
    # the user's usual "discard changes" no longer writes the sandbox's files
    host_git(git_project, "checkout", "--", ".", home=tmp_path)
    host_git(git_project, "restore", ".", home=tmp_path)
    assert (git_project / ".envrc").read_text() == "# benign\n"
    assert not (git_project / ".vscode" / "tasks.json").exists()
    # control: with the sandbox's index entries, 'git checkout -- .' writes its content
    blobs = by_kind["index"]["commits"]
    assert isinstance(blobs, list)
    host_git(git_project, "update-index", "--cacheinfo", f"100644,{blobs[0]},.envrc", home=tmp_path)
    host_git(git_project, "checkout", "--", ".", home=tmp_path)
    assert "pwned" in (git_project / ".envrc").read_text()


def test_3_an_ordinary_commit_is_not_reported(
    sbx: SandboxRunner, git_project: Path, tmp_path: Path, cli: Cli
) -> None:
    result = sbx.sh(
        "echo more >> README && git -c user.name=a -c user.email=a@example.invalid "
        "commit -qam work && echo done"
    )
    assert "done" in result.stdout, result.describe()
    assert "git-history" not in result.stderr
    assert audit_events(cli, "git-history") == []
    assert "warning" not in result.stderr, result.describe()


def test_11_worktree_refs_symrefs_symlinks_and_alternates_are_repaired(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    from tests.unit.test_worktree import make_repo

    repo = make_repo(project)
    common = repo / ".git"
    main_before = host_git(repo, "rev-parse", "refs/heads/main", home=tmp_path).stdout.strip()
    host_git(repo, "branch", "other", home=tmp_path)
    script = (
        "set -e; c=$(git rev-parse --path-format=absolute --git-common-dir); "
        "git symbolic-ref refs/heads/main refs/heads/agent/one; "
        "git -c user.name=a -c user.email=a@e commit -q --allow-empty -m a; "
        "git update-ref refs/heads/other HEAD; "
        "ln -s /etc $c/refs/evil; "
        "git init -q --bare alt; b=$(echo alt-only | git --git-dir=alt hash-object -w --stdin); "
        'echo "$PWD/alt/objects" > $c/objects/info/alternates; '
        "git cat-file -e $b; echo $b"
    )
    attack = cli("run", "--worktree", "one", "--", "sh", "-c", script, cwd=repo)
    assert attack.returncode == 0, attack.describe()
    blob = attack.stdout.split()[-1]
    assert "symbolic ref" in attack.stderr, attack.describe()
    # main is a branch again, at its old commit; the symlink and alternates are gone
    assert host_git(repo, "symbolic-ref", "-q", "refs/heads/main", home=tmp_path).returncode != 0
    assert (
        host_git(repo, "rev-parse", "refs/heads/main", home=tmp_path).stdout.strip() == main_before
    )
    assert not (common / "refs" / "evil").is_symlink()
    assert not (common / "objects" / "info" / "alternates").exists()
    assert host_git(repo, "cat-file", "-e", blob, home=tmp_path).returncode != 0
    assert host_git(repo, "gc", "-q", home=tmp_path).returncode == 0
    kinds = sorted(str(e["kind"]) for e in audit_events(cli, "git-history"))
    assert kinds == ["alternates", "ref", "ref", "ref"], kinds
    assert "refs/heads/other in" in attack.stderr, attack.describe()  # a moved branch: reported
    # control: a ref that is a symlink to a dir makes host git gc fail
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("x\n")
    (common / "refs" / "evil").symlink_to(outside)
    assert host_git(repo, "gc", "-q", home=tmp_path).returncode != 0
    (common / "refs" / "evil").unlink()
    # control: with the sandbox's symref, the user's next commit in main lands on agent/one
    put_back(common / "objects")
    assert host_git(repo, "cat-file", "-e", blob, home=tmp_path).returncode == 0
    host_git(repo, "symbolic-ref", "refs/heads/main", "refs/heads/agent/one", home=tmp_path)
    host_git(repo, "commit", "-q", "--allow-empty", "-m", "user", home=tmp_path)
    log = host_git(repo, "log", "-1", "--format=%s", "refs/heads/agent/one", home=tmp_path)
    assert log.stdout.strip() == "user"

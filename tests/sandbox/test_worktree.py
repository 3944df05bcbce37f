"""``--worktree``: parallel agents on one repository, with real git and real bwrap.

Positive: two sandboxes on two worktrees commit on their own branches at the same time, and
``git status``/``log``/``commit`` work inside. Attacks: from a worktree sandbox, the shared
``.git``'s hooks, config and the files that point host git at a repository stay read-only,
and the main checkout's files are neither visible nor writable. Each attack runs once more
with the protection removed (the shared dir bound read-write), where it succeeds: the control
that shows the attack is real.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import bwsandbox
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox
from bwsandbox.worktree import Worktree, open_worktree, worktree_layer
from tests.unit.test_worktree import git, make_repo

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

EVIL = "bwsbx-evil"

COMMIT = (
    "set -e; cd {path}; git status --short >/dev/null; "
    "for i in 1 2 3; do echo {name}-$i > {name}.txt; git add {name}.txt; "
    "git commit -q -m '{name} '$i; done; git log --format=%s -n 3 | tr '\\n' ' '; "
    "git rev-parse --abbrev-ref HEAD"
)


@pytest.fixture
def repo(project: Path) -> Path:
    """The ``project`` fixture as a git repository with one commit on main."""
    return make_repo(project)


def _attacks(tree: Worktree, main: Path) -> dict[str, str]:
    """name -> shell command that plants or changes something host git later trusts."""
    common, own = tree.common_dir, tree.git_dir
    return {
        "hook": f"printf '#!/bin/sh\\necho {EVIL}\\n' > {common}/hooks/pre-commit",
        "config": f"printf '[core]\\n\\tfsmonitor = echo {EVIL}\\n' >> {common}/config",
        "commondir of the main repository": f"echo /tmp > {common}/commondir",
        "info/attributes": f"echo '* filter={EVIL}' > {common}/info/attributes",
        "main HEAD": f"echo ref: refs/heads/{EVIL} > {common}/HEAD",
        "this worktree's commondir": f"echo /tmp > {own}/commondir",
        "this worktree's gitdir": f"echo /tmp/{EVIL} > {own}/gitdir",
        "this worktree's config": f"printf '[core]\\n\\tfsmonitor = x\\n' > {own}/config.worktree",
        "the .git file": f"echo gitdir: /tmp/{EVIL} > {tree.path}/.git",
        "hooks renamed away": f"mv {common}/hooks {common}/hooks.old",
    }


def _attack_script(attacks: dict[str, str]) -> str:
    lines = [
        f"if ( {cmd} ) 2>/dev/null; then echo {shlex.quote('OK ' + name)}; fi"
        for name, cmd in attacks.items()
    ]
    return "\n".join(lines)


def _sandbox_sh(project: str, overlays: list[tuple[str, dict[str, Any]]], script: str) -> str:
    policy = load_policy(["base"], overlays=overlays)
    sandbox = Sandbox(
        policy, project=project, command=("sh", "-c", script), capture_output=True, input=b""
    )
    with sandbox:
        sandbox.wait(60)
    return (sandbox.stdout_data or b"").decode()


def test_two_sandboxes_commit_on_their_own_branches_at_once(cli: Cli, repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD")
    trees = {name: open_worktree(str(repo), name) for name in ("one", "two")}
    procs = {
        name: subprocess.Popen(
            [
                *cli.command,
                "run",
                "--worktree",
                name,
                "--",
                "sh",
                "-c",
                COMMIT.format(path=tree.path, name=name),
            ],
            cwd=repo,
            env=cli.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, tree in trees.items()
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{name}: {out}\n{err}"
        assert out.split() == [f"{name}", "3", f"{name}", "2", f"{name}", "1", f"agent/{name}"]
        assert f"worktree: using {trees[name].path}" in err
    for name in ("one", "two"):
        log = git(repo, "log", "--format=%s", f"main..agent/{name}").splitlines()
        assert log == [f"{name} 3", f"{name} 2", f"{name} 1"]
        assert git(repo, "merge-base", "main", f"agent/{name}") == before
    # the main checkout: same commit, same files, clean
    assert git(repo, "rev-parse", "HEAD") == before
    assert git(repo, "status", "--porcelain") == ""
    assert sorted(p.name for p in repo.iterdir()) == [".git", "a.txt"]
    # host git still works in the worktrees afterwards
    assert git(Path(trees["one"].path), "status", "--porcelain") == ""


def test_cli_creates_the_worktree_and_git_works_inside(cli: Cli, repo: Path) -> None:
    result = cli(
        "run",
        "--worktree",
        "solo",
        "--",
        "sh",
        "-c",
        "pwd; git status --short --branch | head -1; echo new > new.txt; git add new.txt; "
        "git commit -q -m solo && git log --oneline | wc -l",
    )
    assert result.returncode == 0, result.describe()
    path = f"{repo}.worktrees/solo"
    assert result.stdout.split() == [path, "##", "agent/solo", "2"]
    assert "worktree: created" in result.stderr
    assert git(repo, "log", "--format=%s", "-1", "agent/solo") == "solo"
    assert not (repo / "new.txt").exists()


def test_main_checkout_is_not_visible_nor_writable(cli: Cli, repo: Path) -> None:
    (repo / "secret.txt").write_text("uncommitted secret\n")
    result = cli(
        "run",
        "--worktree",
        "peek",
        "--",
        "sh",
        "-c",
        f"ls -A {repo}; cat {repo}/secret.txt {repo}/a.txt; echo {EVIL} > {repo}/a.txt; "
        f"echo {EVIL} > {repo}/planted; true",
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout.split()[0] == ".git"  # only the shared repository dir is there
    assert "uncommitted secret" not in result.stdout
    assert (repo / "a.txt").read_text() == "main\n"
    assert not (repo / "planted").exists()


def test_shared_git_stays_read_only_from_a_worktree_sandbox(repo: Path) -> None:
    tree = open_worktree(str(repo), "attacker")
    other = open_worktree(str(repo), "victim")
    attacks = _attacks(tree, repo)
    attacks["another worktree's HEAD"] = f"echo ref: refs/heads/main > {other.git_dir}/HEAD"
    snapshot = _snapshot(repo, tree, other)
    out = _sandbox_sh(tree.path, [("worktree", worktree_layer(tree))], _attack_script(attacks))
    assert out == "", f"attacks that got through:\n{out}"
    assert _snapshot(repo, tree, other) == snapshot
    # the control: the same attacks with the shared dir bound read-write all succeed
    control = {"filesystem": {"rw": [{"src": tree.common_dir, "optional": False}]}}
    out = _sandbox_sh(tree.path, [("control", control)], _attack_script(attacks))
    assert sorted(out.splitlines()) == sorted(f"OK {name}" for name in attacks)


def _snapshot(repo: Path, *trees: Worktree) -> dict[str, str]:
    files = [
        repo / ".git" / "config",
        repo / ".git" / "HEAD",
        *(Path(t.path) / ".git" for t in trees),
        *(Path(t.git_dir) / name for t in trees for name in ("commondir", "gitdir", "HEAD")),
    ]
    found = {str(path): path.read_text() for path in files}
    for path in (repo / ".git" / "hooks").iterdir():
        found[str(path)] = path.read_text()
    for name in ("commondir", "info/attributes", "hooks.old"):
        found[name] = str((repo / ".git" / name).exists())
    found["config.worktree"] = str(Path(trees[0].git_dir, "config.worktree").exists())
    return found


def test_explain_creates_nothing(cli: Cli, repo: Path) -> None:
    result = cli("explain", "--worktree", "later", "--", "true")
    assert result.returncode == 0, result.describe()
    assert f"{repo}.worktrees/later" in result.stdout
    assert not Path(f"{repo}.worktrees").exists()
    assert git(repo, "branch", "--list", "agent/*") == ""


def test_errors_are_one_line(cli: Cli, project: Path) -> None:
    result = cli("run", "--worktree", "one", "--", "true")
    assert result.returncode == 125
    assert len(result.error_lines) == 1, result.describe()
    assert "needs a git repository" in result.error_lines[0]
    make_repo(project)
    result = cli("run", "--worktree", "a..b", "--", "true")
    assert result.returncode == 125
    assert result.error_lines == [
        (
            "error: --worktree: invalid worktree name 'a..b' (use letters, digits, '.', '_' "
            "and '-' (up to 64, starting with a letter or digit))"
        )
    ]


def test_library_run_with_a_worktree(repo: Path) -> None:
    result = bwsandbox.run(
        ["sh", "-c", "git rev-parse --abbrev-ref HEAD; pwd"],
        project=repo,
        worktree="lib",
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    assert (result.stdout or b"").decode().split() == ["agent/lib", f"{repo}.worktrees/lib"]


def test_agent_profile_in_a_worktree(cli: Cli, repo: Path, tmp_path: Path) -> None:
    agent = tmp_path / "fake-claude"
    agent.write_text('#!/bin/sh\npwd\ngit rev-parse --abbrev-ref HEAD\necho "$@"\n')
    agent.chmod(0o755)
    result = cli(
        "claude",
        "--worktree",
        "agent1",
        "--network",
        "none",
        "--no-tty",
        "--",
        "-p",
        "hi",
        env={"BWSANDBOX_AGENT_BIN_CLAUDE": str(agent)},
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout.splitlines() == [f"{repo}.worktrees/agent1", "agent/agent1", "-p hi"]
    notes = [line for line in result.stderr.splitlines() if line.startswith("agent-sandbox:")]
    assert notes[0].startswith("agent-sandbox: worktree: created"), result.describe()


def _plant(repo: Path, marker: Path, target: str) -> str:
    """Shell: a repository with core.fsmonitor under the project, and git pointed at it."""
    return (
        "mkdir -p evil && cp -r .git/objects .git/refs .git/HEAD evil/ && "
        "printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = \"touch "
        f"{marker}; false\"\\n' > evil/config; echo {repo}/evil > {target}; true"
    )


def test_main_checkout_sandbox_cannot_redirect_a_worktree(cli: Cli, repo: Path) -> None:
    tree = open_worktree(str(repo), "target")
    marker = repo.parent / "fsmonitor-ran"
    result = cli("run", "--", "sh", "-c", _plant(repo, marker, f"{tree.git_dir}/commondir"))
    assert result.returncode == 0, result.describe()
    subprocess.run(["git", "-C", tree.path, "status"], capture_output=True, check=False)
    assert not marker.exists()


def test_main_checkout_sandbox_cannot_redirect_host_git(cli: Cli, repo: Path) -> None:
    marker = repo.parent / "fsmonitor-ran"
    result = cli("run", "--", "sh", "-c", _plant(repo, marker, ".git/commondir"))
    assert result.returncode == 0, result.describe()
    subprocess.run(["git", "-C", str(repo), "status"], capture_output=True, check=False)
    assert not marker.exists()

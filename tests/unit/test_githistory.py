"""``runtime._githistory``: the project's git state compared with its snapshot, on the host."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bwsandbox.runtime._githistory import GitGuard
from tests.sandbox._gitplant import host_env, init_project


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=host_env(cwd.parent),
        capture_output=True,
        text=True,
        input="",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def guard(project: Path) -> GitGuard:
    protected = tuple(f"{project}/{p}" for p in (".git/hooks", ".git/config", ".envrc", ".vscode"))
    found = GitGuard.snapshot(protected, "s1", time.time() - 1)
    assert found is not None
    return found


def test_nothing_changed_nothing_found(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    init_project(project)
    g = guard(project)
    git(project, "config", "core.fsmonitor", "true")  # the user's own config edit meanwhile
    (project / "README").write_text("edited\n")
    assert g.settle() == []
    assert (project / ".git" / "config").is_file()


def test_smuggled_commit_reported_and_index_reset(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    init_project(project)
    g = guard(project)
    blob = git(project, "hash-object", "-w", "--stdin", "--path=x")  # empty blob
    git(project, "update-index", "--cacheinfo", f"100644,{blob},.envrc")
    git(project, "commit", "-qm", "x")
    commit = git(project, "rev-parse", "HEAD")
    found = {f.kind: f for f in g.settle()}
    assert found["commit"].commits == [commit]
    assert f"git show {commit} -- .envrc" in found["commit"].message
    assert found["index"].action == "restored"
    assert found["index"].commits == [blob]
    git(project, "checkout", "--", ".")
    assert (project / ".envrc").read_text() == "# benign\n"


def test_rewritten_dotgit_file_is_restored(tmp_path: Path) -> None:
    main = tmp_path / "main"
    main.mkdir()
    init_project(main)
    project = tmp_path / "wt"
    git(main, "worktree", "add", "-q", "--detach", str(project))
    before = (project / ".git").read_text()
    g = guard(project)
    (project / ".git").write_text("gitdir: /somewhere/else\n")
    found = g.settle()
    assert [f.action for f in found] == ["restored"], found
    assert (project / ".git").read_text() == before
    assert [p.name for p in project.iterdir() if ".agent-sandbox-s1" in p.name] == [
        ".git.agent-sandbox-s1"
    ]


def test_symref_symlink_and_alternates_in_an_ordinary_project(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    init_project(project)
    git(project, "branch", "other")
    common = project / ".git"
    g = guard(project)
    (common / "refs" / "heads" / "other").write_text("ref: refs/heads/evil\n")
    (common / "refs" / "x").symlink_to("/etc")
    (common / "objects" / "info" / "alternates").write_text("/tmp\n")
    found = sorted((f.kind, f.action) for f in g.settle())
    assert found == [("alternates", "moved-aside"), ("ref", "moved-aside"), ("ref", "restored")]
    assert git(project, "rev-parse", "other") == git(project, "rev-parse", "HEAD")
    assert not (common / "refs" / "x").is_symlink()
    assert not (common / "objects" / "info" / "alternates").exists()


def test_a_rebase_todo_with_exec_lines_is_reported(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    init_project(project)
    g = guard(project)
    todo = project / ".git" / "rebase-merge" / "git-rebase-todo"
    todo.parent.mkdir()
    todo.write_text("pick 1234567 x\nexec touch /tmp/evil\n")
    found = g.settle()
    assert [f.kind for f in found] == ["todo"]
    assert "exec touch /tmp/evil" in found[0].message

"""``--worktree``: names, the policy layer compiled against fake host facts, and the host-side
git part (real git, no sandbox): create, reuse, and one clear error for each refusal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bwsandbox import DependencyError, PolicyError, WorkspaceError
from bwsandbox.compile import HostFacts, PathInfo, PathKind, Workspace, compile_plan
from bwsandbox.compile._plan import MountKind
from bwsandbox.policy import load_policy
from bwsandbox.testing import fake_host_facts
from bwsandbox.worktree import (
    Worktree,
    open_worktree,
    valid_worktree_name,
    worktree_layer,
    worktree_path,
)

MAIN = "/src/app"
COMMON = "/src/app/.git"
TREE = Worktree(
    name="one",
    path="/src/app.worktrees/one",
    branch="agent/one",
    common_dir=COMMON,
    git_dir=f"{COMMON}/worktrees/one",
)

D, F, M = PathInfo(PathKind.DIR), PathInfo(PathKind.FILE), PathInfo(PathKind.MISSING)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    (path / "a.txt").write_text("main\n")
    git(path, "add", "a.txt")
    git(path, "commit", "-q", "-m", "init")
    return path


@pytest.mark.parametrize("name", ["one", "fix-login", "a.b", "A_1", "x" * 64])
def test_valid_names(name: str) -> None:
    assert valid_worktree_name(name)


@pytest.mark.parametrize(
    "name", ["", ".x", "-x", "a..b", "a/b", "a b", "x.lock", "x.", "x" * 65, "é", "a:b", "a~b"]
)
def test_invalid_names(name: str) -> None:
    assert not valid_worktree_name(name)


def test_worktree_path_is_a_sibling_of_the_main_checkout() -> None:
    assert worktree_path("/src/app", "one") == "/src/app.worktrees/one"
    assert worktree_path("/src/app/", "one") == "/src/app.worktrees/one"


def test_layer_mounts_the_shared_dir_read_only_but_for_what_git_writes() -> None:
    layer = worktree_layer(TREE)
    fs = layer["filesystem"]
    assert [b["src"] for b in fs["ro"]] == [COMMON]
    assert [b["src"] for b in fs["rw"]] == [
        f"{COMMON}/objects",
        f"{COMMON}/refs",
        f"{COMMON}/logs",
        f"{COMMON}/worktrees/one",
    ]
    assert fs["protect"] == [
        "/src/app.worktrees/one/.git",
        f"{COMMON}/worktrees/one/commondir",
        f"{COMMON}/worktrees/one/gitdir",
        f"{COMMON}/worktrees/one/config.worktree",
    ]
    assert not any(b["optional"] for b in fs["ro"] + fs["rw"][:2])


def test_layer_escapes_braces() -> None:
    tree = Worktree("one", "/s/{x}.worktrees/one", "agent/one", "/s/{x}/.git", "/s/{x}/.git/w/one")
    assert worktree_layer(tree)["filesystem"]["ro"][0]["src"] == "/s/{{x}}/.git"


def _facts() -> HostFacts:
    paths = {
        "/usr": D,
        "/etc": D,
        TREE.path: D,
        f"{TREE.path}/.git": F,
        COMMON: D,
        f"{COMMON}/objects": D,
        f"{COMMON}/refs": D,
        f"{COMMON}/logs": D,
        TREE.git_dir: D,
        f"{TREE.git_dir}/commondir": F,
        f"{TREE.git_dir}/gitdir": F,
        f"{TREE.git_dir}/config.worktree": M,
    }
    return fake_host_facts(paths=paths)


def test_compiled_plan_orders_the_shared_dir_before_its_writable_parts() -> None:
    policy = load_policy(["base"], overlays=[("worktree one", worktree_layer(TREE))])
    workspace = Workspace(project=TREE.path, workdir="/tmp/w", session_id="s", command=("true",))
    plan = compile_plan(policy, _facts(), workspace)
    kinds = {entry.dest: entry.kind for entry in plan.mounts}
    assert kinds[COMMON] is MountKind.RO
    assert kinds[TREE.path] is MountKind.RW
    for name in ("objects", "refs", "logs", "worktrees/one"):
        assert kinds[f"{COMMON}/{name}"] is MountKind.RW, name
    assert kinds[f"{TREE.path}/.git"] is MountKind.RO
    assert kinds[f"{TREE.git_dir}/commondir"] is MountKind.RO
    assert kinds[f"{TREE.git_dir}/gitdir"] is MountKind.RO
    assert kinds[f"{TREE.git_dir}/config.worktree"] is MountKind.DATA  # read-only placeholder
    assert (f"{TREE.git_dir}/config.worktree", "file") in plan.placeholders
    order = [entry.dest for entry in plan.mounts]
    assert order.index(COMMON) < order.index(f"{COMMON}/objects")
    assert order.index(f"{COMMON}/worktrees/one") < order.index(f"{TREE.git_dir}/commondir")
    assert MAIN not in kinds  # the main checkout itself is never bound


def test_creates_then_reuses(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "app")
    tree = open_worktree(str(main), "one")
    assert tree.created
    assert tree.path == str(tmp_path / "app.worktrees" / "one")
    assert tree.branch == "agent/one"
    assert tree.common_dir == str(main / ".git")
    assert tree.git_dir == str(main / ".git" / "worktrees" / "one")
    assert git(main, "rev-parse", "agent/one") == git(main, "rev-parse", "HEAD")
    assert (Path(tree.path) / "a.txt").read_text() == "main\n"
    again = open_worktree(str(main), "one")
    assert not again.created
    assert again.path == tree.path
    # from a subdirectory, or from another worktree: the same place
    (main / "sub").mkdir()
    assert open_worktree(str(main / "sub"), "one").path == tree.path
    assert open_worktree(tree.path, "one").path == tree.path


def test_existing_branch_is_checked_out_as_it_is(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "app")
    git(main, "branch", "agent/two")
    (main / "a.txt").write_text("later\n")
    git(main, "commit", "-q", "-am", "later")
    tree = open_worktree(str(main), "two")
    assert (Path(tree.path) / "a.txt").read_text() == "main\n"


def test_hooks_do_not_run_when_the_worktree_is_created(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "app")
    marker = tmp_path / "hook-ran"
    hook = main / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    open_worktree(str(main), "one")
    assert not marker.exists()


def test_explain_mode_changes_nothing(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "app")
    tree = open_worktree(str(main), "one", create=False)
    assert tree.planned
    assert not Path(tree.path).exists()
    assert git(main, "branch", "--list", "agent/one") == ""
    assert worktree_layer(tree)["filesystem"]["ro"][0]["optional"] is True


def test_a_vanished_worktree_is_registered_again(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "app")
    tree = open_worktree(str(main), "one")
    subprocess.run(["rm", "-rf", tree.path], check=True)
    again = open_worktree(str(main), "one")
    assert again.created
    assert Path(again.path, "a.txt").is_file()


def test_invalid_name_is_a_policy_error(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "app")
    with pytest.raises(PolicyError, match="invalid worktree name"):
        open_worktree(str(main), "../escape")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="needs a git repository"):
        open_worktree(str(tmp_path), "one")


def test_no_commit_yet(tmp_path: Path) -> None:
    main = tmp_path / "app"
    main.mkdir()
    git(main, "init", "-q", "-b", "main")
    with pytest.raises(WorkspaceError, match="no commit yet"):
        open_worktree(str(main), "one")


def test_bare_repository(tmp_path: Path) -> None:
    bare = tmp_path / "app.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with pytest.raises(WorkspaceError, match=r"needs a git repository|bare"):
        open_worktree(str(bare), "one")


def test_path_taken_by_something_else(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "app")
    (tmp_path / "app.worktrees" / "one").mkdir(parents=True)
    with pytest.raises(WorkspaceError, match="exists and is not a worktree"):
        open_worktree(str(main), "one")


def test_branch_checked_out_elsewhere(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "app")
    git(main, "worktree", "add", "-q", "-b", "agent/one", str(tmp_path / "elsewhere"))
    with pytest.raises(WorkspaceError, match="already checked out in"):
        open_worktree(str(main), "one")


def test_git_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main = make_repo(tmp_path / "app")
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-dir"))
    with pytest.raises(DependencyError, match="needs git"):
        open_worktree(str(main), "one")

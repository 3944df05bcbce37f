"""The post-session scan for planted nested git repositories (runtime._nested), on the host."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bwsandbox.runtime._nested import dangerous_keys, scan_nested
from bwsandbox.runtime._protect import _project_roots

BEFORE = time.time() - 3600  # "the session started an hour ago": everything here is new
AFTER = time.time() + 3600  # "the session starts later": nothing here changed during it


def git(cwd: Path, *args: str) -> None:
    exe = shutil.which("git")
    assert exe is not None
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run([exe, *args], cwd=cwd, env=env, check=True, capture_output=True)


def nested(root: Path, rel: str, *config: tuple[str, str]) -> Path:
    repo = root / rel
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q")
    for key, value in config:
        git(repo, "config", key, value)
    return repo / ".git"


def test_dangerous_keys() -> None:
    entries = [
        ("core.repositoryformatversion", "0"),
        ("core.bare", "false"),
        ("remote.origin.url", "https://example.invalid/x"),
        ("branch.main.merge", "refs/heads/main"),
        ("core.fsmonitor", "x"),
        ("diff.foo.textconv", "x"),
        ("filter.lfs.smudge", "x"),
        ("includeIf.gitdir:/x.path", "y"),
        ("alias.st", "status"),
        ("alias.evil", "!sh"),
        ("credential.https://h.helper", "x"),
        ("pager.log", "x"),
    ]
    assert dangerous_keys(entries) == [
        "core.fsmonitor",
        "diff.foo.textconv",
        "filter.lfs.smudge",
        "includeIf.gitdir:/x.path",
        "alias.evil",
        "credential.https://h.helper",
        "pager.log",
    ]


def test_project_roots_come_from_the_protected_git_paths() -> None:
    protected = ("/p/.git/hooks", "/p/.git/config", "/p/.envrc", "/.git/config")
    assert _project_roots(protected) == ["/p"]


def test_dangerous_new_repository_is_defused_and_clone_left(tmp_path: Path) -> None:
    evil = nested(tmp_path, "vendor/lib", ("core.fsmonitor", "touch x"))
    hooks = evil / "hooks"
    (hooks / "post-checkout").write_text("#!/bin/sh\n")
    clean = nested(tmp_path, "vendor/dep", ("remote.origin.url", "https://example.invalid/x"))
    result = scan_nested(str(tmp_path), since=BEFORE, session="s1")
    assert result.complete
    assert not (evil / "config").exists()
    assert (evil / "config.agent-sandbox-s1").is_file()
    assert (evil / "hooks.agent-sandbox-s1" / "post-checkout").is_file()
    assert (clean / "config").is_file()
    assert (clean / "hooks").is_dir()
    assert len(result.warnings) == 1
    assert str(evil) in result.warnings[0]


def test_unchanged_repository_is_left_alone(tmp_path: Path) -> None:
    """A user's own nested repository with hooks or a hooksPath, untouched by the session."""
    own = nested(tmp_path, "tools", ("core.hooksPath", ".githooks"))
    result = scan_nested(str(tmp_path), since=AFTER, session="s1")
    assert result.warnings == []
    assert (own / "config").is_file()


def test_top_level_git_is_skipped_but_its_modules_are_not(tmp_path: Path) -> None:
    top = nested(tmp_path, ".", ("core.pager", "x"))
    modules = top / "modules" / "sub"
    modules.mkdir(parents=True)
    git(modules, "init", "-q", "--bare")
    git(modules, "config", "core.fsmonitor", "x")
    result = scan_nested(str(tmp_path), since=BEFORE, session="s1")
    assert (top / "config").is_file()
    assert not (modules / "config").exists()
    assert len(result.warnings) == 1


def test_symlinked_directories_are_not_entered(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    evil = nested(outside, "repo", ("core.fsmonitor", "x"))
    (project / "vendor").symlink_to(outside / "repo")
    (project / "deep").symlink_to(outside)
    result = scan_nested(str(project), since=BEFORE, session="s1")
    assert result.warnings == []
    assert (evil / "config").is_file()
    assert sorted(p.name for p in evil.iterdir() if "agent-sandbox" in p.name) == []


@pytest.mark.parametrize("kind", ["gitdir file", "symlink"])
def test_pointer_to_a_dangerous_git_dir_is_moved_not_its_target(tmp_path: Path, kind: str) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "w").mkdir(parents=True)
    evil = nested(outside, "repo", ("core.fsmonitor", "x"))
    dotgit = project / "w" / ".git"
    if kind == "symlink":
        dotgit.symlink_to(evil)
    else:
        dotgit.write_text(f"gitdir: {evil}\n")
    result = scan_nested(str(project), since=BEFORE, session="s1")
    assert not dotgit.exists()
    assert not dotgit.is_symlink()
    assert os.path.lexists(project / "w" / ".git.agent-sandbox-s1")
    assert (evil / "config").is_file()
    assert len(result.warnings) == 1


def test_a_second_defusal_keeps_the_first(tmp_path: Path) -> None:
    evil = nested(tmp_path, "v", ("core.pager", "x"))
    scan_nested(str(tmp_path), since=BEFORE, session="s1")
    git(evil.parent, "config", "core.pager", "y")
    scan_nested(str(tmp_path), since=BEFORE, session="s1")
    assert (evil / "config.agent-sandbox-s1").is_file()
    assert (evil / "config.agent-sandbox-s1.1").is_file()


def test_time_budget_stops_the_scan_and_says_so(tmp_path: Path) -> None:
    for i in range(200):
        (tmp_path / f"d{i}" / "x" / "y").mkdir(parents=True)
    nested(tmp_path, "d199/x/y/z", ("core.fsmonitor", "x"))
    result = scan_nested(str(tmp_path), since=BEFORE, session="s1", budget=0.0)
    assert not result.complete
    assert result.directories < 10
    assert "incomplete" in result.warnings[-1]
    full = scan_nested(str(tmp_path), since=BEFORE, session="s1", budget=30.0)
    assert full.complete
    assert full.directories > 600


def test_git_commands_in_a_users_nested_clone_do_not_flag_it(tmp_path: Path) -> None:
    """Git writing its index or refs in a user's clone changes the git dir's times only."""
    own = nested(tmp_path, "tools", ("core.hooksPath", ".githooks"))
    (own / "hooks" / "pre-commit").write_text("#!/bin/sh\n")
    os.utime(own, (AFTER + 10, AFTER + 10))  # a git command ran in it during the session
    result = scan_nested(str(tmp_path), since=AFTER, session="s1")
    assert result.warnings == []
    assert (own / "config").is_file()
    assert (own / "hooks" / "pre-commit").is_file()


def test_a_git_dir_moved_into_place_is_checked(tmp_path: Path) -> None:
    """``mv`` keeps the files' times; the moved directory gets a new ctime, an old mtime."""
    staging, project = tmp_path / "staging", tmp_path / "project"
    project.mkdir()
    evil = nested(staging, "r", ("core.fsmonitor", "x"))
    old = time.time() - 3600
    for path in [*evil.rglob("*"), evil]:
        os.utime(path, (old, old), follow_symlinks=False)
    time.sleep(0.05)
    since = time.time()
    time.sleep(0.05)
    moved = project / "v" / ".git"
    moved.parent.mkdir()
    evil.rename(moved)
    result = scan_nested(str(project), since=since, session="s1")
    assert not (moved / "config").exists()
    assert len(result.warnings) == 1


def test_an_unreadable_commondir_in_a_new_git_dir_is_moved(tmp_path: Path) -> None:
    evil = nested(tmp_path, "v")
    (tmp_path / "elsewhere").write_text("../../x\n")
    (evil / "commondir").symlink_to(tmp_path / "elsewhere")  # git follows it, we do not
    scan_nested(str(tmp_path), since=BEFORE, session="s1")
    assert not os.path.lexists(evil / "commondir")
    assert os.path.lexists(evil / "commondir.agent-sandbox-s1")
    assert (tmp_path / "elsewhere").is_file()


_KEYS = [
    "core.bare",
    "core.FsMonitor",
    "core.hooksPath",
    "remote.origin.url",
    'diff "x".textconv',
    "alias.st",
    "include.path",
    'includeIf "gitdir:/x".path',
    "user.name",
    "core.sshCommand",
    'filter "lfs".smudge',
    "protocol.ext.allow",
]


@settings(max_examples=40, deadline=None, database=None)
@given(
    keys=st.lists(st.sampled_from(_KEYS), min_size=1, max_size=4),
    value=st.sampled_from(["x", "!sh", "true", "a b"]),
    upper=st.booleans(),
)
def test_the_config_prefilter_never_hides_a_dangerous_key(
    keys: list[str], value: str, upper: bool
) -> None:
    """Property, with git as the oracle: a config git reads a dangerous key from is never
    skipped by the cheap pre-filter."""
    from bwsandbox.runtime._nested import _plainly_safe

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config"
        lines = []
        for key in keys:
            section, _, name = key.rpartition(".")
            head, _, sub = section.partition(" ")
            head = head.upper() if upper else head
            lines += [f"[{head}{' ' + sub if sub else ''}]", f"\t{name} = {value}"]
        path.write_text("\n".join(lines) + "\n")
        done = subprocess.run(
            ["git", "config", "--file", str(path), "--list", "--null"],
            capture_output=True,
            env={"PATH": os.environ["PATH"], "HOME": tmp, "GIT_CONFIG_NOSYSTEM": "1"},
            check=False,
        )
        entries = [
            (item.partition("\n")[0], item.partition("\n")[2])
            for item in done.stdout.decode().split("\0")
            if item
        ]
        git_says = dangerous_keys(entries) if done.returncode == 0 else None
        if git_says is None or git_says:
            assert not _plainly_safe(str(path)), (lines, git_says)

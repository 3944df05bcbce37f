"""``runtime._gitscan`` against git itself: the same dirs are git dirs, the same files lead there.

Hypothesis builds small layouts (``HEAD`` as a branch ref, a detached id, junk, a symlink;
``commondir`` absent, relative, absolute, dangling, chained; ``objects/``/``refs/`` present or
not, here or in the common dir) and host git is the oracle: ``git --git-dir=D rev-parse``
accepts exactly the dirs :func:`is_git_directory` accepts (git's ``setup_explicit_git_dir``
calls its ``is_git_directory``), and ``git -C W rev-parse --git-dir`` follows a ``.git`` file
exactly when :func:`read_gitfile` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bwsandbox.runtime._gitscan import MAX_HOPS, chain, is_git_directory, read_gitfile

HEADS = [
    b"ref: refs/heads/main\n",
    b"ref:refs/heads/x",
    b"ref: heads/main\n",
    b"0123456789abcdef0123456789abcdef01234567\n",
    b"0123456789ABCDEF0123456789abcdef01234567",
    b"0123456789abcdef\n",
    b"junk\n",
    b"",
    None,  # absent
    "symlink:refs/heads/main",
    "symlink:elsewhere",
]


def _git(*args: str, cwd: Path) -> bool:
    git = shutil.which("git")
    assert git is not None
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": str(cwd),
    }
    done = subprocess.run([git, *args], cwd=cwd, env=env, capture_output=True, check=False)
    return done.returncode == 0


@st.composite
def git_dirs(draw: st.DrawFn) -> dict[str, object]:
    return {
        "head": draw(st.sampled_from(HEADS)),
        "commondir": draw(st.sampled_from([None, "../c", "ABS", "../missing", "../c\r\n"])),
        "here": draw(st.sets(st.sampled_from(["objects", "refs"]))),
        "common": draw(st.sets(st.sampled_from(["objects", "refs"]))),
    }


def build(base: Path, spec: dict[str, object]) -> Path:
    d, c = base / "d", base / "c"
    d.mkdir()
    c.mkdir()
    head = spec["head"]
    if isinstance(head, bytes):
        (d / "HEAD").write_bytes(head)
    elif isinstance(head, str):
        (d / "HEAD").symlink_to(head.removeprefix("symlink:"))
    for name in spec["here"]:  # type: ignore[attr-defined]
        (d / name).mkdir()
    for name in spec["common"]:  # type: ignore[attr-defined]
        (c / name).mkdir()
    commondir = spec["commondir"]
    if isinstance(commondir, str):
        (d / "commondir").write_text(str(c) if commondir == "ABS" else commondir)
    return d


@settings(max_examples=40, deadline=None, database=None)
@given(spec=git_dirs())
def test_is_git_directory_agrees_with_git(spec: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        d = build(base, spec)
        ours = is_git_directory(str(d))
        assert ours == _git(f"--git-dir={d}", "rev-parse", "--git-dir", cwd=base), spec
        # a .git file naming it: followed by git exactly when it is a git dir
        work = base / "w"
        work.mkdir()
        (work / ".git").write_text(f"gitdir: {os.path.relpath(d, work)}\n")
        followed = read_gitfile(str(work / ".git"))
        assert (followed is not None) == ours
        assert (followed is not None) == _git("rev-parse", "--git-dir", cwd=work), spec
        # the chain always reaches the git dir and the common dir git would use
        found = chain(str(work / ".git"))
        assert found.dirs[0] == os.path.realpath(d)
        assert found.git_dir == ours


def test_chain_is_bounded_and_stops_at_loops(tmp_path: Path) -> None:
    dirs = [tmp_path / f"g{i}" for i in range(MAX_HOPS + 5)]
    for i, d in enumerate(dirs):
        d.mkdir()
        (d / "commondir").write_text(f"../g{i + 1}\n")
    assert len(chain(str(dirs[0])).dirs) == MAX_HOPS
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "commondir").write_text("../b")
    (tmp_path / "b" / "commondir").write_text("../a")
    loop = chain(str(tmp_path / "a"))
    assert [Path(p).name for p in loop.dirs] == ["a", "b"]

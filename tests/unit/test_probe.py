"""probe_host: the one place that looks at the host."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path

import pytest

from bwsandbox import DependencyError
from bwsandbox.compile import PathInfo, PathKind
from bwsandbox.runtime import ROOT_LAYOUT, probe_host, probe_paths
from bwsandbox.runtime._probe import install_command

BWRAP = shutil.which("bwrap")
pytestmark = pytest.mark.bwrap


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(tmp_path)}
    env.update(extra)
    return env


def test_probe_basics(tmp_path: Path) -> None:
    env = base_env(tmp_path, SOMETHING="1")
    facts = probe_host(environ=env)
    entry = pwd.getpwuid(os.getuid())
    assert facts.bwrap == BWRAP
    assert (facts.uid, facts.gid) == (os.getuid(), os.getgid())
    assert (facts.user, facts.home) == (entry.pw_name, entry.pw_dir)
    assert facts.tmpdir == str(tmp_path)
    assert dict(facts.environ) == env
    for path in ROOT_LAYOUT:
        assert path in facts.paths
    assert facts.path("/usr") == PathInfo(PathKind.DIR)


def test_environ_snapshot_is_read_only(tmp_path: Path) -> None:
    facts = probe_host(environ=base_env(tmp_path))
    with pytest.raises(TypeError):
        facts.environ["X"] = "y"  # type: ignore[index]


def test_paths_are_lstatted(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("dir")
    (tmp_path / "dangling").symlink_to("/nonexistent")
    os.mkfifo(tmp_path / "fifo")
    names = ["file", "dir", "link", "dangling", "fifo", "missing"]
    facts = probe_host(environ=base_env(tmp_path), paths=[str(tmp_path / n) for n in names])
    kinds = {n: facts.path(str(tmp_path / n)) for n in names}
    assert kinds == {
        "file": PathInfo(PathKind.FILE),
        "dir": PathInfo(PathKind.DIR),
        "link": PathInfo(PathKind.SYMLINK, "dir"),
        "dangling": PathInfo(PathKind.SYMLINK, "/nonexistent"),
        "fifo": PathInfo(PathKind.OTHER),
        "missing": PathInfo(PathKind.MISSING),
    }


def test_probe_paths_returns_a_copy_with_more(tmp_path: Path) -> None:
    facts = probe_host(environ=base_env(tmp_path))
    more = probe_paths(facts, [str(tmp_path)])
    assert more.path(str(tmp_path)) == PathInfo(PathKind.DIR)
    assert facts.path(str(tmp_path)) is None
    assert more.bwrap == facts.bwrap


def test_missing_bwrap_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(DependencyError) as info:
        probe_host(environ={"PATH": str(tmp_path), "TMPDIR": str(tmp_path)})
    assert "bwrap" in str(info.value)
    assert install_command() in str(info.value)
    if "debian" in Path("/etc/os-release").read_text():
        assert install_command() == "sudo apt-get install bubblewrap"


def test_bwrap_override(tmp_path: Path) -> None:
    assert BWRAP is not None
    fake_dir = tmp_path / "bin"
    fake_dir.mkdir()
    copy = fake_dir / "my-bwrap"
    copy.symlink_to(BWRAP)
    facts = probe_host(environ=base_env(tmp_path, BWSANDBOX_BWRAP=str(copy), PATH="/nowhere"))
    assert facts.bwrap == str(copy)
    with pytest.raises(DependencyError, match="BWSANDBOX_BWRAP"):
        probe_host(environ=base_env(tmp_path, BWSANDBOX_BWRAP=str(tmp_path / "none")))


def test_unusable_tmpdir_falls_back_to_tmp(tmp_path: Path) -> None:
    facts = probe_host(environ=base_env(tmp_path, TMPDIR=str(tmp_path / "missing")))
    assert facts.tmpdir == "/tmp"
    facts = probe_host(environ=base_env(tmp_path, TMPDIR="relative/dir"))
    assert facts.tmpdir == "/tmp"


def test_runtime_dir_from_xdg_when_private_and_ours(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    facts = probe_host(environ=base_env(tmp_path, XDG_RUNTIME_DIR=str(runtime)))
    assert facts.runtime_dir == str(runtime)


@pytest.mark.parametrize("xdg", ["", "/", "relative", "/nonexistent/run"])
def test_runtime_dir_fallback_is_private(tmp_path: Path, xdg: str) -> None:
    env = base_env(tmp_path)
    if xdg:
        env["XDG_RUNTIME_DIR"] = xdg
    facts = probe_host(environ=env)
    fallback = Path(facts.runtime_dir)
    assert fallback == Path(os.environ["AGENT_SANDBOX_DATA_DIR"]).resolve() / "runtime" / (
        os.uname().nodename
    ), "under the user's own data dir, never under /tmp or $TMPDIR"
    st = fallback.lstat()
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.getuid()
    again = probe_host(environ=env)  # reused, not recreated
    assert again.runtime_dir == facts.runtime_dir

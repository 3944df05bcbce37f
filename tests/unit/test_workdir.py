"""Work dirs: layout, the owner marker, stale sweeping and removal that never leaves the tree."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bwsandbox import WorkspaceError
from bwsandbox.runtime import create_workdir, remove_workdir, sweep_stale_workdirs
from bwsandbox.runtime._rmtree import remove_tree
from bwsandbox.runtime._workdir import MARKER, PREFIX, process_identity


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A directory outside the work dir with a file, a read-only file and a subdir."""
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret.txt").write_text("precious")
    (outside / "sub" / "deep.txt").write_text("deep")
    ro = outside / "readonly.txt"
    ro.write_text("ro")
    ro.chmod(0o444)
    return outside


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        content = path.read_text() if path.is_file() else ""
        found[str(path.relative_to(root))] = (stat.S_IMODE(st.st_mode), content)
    return found


def dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_create_layout_and_marker(tmp_path: Path) -> None:
    workdir = create_workdir(str(tmp_path))
    path = Path(workdir.path)
    assert path.parent == tmp_path
    assert path.name.startswith(PREFIX)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert Path(workdir.tmp).is_dir()
    assert Path(workdir.home).is_dir()
    assert stat.S_IMODE(Path(workdir.home).stat().st_mode) == 0o700
    marker = json.loads((path / MARKER).read_text())
    assert marker == process_identity()
    assert marker["pid"] == os.getpid()
    assert marker["start_time"] > 0
    assert marker["boot_id"]
    assert stat.S_IMODE((path / MARKER).stat().st_mode) == 0o600
    other = create_workdir(str(tmp_path))
    assert other.path != workdir.path


def test_create_in_unusable_tmpdir_is_workspace_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="work dir"):
        create_workdir(str(tmp_path / "missing"))


def test_remove_plain(tmp_path: Path) -> None:
    workdir = create_workdir(str(tmp_path))
    Path(workdir.tmp, "file").write_text("x")
    remove_workdir(workdir.path)
    assert not Path(workdir.path).exists()
    remove_workdir(workdir.path)  # already gone: fine


def plant_hostile_tree(tmp: Path, outside: Path) -> None:
    """What a sandbox can leave in its /tmp (all of it is possible from inside)."""
    # symlinks to host files and dirs, absolute and relative, and a symlink loop
    (tmp / "abs-dir").symlink_to(outside)
    (tmp / "abs-file").symlink_to(outside / "secret.txt")
    (tmp / "rel-dir").symlink_to(os.path.relpath(outside, tmp))
    (tmp / "dangling").symlink_to("/nonexistent/target")
    (tmp / "loop").symlink_to("loop")
    # a hard link to a file outside (same file system): unlinking must not touch the content
    with contextlib.suppress(OSError):
        os.link(outside / "secret.txt", tmp / "hardlink")
    # directories the sandbox locked: mode 000 with content, read-only with files inside
    locked = tmp / "locked"
    (locked / "inner").mkdir(parents=True)
    (locked / "inner" / "f").write_text("x")
    (locked / "inner" / "link").symlink_to(outside)
    (locked / "inner").chmod(0)
    locked.chmod(0)
    readonly = tmp / "readonly"
    readonly.mkdir()
    for i in range(3):
        f = readonly / f"f{i}"
        f.write_text("x")
        f.chmod(0)
    readonly.chmod(0o500)
    # special files
    os.mkfifo(tmp / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp / "socket"))
    sock.close()
    # nesting deeper than the fd limit and the recursion limit
    fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1500):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.symlink(str(outside), "escape", dir_fd=fd)
    os.close(fd)


def test_remove_hostile_tree_leaves_outside_untouched(tmp_path: Path, canary: Path) -> None:
    before = snapshot(canary)
    workdir = create_workdir(str(tmp_path))
    plant_hostile_tree(Path(workdir.tmp), canary)
    remove_workdir(workdir.path)
    assert not Path(workdir.path).exists()
    assert snapshot(canary) == before
    assert (canary / "secret.txt").read_text() == "precious"


def test_remove_tree_on_a_symlink_removes_only_the_link(tmp_path: Path, canary: Path) -> None:
    before = snapshot(canary)
    (tmp_path / "link").symlink_to(canary)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert remove_tree(fd, "link") == []
    finally:
        os.close(fd)
    assert not (tmp_path / "link").is_symlink()
    assert snapshot(canary) == before


def test_remove_workdir_that_is_a_symlink_does_not_follow(tmp_path: Path, canary: Path) -> None:
    before = snapshot(canary)
    fake = tmp_path / (PREFIX + "000000000000")
    fake.symlink_to(canary)
    remove_workdir(str(fake))
    assert not fake.is_symlink()
    assert snapshot(canary) == before


@pytest.mark.root
def test_remove_never_crosses_a_mount(tmp_path: Path, canary: Path) -> None:
    workdir = create_workdir(str(tmp_path))
    mount_point = Path(workdir.tmp) / "mnt"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount_point)], check=True)
    try:
        (mount_point / "keep.txt").write_text("on another device")
        with pytest.raises(WorkspaceError, match="another device"):
            remove_workdir(workdir.path)
        assert (mount_point / "keep.txt").read_text() == "on another device"
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
    remove_workdir(workdir.path)
    assert not Path(workdir.path).exists()


def write_marker(path: Path, **changes: object) -> None:
    marker = dict(process_identity(), **changes)
    (path / MARKER).write_text(json.dumps(marker))


def test_sweep_removes_only_stale_workdirs_of_ours(tmp_path: Path, canary: Path) -> None:
    before = snapshot(canary)
    live = Path(create_workdir(str(tmp_path)).path)
    dead = Path(create_workdir(str(tmp_path)).path)
    write_marker(dead, pid=dead_pid())
    plant_hostile_tree(dead / "tmp", canary)
    rebooted = Path(create_workdir(str(tmp_path)).path)
    write_marker(rebooted, boot_id="00000000-0000-0000-0000-000000000000")
    reused_pid = Path(create_workdir(str(tmp_path)).path)
    write_marker(reused_pid, start_time=1)  # our pid, but another process's start time
    no_marker = Path(create_workdir(str(tmp_path)).path)
    (no_marker / MARKER).unlink()
    garbage = Path(create_workdir(str(tmp_path)).path)
    (garbage / MARKER).write_text("not json")
    other_uid = Path(create_workdir(str(tmp_path)).path)
    write_marker(other_uid, uid=os.getuid() + 1, pid=dead_pid())
    marker_link = Path(create_workdir(str(tmp_path)).path)
    (marker_link / MARKER).unlink()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(dict(process_identity(), pid=dead_pid())))
    (marker_link / MARKER).symlink_to(elsewhere)
    # a symlink named like a work dir, pointing at a stale-looking dir: never followed
    target = tmp_path / "target"
    target.mkdir()
    write_marker(target, pid=dead_pid())
    (tmp_path / (PREFIX + "symlinked000")).symlink_to(target)

    removed = sweep_stale_workdirs(str(tmp_path))

    assert sorted(removed) == sorted(str(p) for p in (dead, rebooted, reused_pid))
    for kept in (live, no_marker, garbage, other_uid, marker_link, target):
        assert kept.is_dir(), kept
    assert (target / MARKER).exists()
    assert snapshot(canary) == before


def test_sweep_of_missing_tmpdir_is_a_no_op(tmp_path: Path) -> None:
    assert sweep_stale_workdirs(str(tmp_path / "nope")) == []


def test_remove_fixes_a_read_only_tmp(tmp_path: Path) -> None:
    workdir = create_workdir(str(tmp_path))
    stuck = Path(workdir.tmp) / "stuck"
    stuck.mkdir()
    (stuck / "f").write_text("x")
    os.chmod(workdir.tmp, 0o500)  # noqa: PTH101
    remove_workdir(workdir.path)
    assert not Path(workdir.path).exists()


#: what process_identity() writes, in its order
IDENTITIES = st.builds(
    lambda uid, pid, start, boot: {"uid": uid, "pid": pid, "start_time": start, "boot_id": boot},
    st.integers(0, 2**32),
    st.integers(0, 2**22),
    st.integers(0, 2**63),
    st.text(alphabet="0123456789abcdef-", max_size=36),
)


@settings(max_examples=300)
@given(IDENTITIES)
def test_a_written_marker_is_read_without_json_as_json_reads_it(
    identity: dict[str, object],
) -> None:
    from bwsandbox._jsontext import dumps
    from bwsandbox.runtime._workdir import written_marker

    data = dumps(identity).encode()
    assert written_marker(data) == json.loads(data) == identity


@settings(max_examples=500)
@given(
    IDENTITIES, st.integers(0, 80), st.sampled_from(["", "0", "-", '"', " ", ",", "\\", "é", "x"])
)
def test_any_other_marker_text_is_left_to_json(
    identity: dict[str, object], at: int, insert: str
) -> None:
    """Edited markers: either refused (None: the caller asks json) or read as json reads them."""
    from bwsandbox._jsontext import dumps
    from bwsandbox.runtime._workdir import written_marker

    text = dumps(identity)
    data = (text[:at] + insert + text[at + 1 :]).encode()
    ours = written_marker(data)
    if ours is not None:
        assert ours == json.loads(data)


def test_the_real_marker_is_read_without_json(tmp_path: Path) -> None:
    from bwsandbox.runtime._workdir import written_marker

    work = create_workdir(str(tmp_path))
    data = (Path(work.path) / MARKER).read_bytes()
    assert written_marker(data) == process_identity()
    assert written_marker(b'{"uid":0,"pid":1,"start_time":2,"boot_id":"a"}') is None, "control"

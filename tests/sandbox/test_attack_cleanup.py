"""Attacks on the session work dir: it is removed on exit without following the symlinks,
read-only dirs and odd modes the sandbox left in it; nothing outlives the session, and a
killed session's work dir is removed at the next start.

The CLI runs with ``TMPDIR`` set to a per-test dir (``host_tmp``), where the runtime creates
work dirs; ``--keep-workdir`` is the control showing that is really where they go.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli

    from .conftest import SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]


def _force_rmtree(path: Path) -> None:
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            full = Path(root, name)
            if not full.is_symlink():
                full.chmod(0o700)
    shutil.rmtree(path)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


def _wait_until(predicate: Callable[[], object], what: str, limit: float = 30.0) -> None:
    """Bounded wait for an event (not a timing assertion: the limit is generous)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_workdir_is_removed_after_exit(sbx: SandboxRunner, cli: Cli) -> None:
    result = sbx.sh("echo data > /tmp/file; mkdir -p ~/.cache/x; echo ok")
    assert result.returncode == 0, result.describe()
    assert cli.leftovers() == [], result.describe()


def test_keep_workdir_control(sbx: SandboxRunner, cli: Cli) -> None:
    """Control: the work dir is where the tests look, and holds the sandbox's /tmp."""
    result = sbx.sh("echo kept > /tmp/marker", "--keep-workdir")
    assert result.returncode == 0, result.describe()
    left = cli.leftovers()
    assert len(left) == 1, result.describe()
    assert str(left[0]) in result.stdout + result.stderr, "--keep-workdir says where"
    markers = list(left[0].rglob("marker"))
    assert [m.read_text() for m in markers] == ["kept\n"]
    _force_rmtree(left[0])


def test_symlinks_and_odd_modes_do_not_escape_cleanup(
    sbx: SandboxRunner, cli: Cli, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    files = {
        victim / "keep.txt": "precious",
        victim / "sub" / "deep.txt": "deeper",
    }
    for path, text in files.items():
        path.write_text(text)
    (victim / "readonly").mkdir()
    (victim / "readonly" / "f").write_text("ro")
    (victim / "readonly").chmod(0o500)
    script = f"""
        ln -s {victim} /tmp/dirlink
        ln -s {victim}/keep.txt /tmp/filelink
        ln -s {victim}/sub /tmp/sublink
        ln -s / /tmp/rootlink
        ln -s .. /tmp/dotdot
        ln -s {victim} $HOME/homelink
        mkdir -p /tmp/nest/a/b && ln -s {victim} /tmp/nest/a/b/link
        ln -s {victim}/keep.txt /tmp/nest/a/b/flink
        chmod 0500 /tmp/nest/a/b && chmod 0 /tmp/nest/a && chmod 0 /tmp/nest
        mkdir /tmp/wx && touch /tmp/wx/f && chmod 0300 /tmp/wx
        mkdir /tmp/sticky && chmod 1777 /tmp/sticky
        mkfifo /tmp/fifo
        touch /tmp/nomode && chmod 0 /tmp/nomode
        mkdir -p /tmp/deep/$(printf 'd/%.0s' $(seq 60))
        ln -s {victim} /tmp/deep/$(printf 'd/%.0s' $(seq 60))x
        echo planted
    """
    result = sbx.sh(script)
    assert "planted" in result.stdout, result.describe()
    assert cli.leftovers() == [], result.describe()
    for path, text in files.items():
        assert path.read_text() == text, f"{path} damaged by cleanup"
    assert (victim / "readonly" / "f").read_text() == "ro"
    assert stat.S_IMODE((victim / "readonly").stat().st_mode) == 0o500
    (victim / "readonly").chmod(0o700)


def test_background_processes_die_with_the_session(sbx: SandboxRunner, cli: Cli) -> None:
    marker = f"7{secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"
    result = sbx.sh(f"(sleep {marker} &); setsid sleep {marker} & echo started")
    assert "started" in result.stdout, result.describe()
    _wait_until(lambda: not _processes_with(marker), "the sandbox's background sleeps to die")
    assert cli.leftovers() == []


def test_killed_session_dies_and_its_workdir_goes_at_next_start(
    cli: Cli, project: Path, sbx: SandboxRunner
) -> None:
    marker = f"8{secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"
    victim = project.parent / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    script = (
        f"ln -s {victim} /tmp/link; ln -s {victim}/keep.txt ~/flink; "
        f"echo started; exec sleep {marker}"
    )
    with subprocess.Popen(
        [*cli.command, "run", "--project", str(project), "--", "sh", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=cli.env,
        cwd=project,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"started\n"
            assert _processes_with(marker), "the sandboxed sleep runs"
            assert cli.leftovers(), "the running session has a work dir"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    _wait_until(lambda: not _processes_with(marker), "the sandbox to die with its parent")
    again = sbx.sh("true")
    assert again.returncode == 0, again.describe()
    assert cli.leftovers() == [], again.describe()
    assert (victim / "keep.txt").read_text() == "precious"

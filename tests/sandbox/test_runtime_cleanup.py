"""A sandbox that booby-traps its /tmp and home: cleanup removes it all and nothing outside."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import bwsandbox
from bwsandbox.runtime import remove_workdir
from bwsandbox.runtime._workdir import PREFIX

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

TRAP = r"""
set -e
for dir in /tmp "$HOME"; do
  cd "$dir"
  ln -s "$CANARY" abs-dir
  ln -s "$CANARY/secret.txt" abs-file
  ln -s "../../../../../../../../../../../..$CANARY" rel-dir
  ln -s loop loop
  mkdir -p locked/inner
  echo x > locked/inner/f
  ln -s "$CANARY" locked/inner/escape
  chmod 000 locked/inner locked
  mkdir ro
  for i in 1 2 3; do echo x > ro/f$i; chmod 0 ro/f$i; done
  chmod 500 ro
  mkfifo fifo
  python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
  python3 -c '
import os
fd = os.open(".", os.O_RDONLY)
for _ in range(400):
    os.mkdir("d", dir_fd=fd)
    nxt = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nxt
os.symlink(os.environ["CANARY"], "escape", dir_fd=fd)
'
  chmod 0 d
done
echo trapped
"""


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        found[str(path.relative_to(root))] = (
            stat.S_IMODE(st.st_mode),
            path.read_text() if path.is_file() else "",
        )
    return found


def test_booby_trapped_tmp_and_home_are_removed(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(host_tmp))
    canary = tmp_path / "canary"
    (canary / "sub").mkdir(parents=True)
    (canary / "secret.txt").write_text("precious")
    (canary / "sub" / "deep.txt").write_text("deep")
    before = snapshot(canary)

    result = bwsandbox.run(
        ["sh", "-c", TRAP], project=project, env=[f"CANARY={canary}"], capture_output=True
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == b"trapped\n"
    assert [p for p in host_tmp.iterdir() if p.name.startswith(PREFIX)] == []
    assert snapshot(canary) == before
    assert os.access(canary / "secret.txt", os.R_OK)


def test_positive_control_the_trap_is_really_planted(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With keep_workdir the trap stays: it points at the canary and resists a naive rmtree."""
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(host_tmp))
    canary = tmp_path / "canary"
    canary.mkdir()
    result = bwsandbox.run(
        ["sh", "-c", TRAP], project=project, env=[f"CANARY={canary}"], keep_workdir=True
    )
    assert result.returncode == 0
    assert result.workdir is not None
    tmp = Path(result.workdir) / "tmp"
    assert (tmp / "abs-dir").resolve() == canary
    assert (tmp / "rel-dir").resolve() == canary
    assert stat.S_IMODE((tmp / "locked").lstat().st_mode) == 0
    remove_workdir(result.workdir)
    assert not Path(result.workdir).exists()
    assert canary.is_dir()

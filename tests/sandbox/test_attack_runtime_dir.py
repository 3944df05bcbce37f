"""Issue 9 finding 12: another local user takes the runtime dir's name first.

Without ``XDG_RUNTIME_DIR`` the runtime dir used to be ``$TMPDIR`` or ``/tmp`` +
``bwsandbox-runtime-<uid>``; whoever created that name first made every start fail (125), or,
if it passed the checks, held the session records. Now it is ``<data>/runtime/<host>``, in
the user's own data dir. The squatter's dir is planted at the old name with a forged record
in it: ``run`` still works, ``ps`` lists nothing of it, and nothing is written into it.

As root the squatter's dir belongs to ``nobody``; as an ordinary user (who cannot give a dir
away) it is a world-writable dir, which the old code refused just the same. The control
checks that the planted dir is exactly where the old code looked and that it failed the old
code's check (``private_dir``), so the old code would have failed closed with 125.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bwsandbox._paths import private_dir
from tests.conftest import IS_ROOT, Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

NOBODY = 65534


def _squat(tmpdir: Path) -> Path:
    old = tmpdir / f"bwsandbox-runtime-{os.getuid()}"
    sessions = old / "agent-sandbox" / "sessions"
    sessions.mkdir(parents=True)
    forged = {"version": 2, "id": "ffffffffffff", "mac": "0" * 64}
    (sessions / "ffffffffffff.json").write_text(json.dumps(forged))
    for path in (old, old / "agent-sandbox", sessions):
        path.chmod(0o777)
    if IS_ROOT:
        for path in (old, old / "agent-sandbox", sessions, sessions / "ffffffffffff.json"):
            os.chown(path, NOBODY, NOBODY)
    return old


def _tree(path: Path) -> list[tuple[str, int]]:
    return sorted((str(p), p.lstat().st_mtime_ns) for p in path.rglob("*"))


def test_a_squatted_runtime_dir_name_changes_nothing(cli: Cli, project: Path) -> None:
    old = _squat(cli.host_tmp)
    assert not private_dir(str(old)), "control: the old code refused this dir (exit 125)"
    before = _tree(old)
    env = {key: value for key, value in cli.env.items() if key != "XDG_RUNTIME_DIR"}
    squatted = Cli(env=env, cwd=project, host_tmp=cli.host_tmp, runtime_dir=cli.runtime_dir)
    result = squatted("run", "--", "sh", "-c", "echo ran")
    assert result.returncode == 0, result.describe()
    assert result.stdout == "ran\n"
    listed = squatted("ps", "--json")
    assert listed.returncode == 0, listed.describe()
    assert listed.stdout == "", "nothing of the squatter's is listed"
    assert _tree(old) == before, "nothing was written into the squatter's dir"
    runtime = Path(env["AGENT_SANDBOX_DATA_DIR"]).resolve() / "runtime" / os.uname().nodename
    st = runtime.lstat()
    assert (st.st_uid, st.st_mode & 0o777) == (os.getuid(), 0o700)


def test_a_runtime_dir_fallback_that_is_not_ours_is_refused(cli: Cli, project: Path) -> None:
    """Where the fallback is (the user's own data dir), a wrong owner or mode fails closed."""
    env = {key: value for key, value in cli.env.items() if key != "XDG_RUNTIME_DIR"}
    runtime = Path(env["AGENT_SANDBOX_DATA_DIR"]) / "runtime" / os.uname().nodename
    runtime.mkdir(parents=True)
    runtime.chmod(0o755)
    result = Cli(env=env, cwd=project, host_tmp=cli.host_tmp, runtime_dir=cli.runtime_dir)(
        "run", "--", "true"
    )
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1
    assert "closed to other users" in result.error_lines[0]
    runtime.chmod(0o700)
    control = Cli(env=env, cwd=project, host_tmp=cli.host_tmp, runtime_dir=cli.runtime_dir)(
        "run", "--", "true"
    )
    assert control.returncode == 0, control.describe()

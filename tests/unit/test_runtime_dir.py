"""Where the runtime dir is without ``XDG_RUNTIME_DIR`` (issue 9 finding 12)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from bwsandbox import _paths

NODE = os.uname().nodename


@pytest.fixture
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENT_SANDBOX_DATA_DIR")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)


@pytest.mark.usefixtures("no_override")
def test_the_fallback_is_in_the_users_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state), "HOME": str(tmp_path / "home")}
    assert _paths.runtime_dir_path(env) == str(state / "agent-sandbox" / "runtime" / NODE)
    for odd in ("", "relative/state", "   "):
        env["XDG_STATE_HOME"] = odd
        expected = tmp_path / "home" / ".local" / "state" / "agent-sandbox" / "runtime" / NODE
        assert _paths.runtime_dir_path(env) == str(expected)
    env["HOME"] = "relative-home"
    account = pwd.getpwuid(os.getuid()).pw_dir
    assert _paths.runtime_dir_path(env).startswith(os.path.realpath(account))


@pytest.mark.usefixtures("no_override")
def test_it_is_created_private_and_never_under_tmpdir(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "TMPDIR": str(tmp_path)}
    made = Path(_paths.runtime_dir(env))
    assert made.parent.parent == tmp_path / "state" / "agent-sandbox"
    st = made.lstat()
    assert (st.st_uid, st.st_mode & 0o777) == (os.getuid(), 0o700)
    assert not (tmp_path / f"bwsandbox-runtime-{os.getuid()}").exists()


def test_finding_it_is_import_light(tmp_path: Path) -> None:
    """The cache-hit path looks for its cache there: no platformdirs (15-20 ms)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("XDG_RUNTIME_DIR", "AGENT_SANDBOX_DATA_DIR")
    }
    env["XDG_STATE_HOME"] = str(tmp_path)
    code = (
        "import sys\nfrom bwsandbox.cli import _plancache\nfrom bwsandbox import _paths\n"
        "_paths.runtime_dir(); _plancache.cache_dir()\n"
        "assert 'platformdirs' not in sys.modules, 'platformdirs was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)

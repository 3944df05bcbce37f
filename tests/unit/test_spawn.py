"""bwrap's options travel in an --args memfd (runtime._launcher), the command stays on argv."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bwsandbox.runtime._launcher import spawn_bwrap

STAND_IN = """#!{python}
import os, sys
print(repr(sys.argv[1:]))
print(repr(os.read(int(sys.argv[2]), 65536).split(b"\\0")[:-1]))
"""


def test_options_travel_in_a_memfd_and_the_command_stays_on_argv(tmp_path: Path) -> None:
    bwrap = tmp_path / "bwrap"
    bwrap.write_text(STAND_IN.format(python=sys.executable))
    bwrap.chmod(0o755)
    out = tmp_path / "out"
    argv = [str(bwrap), "--ro-bind", "/host path", "/x", "--hostname", "--", "--", "cmd", "--"]
    with out.open("wb") as handle:
        pid = spawn_bwrap(argv, 6, {}, [(os.POSIX_SPAWN_DUP2, handle.fileno(), 1)])
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    shown, given = out.read_text().splitlines()
    assert shown == repr(["--args", shown.split("'")[3], "--", "cmd", "--"])
    assert given == repr([b"--ro-bind", b"/host path", b"/x", b"--hostname", b"--"])


def test_refuses_an_argv_without_the_separator() -> None:
    with pytest.raises(ValueError, match="not '--'"):
        spawn_bwrap(["/usr/bin/bwrap", "--unshare-user", "true"], 2, {}, [])

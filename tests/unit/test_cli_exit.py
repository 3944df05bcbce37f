"""``cli.main``'s exit: without the interpreter's finalization only when nothing is left for
it to do (buffered output is flushed first); with an ``atexit`` handler or another thread,
``sys.exit`` as usual."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from bwsandbox.cli import _exit\n" + code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_buffered_output_is_flushed_and_the_status_kept() -> None:
    result = _run("import sys\nprint('out', end='')\nsys.stderr.write('err')\n_exit(3)")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out", "err")


@pytest.mark.parametrize(
    "setup",
    [
        "import atexit\natexit.register(lambda: print('atexit ran'))\n",
        (
            "import threading, time\n"
            "threading.Thread(target=lambda: (time.sleep(0.2), print('atexit ran'))).start()\n"
        ),
    ],
    ids=["atexit", "thread"],
)
def test_an_atexit_handler_or_a_thread_still_runs(setup: str) -> None:
    """The control: what ``os._exit`` would skip still happens (the handler, the thread)."""
    result = _run(setup + "_exit(4)")
    assert result.returncode == 4
    assert result.stdout == "atexit ran\n"

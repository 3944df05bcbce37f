"""The ``agent-sandbox`` command line: a thin layer over the library.

``main`` is the console-script entry point. It imports almost nothing itself: well-formed
``run``/``shell`` command lines take a fast path (:mod:`bwsandbox.cli._dispatch`) that never
imports typer, and everything else goes to the typer app (:mod:`bwsandbox.cli._app`).
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Run ``agent-sandbox`` with ``sys.argv`` and exit with its status."""
    from bwsandbox.cli._dispatch import dispatch

    _exit(dispatch(sys.argv[1:]))


def _exit(status: int) -> None:
    """Exit with ``status``, without the interpreter's finalization when nothing is left for
    it to do: no ``atexit`` handler and no other thread (then stdout and stderr are flushed
    and the process ends, 1-3 ms sooner: no module is torn down one by one). Otherwise, or
    when a flush fails, ``sys.exit`` as usual."""
    import atexit
    import os

    threading = sys.modules.get("threading")
    if atexit._ncallbacks() == 0 and (threading is None or threading.active_count() == 1):
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
        except (OSError, ValueError):
            pass  # say it the usual way (a closed pipe: "Exception ignored ...")
        else:
            os._exit(status)
    sys.exit(status)

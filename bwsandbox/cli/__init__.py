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

    sys.exit(dispatch(sys.argv[1:]))

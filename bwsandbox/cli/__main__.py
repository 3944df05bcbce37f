"""``python -m bwsandbox.cli``: the same as the ``agent-sandbox`` console script."""

from __future__ import annotations

from bwsandbox.cli import main

main()

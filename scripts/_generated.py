"""Shared by the generators of checked-in modules (``gen_shipped_policies.py``,
``gen_seccomp_programs.py``): write the module, or with ``--check`` say whether it is current."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(module: Path, render: Callable[[], str]) -> int:
    """``--check``: exit status 1 (and a line on stderr) when ``module`` is not what ``render``
    gives; otherwise write it. The exit status."""
    fresh = render()
    if "--check" in sys.argv[1:]:
        current = module.read_text(encoding="utf-8") if module.exists() else ""
        if current != fresh:
            print(f"{module} is out of date: run python {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    module.write_text(fresh, encoding="utf-8")
    return 0

"""pytest plugin (entry point ``bwsandbox``): a ``sandbox`` fixture for running commands sandboxed.

::

    def test_build(sandbox):
        result = sandbox.run(["make", "test"])
        assert result.returncode == 0

The project is the test's ``tmp_path / "project"`` (or ``sandbox.project``); agent-sandbox's
config and data dirs are private to the test, so nothing touches the real home.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bwsandbox._api import RunResult

__all__ = ["SandboxRunner", "sandbox"]


class SandboxRunner:
    """What the ``sandbox`` fixture gives: ``run(cmd, **kw)`` with the test's project."""

    def __init__(self, project: Path) -> None:
        self.project = project

    def run(self, command: Sequence[str], **kwargs: Any) -> RunResult[Any]:
        """:func:`bwsandbox.run` with ``project`` and ``capture_output=True`` by default.

        Typed loosely (``RunResult[Any]``): ``stdout`` is bytes unless the call turns
        ``capture_output`` off.
        """
        from bwsandbox._api import run

        kwargs.setdefault("project", self.project)
        kwargs.setdefault("capture_output", True)
        return run(command, **kwargs)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SandboxRunner:
    """Run commands in a bwsandbox sandbox with ``tmp_path / "project"`` as the project."""
    state = tmp_path / "agent-sandbox"
    for name, sub in (("AGENT_SANDBOX_CONFIG_DIR", "config"), ("AGENT_SANDBOX_DATA_DIR", "data")):
        (state / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, os.fspath(state / sub))
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return SandboxRunner(project)

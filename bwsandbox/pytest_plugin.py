"""pytest plugin (entry point ``bwsandbox``): a ``sandbox`` fixture for running commands sandboxed.

::

    def test_build(sandbox):
        result = sandbox.run(["make", "test"])
        assert result.returncode == 0

The project is the test's ``tmp_path / "project"`` (or ``sandbox.project``); agent-sandbox's
config and data dirs are private to the test, so nothing touches the real home.

More fixtures, over :mod:`bwsandbox.testing` (imported only when a test uses them):
``sandbox_audit`` (an in-memory audit sink), ``loopback_http`` (the port of an HTTP server
on 127.0.0.1 that a filtered sandbox reaches through an allowed name pinned with
``add_hosts``), ``fake_host_facts`` (the fake host facts factory, for the pure compiler).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bwsandbox._api import RunResult
    from bwsandbox.compile import HostFacts
    from bwsandbox.testing import MemoryAudit

__all__ = [
    "SandboxRunner",
    "fake_host_facts",
    "loopback_http",
    "sandbox",
    "sandbox_audit",
]


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


@pytest.fixture
def sandbox_audit() -> MemoryAudit:
    """An audit sink keeping events in a list: ``Sandbox(..., audit=sandbox_audit)``."""
    from bwsandbox.testing import MemoryAudit

    return MemoryAudit("pytest")


@pytest.fixture
def loopback_http() -> Iterator[int]:
    """The port of an HTTP server on 127.0.0.1 answering ``hello host=HOST path=PATH``.

    A filtered sandbox reaches it as an allowed name pinned to the host's loopback:
    ``sandbox.run(cmd, network="filtered", allow=["web.test"],
    add_hosts={"web.test": "127.0.0.1"})``.
    """
    from bwsandbox.testing import serve_http

    with serve_http() as port:
        yield port


@pytest.fixture
def fake_host_facts() -> Callable[..., HostFacts]:
    """:func:`bwsandbox.testing.fake_host_facts`: host facts for ``compile_plan``, by hand."""
    from bwsandbox.testing import fake_host_facts as make

    return make

"""The pytest plugin: the ``sandbox`` fixture, directly and as an installed plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bwsandbox.pytest_plugin import SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]


def test_fixture_runs_in_the_project(sandbox: SandboxRunner, tmp_path: Path) -> None:
    assert sandbox.project == tmp_path / "project"
    result = sandbox.run(["sh", "-c", "pwd; echo built > artifact"])
    assert result.returncode == 0
    assert result.stdout == f"{sandbox.project}\n".encode()
    assert (sandbox.project / "artifact").read_text() == "built\n"
    assert sandbox.run(["sh", "-c", "exit 4"]).returncode == 4


def test_fixture_isolates_agent_sandbox_state(sandbox: SandboxRunner, tmp_path: Path) -> None:
    data = Path(os.environ["AGENT_SANDBOX_DATA_DIR"])
    config = Path(os.environ["AGENT_SANDBOX_CONFIG_DIR"])
    assert data.is_relative_to(tmp_path)
    assert config.is_relative_to(tmp_path)
    result = sandbox.run(["true"])
    assert (data / "clients" / "default" / "sessions" / result.session_id).is_dir()


PLUGIN_USER = """
def test_uses_the_fixture(sandbox):
    result = sandbox.run(["sh", "-c", "echo hello from the sandbox"])
    assert result.returncode == 0
    assert result.stdout == b"hello from the sandbox\\n"
"""


def test_plugin_is_registered_by_entry_point(tmp_path: Path) -> None:
    """A project that only installed bwsandbox gets the fixture (no conftest, no -p)."""
    (tmp_path / "test_user.py").write_text(PLUGIN_USER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


@pytest.mark.netns
def test_loopback_http_is_reached_only_through_an_allowed_name(
    sandbox: SandboxRunner, loopback_http: int, sandbox_audit: object
) -> None:
    """The plugin's loopback server, through a filtered sandbox; the control: not allowed."""
    url = f"http://web.test:{loopback_http}/from-plugin"
    hosts = {"web.test": "127.0.0.1"}
    command = ["curl", "-fsS", "-m", "10", url]
    allowed = sandbox.run(command, network="filtered", allow=["web.test"], add_hosts=hosts)
    assert allowed.returncode == 0, allowed.stderr
    assert b"path=/from-plugin" in allowed.stdout
    denied = sandbox.run(command, network="filtered", allow=["other.test"], add_hosts=hosts)
    assert denied.returncode != 0
    assert b"path=/from-plugin" not in denied.stdout
    assert sandbox_audit is not None

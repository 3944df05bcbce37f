"""Fixtures for the MCP tests: the real npm packages from the agents cache, a client factory.

The packages come from ``scripts/install-agents.sh`` (the cache dir holds node_modules), run
once per test session when a package is not cached yet and npm is there, as the agents'
end-to-end tests do. A test whose package cannot be had skips, naming the install command;
it never errors.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli

from ._client import McpClient

REPO = Path(__file__).resolve().parents[2]
FS_BIN = "mcp-server-filesystem"


def _cache_roots() -> list[Path]:
    """Where install-agents.sh puts packages, in its own order of preference."""
    dirs = [os.environ.get("BWSANDBOX_AGENTS_CACHE", ""), "/var/cache/bwsandbox/agents"]
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    dirs.append(str(Path(cache_home) / "bwsandbox" / "agents"))
    return [Path(d) for d in dirs if d]


@dataclass(frozen=True, slots=True)
class NpmBin:
    """An installed npm executable and the cache dir to bind read-only for it."""

    path: Path
    cache: Path


def _cached(name: str) -> NpmBin | None:
    for root in _cache_roots():
        path = root / "node_modules" / ".bin" / name
        if os.access(path, os.X_OK):
            return NpmBin(path, root)
    return None


@functools.cache
def _install(package: str) -> str:
    """Run install-agents.sh for ``package``; "" on success, else why not."""
    if shutil.which("npm") is None:
        return "npm is not installed"
    try:
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "install-agents.sh"), package],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "install-agents.sh timed out (npm registry unreachable?)"
    return "" if done.returncode == 0 else done.stderr.strip()[-300:]


def find_npm_bin(name: str, package: str) -> NpmBin:
    """The cached executable ``name`` (installed when possible), or skip saying how."""
    found = _cached(name)
    if found is None:
        why = _install(package)
        found = _cached(name)
        if found is None:
            pytest.skip(
                f"{name} is not installed ({why or 'not found after installing'}): run "
                f"`bash scripts/install-agents.sh {package}` "
                f"(cache: {', '.join(str(r) for r in _cache_roots())})"
            )
    return found


@pytest.fixture
def fs_server() -> NpmBin:
    """The real @modelcontextprotocol/server-filesystem."""
    return find_npm_bin(FS_BIN, "mcp-filesystem")


@pytest.fixture
def mcp_client(cli: Cli, tmp_path: Path) -> Iterator[Callable[..., McpClient]]:
    """``mcp_client(*agent_sandbox_args)`` starts the CLI as an MCP client would."""
    started: list[McpClient] = []

    def start(*args: str, env: dict[str, str] | None = None) -> McpClient:
        full_env = {**cli.env, **(env or {})}
        client = McpClient(
            [*cli.command, *args],
            env=full_env,
            cwd=cli.cwd,
            stderr_path=tmp_path / f"stderr-{len(started)}.txt",
        )
        started.append(client)
        return client

    yield start
    for client in started:
        if client.proc.stdin is not None and not client.proc.stdin.closed:
            client.proc.kill()
            client.close()

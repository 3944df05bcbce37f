"""Fixtures for the MCP tests: the real npm packages from the agents cache, a client factory.

The packages come from ``scripts/install-agents.sh`` (the cache dir holds node_modules). A
test that needs one skips, with the install command, when it is not cached: these tests never
reach for the network themselves.
"""

from __future__ import annotations

import os
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


def find_npm_bin(name: str, package: str) -> NpmBin:
    """The cached executable ``name``, or skip saying how to install it."""
    for root in _cache_roots():
        path = root / "node_modules" / ".bin" / name
        if os.access(path, os.X_OK):
            return NpmBin(path, root)
    pytest.skip(
        f"{name} is not installed: run `bash scripts/install-agents.sh {package}` "
        f"(npm; cache: {', '.join(str(r) for r in _cache_roots())})"
    )


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

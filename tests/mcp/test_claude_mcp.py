"""The real Claude Code uses a filesystem MCP server that runs under ``agent-sandbox mcp``.

Claude Code runs on the host (the host-side client configuration of docs/mcp.md) with
``--mcp-config`` naming ``agent-sandbox mcp -- mcp-server-filesystem PROJECT``. The fake
Anthropic API answers the first turn with a ``tool_use`` of ``mcp__fs__read_text_file`` and
echoes the ``tool_result`` it gets back, which must hold the project file's content; a second
call for a host-home file comes back as an error.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.fakes import FakeAnthropic

from .conftest import NpmBin, find_npm_bin

pytestmark = [pytest.mark.slow, pytest.mark.bwrap, pytest.mark.userns]

TOOL = "mcp__fs__read_text_file"


def _claude_env(cli: Cli, home: Path, port: int) -> dict[str, str]:
    drop = ("ANTHROPIC_", "OPENAI_", "CLAUDE_", "CODEX_")
    env = {k: v for k, v in cli.env.items() if not k.startswith(drop)}
    env.update(
        HOME=str(home),
        ANTHROPIC_API_KEY="test",
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}",
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        # offer MCP tools to the model directly (newer releases defer them behind a search)
        ENABLE_TOOL_SEARCH="false",
    )
    return env


def _run_claude(
    claude: NpmBin, cli: Cli, fs_server: NpmBin, project: Path, tmp_path: Path, path: Path
) -> tuple[subprocess.CompletedProcess[str], FakeAnthropic]:
    home = tmp_path / "claude-home"
    home.mkdir(exist_ok=True)
    server = [
        "mcp",
        "--project",
        str(project),
        "--ro",
        str(fs_server.cache),
        "--",
        str(fs_server.path),
        "/",
    ]
    config = {
        "mcpServers": {"fs": {"command": cli.command[0], "args": [*cli.command[1:], *server]}}
    }
    (home / "mcp.json").write_text(json.dumps(config))
    with FakeAnthropic(reply="DONE", tool_use=(TOOL, {"path": str(path)})) as api:
        done = subprocess.run(
            [
                str(claude.path),
                "-p",
                "read the file",
                "--mcp-config",
                str(home / "mcp.json"),
                "--strict-mcp-config",
                "--allowedTools",
                TOOL,
            ],
            cwd=project,
            env=_claude_env(cli, home, api.port),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    return done, api


def test_claude_code_gets_the_tool_result(
    cli: Cli, fs_server: NpmBin, project: Path, tmp_path: Path
) -> None:
    claude = find_npm_bin("claude", "claude")
    token = secrets.token_hex(8)
    (project / "notes.txt").write_text(f"project notes {token}\n")
    done, api = _run_claude(claude, cli, fs_server, project, tmp_path, project / "notes.txt")
    describe = f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, describe
    assert TOOL in api.offered_tools(), describe
    assert any(token in result for result in api.tool_results()), api.tool_results()
    assert "tool_result: " in done.stdout, describe
    assert token in done.stdout, describe


def test_claude_code_tool_cannot_reach_the_host_home(
    cli: Cli, fs_server: NpmBin, project: Path, tmp_path: Path
) -> None:
    claude = find_npm_bin("claude", "claude")
    token = secrets.token_hex(8)
    secret = Path.home() / f".bwsandbox-mcp-canary-{secrets.token_hex(8)}"
    secret.write_text(f"host home secret {token}\n")
    secret.chmod(0o600)
    try:
        done, api = _run_claude(claude, cli, fs_server, project, tmp_path, secret)
    finally:
        secret.unlink()
    describe = f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert api.tool_results(), describe  # the call happened and came back
    assert not any(token in result for result in api.tool_results()), api.tool_results()
    assert token not in done.stdout

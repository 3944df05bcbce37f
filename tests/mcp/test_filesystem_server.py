"""The real @modelcontextprotocol/server-filesystem behind ``agent-sandbox mcp``.

A JSON-RPC client on the host (``_client.py``) talks to it the way an MCP client does. The
server is given ``/`` as its allowed directory, so only the sandbox stands between it and
the host: it reads the project, and cannot read the host home or ``/etc/shadow`` (each
attack paired with a control running the same server on the host, where it can). Every
stdout line must parse as JSON-RPC; closing stdin ends the session.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IS_ROOT, Cli

from ._client import McpClient
from .conftest import NpmBin

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]


def _text(result: dict[str, Any]) -> str:
    return "\n".join(str(c.get("text", "")) for c in result.get("content") or ())


def _read_tool(client: McpClient) -> str:
    tools = {t["name"] for t in client.request("tools/list")["result"]["tools"]}
    assert "read_text_file" in tools or "read_file" in tools, tools
    return "read_text_file" if "read_text_file" in tools else "read_file"


def _serve(
    mcp_client: Callable[..., McpClient], fs_server: NpmBin, project: Path, *options: str
) -> McpClient:
    args = ("mcp", "--project", str(project), "--ro", str(fs_server.cache), *options)
    client = mcp_client(*args, "--", str(fs_server.path), "/")
    client.initialize()
    return client


def _direct(fs_server: NpmBin, cli: Cli, tmp_path: Path) -> McpClient:
    """The control: the same server, same arguments, on the host without a sandbox."""
    client = McpClient(
        [str(fs_server.path), "/"],
        env=cli.env,
        cwd=cli.cwd,
        stderr_path=tmp_path / "direct-stderr.txt",
    )
    client.initialize()
    return client


@pytest.fixture
def home_canary() -> Iterator[tuple[Path, str]]:
    """A secret file in the real host home of the user running the tests."""
    token = secrets.token_hex(8)  # the content; the name is another
    path = Path.home() / f".bwsandbox-mcp-canary-{secrets.token_hex(8)}"
    path.write_text(f"host home secret {token}\n")
    path.chmod(0o600)
    try:
        yield path, token
    finally:
        path.unlink(missing_ok=True)


def test_reads_a_project_file_over_pure_json_rpc(
    mcp_client: Callable[..., McpClient], fs_server: NpmBin, project: Path
) -> None:
    token = secrets.token_hex(8)
    (project / "notes.txt").write_text(f"project notes {token}\n")
    client = _serve(mcp_client, fs_server, project, "--keep-workdir")
    result = client.call(_read_tool(client), {"path": str(project / "notes.txt")})
    assert not result.get("isError"), result
    assert token in _text(result)
    assert client.close() == 0, client.stderr()
    # every stdout line was a JSON-RPC message; our notes (the kept work dir) went to stderr
    assert client.lines
    assert all("invalid" not in m for m in client.messages), client.lines
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in client.lines)
    stderr = client.stderr()
    assert "kept the work dir" in stderr, stderr
    kept = stderr.split("kept the work dir ", 1)[1].split()[0]
    assert Path(kept).is_dir()


def test_cannot_read_the_host_home(
    mcp_client: Callable[..., McpClient],
    fs_server: NpmBin,
    project: Path,
    home_canary: tuple[Path, str],
    cli: Cli,
    tmp_path: Path,
) -> None:
    path, token = home_canary
    # control: the same server on the host reads it
    direct = _direct(fs_server, cli, tmp_path)
    assert token in _text(direct.call(_read_tool(direct), {"path": str(path)}))
    direct.close()
    client = _serve(mcp_client, fs_server, project)
    result = client.call(_read_tool(client), {"path": str(path)})
    assert result.get("isError"), result
    assert token not in json.dumps(result)
    listing = client.call("list_directory", {"path": str(Path.home())})
    assert path.name not in json.dumps(listing), listing
    assert client.close() == 0, client.stderr()


def test_cannot_read_etc_shadow(
    mcp_client: Callable[..., McpClient],
    fs_server: NpmBin,
    project: Path,
    cli: Cli,
    tmp_path: Path,
) -> None:
    shadow = Path("/etc/shadow")
    if IS_ROOT:  # control: as root, the same server on the host reads it
        direct = _direct(fs_server, cli, tmp_path)
        control = direct.call(_read_tool(direct), {"path": str(shadow)})
        direct.close()
        assert not control.get("isError"), control
        assert "root:" in _text(control)
    client = _serve(mcp_client, fs_server, project)
    result = client.call(_read_tool(client), {"path": str(shadow)})
    assert result.get("isError"), result
    assert "root:" not in json.dumps(result)
    assert client.close() == 0, client.stderr()


def test_project_is_read_only_unless_rw(
    mcp_client: Callable[..., McpClient], fs_server: NpmBin, project: Path
) -> None:
    target = project / "written.txt"
    client = _serve(mcp_client, fs_server, project)
    result = client.call("write_file", {"path": str(target), "content": "x"})
    assert result.get("isError"), result
    assert client.close() == 0
    assert not target.exists()
    # control: --rw PROJECT makes it writable
    client = _serve(mcp_client, fs_server, project, "--rw", str(project))
    result = client.call("write_file", {"path": str(target), "content": "written"})
    assert not result.get("isError"), result
    assert client.close() == 0
    assert target.read_text() == "written"

"""The real Playwright MCP server (npm ``@playwright/mcp``) in ``--policy browser``.

Driven over stdio as an MCP client would (JSON-RPC lines: initialize, tools/list, tools/call),
with the system Chromium (``--executable-path /usr/bin/chromium``, no browser download) and
Chromium's own sandbox on (``--sandbox``). It reads a page served on host loopback under an
allowed name; a name that is not allowed gets the filter's refusal and never reaches the
server (control: the allowed name does).
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

from .conftest import MARKER, Site

pytestmark = [pytest.mark.slow, pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

TIMEOUT = 90.0


class McpClient:
    """A minimal JSON-RPC-over-stdio MCP client for one server process."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        self.stderr = b""
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        self._next = 0

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params or {}})
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"server closed stdout; stderr:\n{self.describe()}")
            message: dict[str, Any] = json.loads(line)  # stdout carries only JSON-RPC
            if message.get("id") == ident:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    def call(self, tool: str, **arguments: Any) -> str:
        result = self.request("tools/call", {"name": tool, "arguments": arguments})
        return "\n".join(c.get("text", "") for c in result["content"])

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the client goes away: the server ends
        try:
            return self.proc.wait(TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._drain.join(5)
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()

    def describe(self) -> str:
        return self.stderr.decode(errors="replace")[-3000:]


def test_playwright_mcp_reads_an_allowed_page(
    cli: Cli, site: Site, chromium: str, playwright_mcp: tuple[Path, Path]
) -> None:
    cache, command = playwright_mcp
    argv = [
        *cli.command, "run", "--policy", "browser", "--ro", str(cache),
        "--add-host", "site.test=127.0.0.1", "--add-host", "other.test=127.0.0.1",
        "--allow", f"site.test:{site.port}", "--",
        str(command), "--executable-path", chromium, "--headless", "--isolated", "--sandbox",
    ]  # fmt: skip
    client = McpClient(argv, cwd=cli.cwd, env=cli.env)
    try:
        init = client.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "bwsandbox-test", "version": "1"},
            },
        )
        assert init["serverInfo"]["name"] == "Playwright", init
        client.notify("notifications/initialized")
        tools = {tool["name"] for tool in client.request("tools/list")["tools"]}
        assert {"browser_navigate", "browser_snapshot"} <= tools, tools
        client.call("browser_navigate", url=f"http://site.test:{site.port}/")
        snapshot = client.call("browser_snapshot")
        assert MARKER in snapshot, snapshot
        assert set(site.hosts) == {f"site.test:{site.port}"}, site.hosts  # page + favicon

        refused = client.call("browser_navigate", url=f"http://other.test:{site.port}/")
        assert MARKER not in refused, refused
        assert "403" in refused, refused  # the filter's answer, not the site's
        assert set(site.hosts) == {f"site.test:{site.port}"}, site.hosts  # page + favicon
    finally:
        status = client.close()
    assert status == 0, client.describe()

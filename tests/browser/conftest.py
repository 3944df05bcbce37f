"""Fixtures for the browser tests: a page on host loopback, Chromium, the Playwright MCP server.

The page is served on 127.0.0.1 and reached from the sandbox under an allowed name
(``--add-host site.test=127.0.0.1 --allow site.test:PORT``). The server remembers the Host
header of every request, so a test can show that a refused name never reached it.

Chromium is Debian's package (``apt-get install -y chromium``); the Playwright MCP server comes
from the npm cache of ``scripts/install-agents.sh playwright-mcp``. Tests skip, naming the
install command, when either is absent; CI installs Chromium from scripts/system-packages.txt
and the server with that script (as the agent tests install the agents).
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MARKER = "Hello from the sandboxed browser 4711"
PAGE = f"<!doctype html><html><head><title>site</title></head><body><h1>{MARKER}</h1></body></html>"
#: flags that keep Chromium from its own background traffic (refused by the filter anyway)
QUIET = (
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)


@dataclass
class Site:
    port: int
    hosts: list[str] = field(default_factory=list)  # Host headers received, in order


def _handler(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            site.hosts.append(self.headers.get("Host") or "")
            body = PAGE.encode() if self.path == "/" else b"not found"
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    """A page on host loopback (reach it as ``site.test`` with --add-host)."""
    holder = Site(0)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield holder
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return path


def _cache_candidates() -> list[Path]:
    dirs = [os.environ.get("BWSANDBOX_AGENTS_CACHE", ""), "/var/cache/bwsandbox/agents"]
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    dirs.append(str(Path(cache_home) / "bwsandbox" / "agents"))
    return [Path(d) for d in dirs if d]


def _install_in_ci() -> str:
    """In CI (CI=true), install the server as the agent tests install the agents; or why not."""
    if os.environ.get("CI") != "true" or shutil.which("npm") is None:
        return "not in CI, or no npm"
    script = Path(__file__).resolve().parents[2] / "scripts" / "install-agents.sh"
    try:
        done = subprocess.run(
            ["bash", str(script), "playwright-mcp"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "scripts/install-agents.sh timed out"
    return "" if done.returncode == 0 else done.stderr.strip()[-300:]


@pytest.fixture(scope="session")
def playwright_mcp() -> tuple[Path, Path]:
    """(the npm cache dir to bind read-only, the playwright-mcp command in it)."""
    for attempt in range(2):
        for cache in _cache_candidates():
            command = cache / "node_modules" / ".bin" / "playwright-mcp"
            if os.access(command, os.X_OK):
                return cache, command
        if attempt == 0 and _install_in_ci():
            break
    pytest.skip(
        "the Playwright MCP server is not installed (scripts/install-agents.sh playwright-mcp)"
    )

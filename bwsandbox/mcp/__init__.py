"""MCP servers in sandboxes of their own (``agent-sandbox mcp``; docs/mcp.md).

A stdio MCP server speaks JSON-RPC on its stdin and stdout. Run in a sandbox, its stdio
passes through untouched; what this package adds is how the session ends: when the client
closes the server's stdin, a server that does not exit by itself is terminated
(:class:`HangupWatch`). Servers declared in a policy (``[mcp.servers.NAME]``) are started by
the agent's supervisor as sibling sandboxes and reached through unix sockets (:class:`McpHub`).
"""

from __future__ import annotations

from bwsandbox.mcp._hangup import EOF_GRACE, HangupWatch, stdin_hung_up
from bwsandbox.mcp._hub import (
    BRIDGE,
    CONFIG,
    MAX_CONNECTIONS,
    MOUNT,
    McpHub,
    ServerLaunch,
    agent_args,
    client_config,
    hub_overlay,
    server_argv,
)

__all__ = [
    "BRIDGE",
    "CONFIG",
    "EOF_GRACE",
    "MAX_CONNECTIONS",
    "MOUNT",
    "HangupWatch",
    "McpHub",
    "ServerLaunch",
    "agent_args",
    "client_config",
    "hub_overlay",
    "server_argv",
    "stdin_hung_up",
]

"""MCP servers in sandboxes of their own (``agent-sandbox mcp``; docs/mcp.md).

A stdio MCP server speaks JSON-RPC on its stdin and stdout. Run in a sandbox, its stdio
passes through untouched; what this package adds is how the session ends: when the client
closes the server's stdin, a server that does not exit by itself is terminated
(:class:`HangupWatch`). Servers declared in a policy (``[mcp.servers.NAME]``) are started by
the agent's supervisor as sibling sandboxes and reached through unix sockets (:class:`McpHub`).

Attributes load lazily.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

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

_LAZY: dict[str, str] = {
    "EOF_GRACE": "bwsandbox.mcp._hangup",
    "HangupWatch": "bwsandbox.mcp._hangup",
    "stdin_hung_up": "bwsandbox.mcp._hangup",
    "BRIDGE": "bwsandbox.mcp._hub",
    "CONFIG": "bwsandbox.mcp._hub",
    "MAX_CONNECTIONS": "bwsandbox.mcp._hub",
    "MOUNT": "bwsandbox.mcp._hub",
    "McpHub": "bwsandbox.mcp._hub",
    "ServerLaunch": "bwsandbox.mcp._hub",
    "agent_args": "bwsandbox.mcp._hub",
    "client_config": "bwsandbox.mcp._hub",
    "hub_overlay": "bwsandbox.mcp._hub",
    "server_argv": "bwsandbox.mcp._hub",
}

if TYPE_CHECKING:
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


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

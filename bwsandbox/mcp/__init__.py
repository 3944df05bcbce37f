"""MCP servers in sandboxes of their own (``agent-sandbox mcp``; docs/mcp.md).

A stdio MCP server speaks JSON-RPC on its stdin and stdout. Run in a sandbox, its stdio
passes through untouched; what this package adds is how the session ends: when the client
closes the server's stdin, a server that does not exit by itself is terminated
(:class:`HangupWatch`).
"""

from __future__ import annotations

from bwsandbox.mcp._hangup import EOF_GRACE, HangupWatch, stdin_hung_up

__all__ = ["EOF_GRACE", "HangupWatch", "stdin_hung_up"]

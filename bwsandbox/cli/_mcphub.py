"""Policy-declared MCP servers for ``run``, ``shell`` and the agent profiles.

When the resolved policy declares ``[mcp.servers.NAME]`` tables, the supervisor opens an
:class:`~bwsandbox.mcp.McpHub` before the sandbox starts and resolves again with the hub's
layer (its dir read-only at ``/run/agent-sandbox/mcp``, ``AGENT_SANDBOX_MCP_CONFIG``) and,
for Claude Code and Codex, the arguments that point them at it ahead of the user's own
(:func:`bwsandbox.mcp.agent_args`). Such a session never goes
through the plan cache. Server logs: ``<client dir>/mcp/mcp-NAME.log``.
"""

# ruff: noqa: PTH111, PTH112, PTH118

from __future__ import annotations

import os
import tempfile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.cli._resolve import Resolved
    from bwsandbox.mcp import McpHub

__all__ = ["open_servers"]


def open_servers(
    name: str, values: dict[str, object], words: tuple[str, ...], resolved: Resolved
) -> tuple[Resolved, McpHub]:
    """Open the hub for ``resolved.policy``'s servers; the session resolved with its layer."""
    from bwsandbox import _paths
    from bwsandbox.cli._resolve import resolve
    from bwsandbox.mcp import McpHub, ServerLaunch, agent_args, hub_overlay, server_argv

    home = os.path.expanduser("~")
    launches = [
        ServerLaunch(
            server.name,
            server_argv(server, project=resolved.project, client=resolved.client, host_home=home),
        )
        for server in resolved.policy.mcp.servers
    ]
    parent = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        parent = tempfile.gettempdir()
    hub = McpHub(
        launches, parent_dir=parent, log_dir=os.path.join(_paths.client_dir(resolved.client), "mcp")
    )
    path = hub.open()
    try:
        words = (*agent_args(name, [s.name for s in launches]), *words)
        again = resolve(name, values, words, extra=(("mcp servers", hub_overlay(path)),))
    except BaseException:
        hub.close()
        raise
    return again, hub

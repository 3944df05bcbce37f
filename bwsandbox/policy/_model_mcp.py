"""The policy model for MCP servers declared in a policy (``[mcp.servers.NAME]``).

Each server runs in a sandbox of its own (the ``mcp`` policy, plus the server's own layers,
binds, network allowlist and variables), started by the supervisor on the host when an agent
connects to it; the agent's sandbox sees only a unix socket per server. See docs/mcp.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from bwsandbox._record import field, fields, record, replace

__all__ = ["McpPolicy", "McpServer", "named_servers", "servers_as_dict"]


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@record
class McpServer:
    """One ``[mcp.servers.NAME]`` table: a stdio MCP server and its own sandbox's grants."""

    command: tuple[str, ...] = field(
        metadata=_doc(
            "the server's command line, run in its own sandbox ('{project}' and '{host_home}' "
            "are expanded); as `agent-sandbox mcp -- COMMAND`"
        )
    )
    allow: tuple[str, ...] = field(
        default=(),
        metadata=_doc("egress rules for this server alone (as --allow); none: no network at all"),
    )
    ro: tuple[str, ...] = field(
        default=(),
        metadata=_doc("host paths bound read-only into this server's sandbox (as --ro)"),
    )
    rw: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "host paths bound read-write (as --rw); '{project}' makes the project writable"
        ),
    )
    env: tuple[str, ...] = field(
        default=(),
        metadata=_doc("variables for this server: NAME (passed from the host) or NAME=VALUE"),
    )
    policy: tuple[str, ...] = field(
        default=(),
        metadata=_doc("more policy layers for this server's sandbox, on top of 'mcp'"),
    )
    name: str = field(default="", metadata=_doc("not a key: the NAME of [mcp.servers.NAME]"))


@record
class McpPolicy:
    """MCP servers for the agent, each in a sibling sandbox (docs/mcp.md)."""

    servers: tuple[McpServer, ...] = field(
        default=(),
        metadata=_doc(
            "[mcp.servers.NAME] tables: started per connection by the supervisor, reached "
            "from the agent's sandbox through a unix socket"
        ),
    )


def named_servers(items: Iterable[tuple[str, McpServer]]) -> tuple[McpServer, ...]:
    """The merged ``(name, server)`` pairs as servers that know their names."""
    return tuple(replace(server, name=name) for name, server in items)


def servers_as_dict(servers: Iterable[McpServer]) -> dict[str, dict[str, list[str]]]:
    """``{NAME: {key: [...]}}`` in the layout of a policy file (empty keys left out)."""
    out: dict[str, dict[str, list[str]]] = {}
    for server in servers:
        table = {
            f.name: list(getattr(server, f.name))
            for f in fields(server)
            if f.name != "name" and getattr(server, f.name)
        }
        out[server.name] = table
    return out

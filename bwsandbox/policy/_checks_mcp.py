"""Checks for ``[mcp.servers.NAME]`` tables (see ``_checks``)."""

from __future__ import annotations

from bwsandbox.policy._checks import (
    Invalid,
    _sub,
    check_argv,
    check_env_name,
    check_path,
    check_rule,
    check_string,
    check_table,
    describe,
)
from bwsandbox.policy._model_mcp import McpServer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["check_mcp_server", "check_server_name"]

_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_KEYS = ("command", "allow", "ro", "rw", "env", "policy")


def check_server_name(value: object) -> str:
    """A server name: it becomes a socket file name and the agent's tool prefix."""
    import re

    text = check_string(value, what="a server name")
    if not re.fullmatch(_NAME, text):
        raise Invalid(f"expected a server name (letters, digits, _ and -), got {text!r}")
    return text


def _list(check: Any) -> Any:
    def run(value: object) -> tuple[object, ...]:
        if not isinstance(value, list | tuple):
            raise Invalid(f"expected an array, got {describe(value)}")
        return tuple(_sub(f"[{i}]", check, item) for i, item in enumerate(value))

    return run


def _check_env(value: object) -> str:
    text = check_string(value, what="NAME or NAME=VALUE")
    name, _, _ = text.partition("=")
    check_env_name(name)
    return text


def check_mcp_server(value: object) -> McpServer:
    """One ``[mcp.servers.NAME]`` table."""
    value = check_table(value, _KEYS, what="an MCP server", expected="a table with command")
    if not value.get("command"):
        raise Invalid(
            "an MCP server needs a command",
            hint='write command = ["mcp-server-filesystem", "{project}"]',
        )
    checks: dict[str, Any] = {
        "command": check_argv,
        "allow": _list(check_rule),
        "ro": _list(check_path),
        "rw": _list(check_path),
        "env": _list(_check_env),
        "policy": _list(lambda v: check_string(v, what="a policy name or file")),
    }
    args = {k: _sub(f".{k}", checks[k], item) for k, item in value.items()}
    return McpServer(**args)

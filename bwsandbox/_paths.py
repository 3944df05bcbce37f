"""Where things live on the host (platformdirs), computed lazily and in one place.

- user policies:   <config>/agent-sandbox/policies/*.toml
- client state:    <data>/agent-sandbox/clients/<client>/...
- session audit:   <data>/agent-sandbox/clients/<client>/sessions/<session-id>/audit.jsonl
- running sandboxes: <runtime>/agent-sandbox/ (mode 0700)

``AGENT_SANDBOX_CONFIG_DIR`` / ``AGENT_SANDBOX_DATA_DIR`` override the first two (tests use
them to stay out of the real home).
"""

# os.path on purpose: imported on the start-up path, where pathlib costs milliseconds
# ruff: noqa: PTH118, PTH120, PTH100, PTH112

from __future__ import annotations

import os
import re

__all__ = [
    "client_dir",
    "config_dir",
    "data_dir",
    "session_dir",
    "shipped_policies_dir",
    "user_policies_dir",
    "valid_client_name",
]

_CLIENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def config_dir() -> str:
    override = os.environ.get("AGENT_SANDBOX_CONFIG_DIR")
    if override:
        return override
    import platformdirs

    return platformdirs.user_config_dir("agent-sandbox")


def data_dir() -> str:
    override = os.environ.get("AGENT_SANDBOX_DATA_DIR")
    if override:
        return override
    import platformdirs

    return platformdirs.user_data_dir("agent-sandbox")


def user_policies_dir() -> str:
    return os.path.join(config_dir(), "policies")


def shipped_policies_dir() -> str:
    """Policies shipped in the wheel (bwsandbox/_policies) or, in a checkout, ./policies."""
    here = os.path.dirname(os.path.abspath(__file__))
    wheel = os.path.join(here, "_policies")
    if os.path.isdir(wheel):
        return wheel
    return os.path.join(os.path.dirname(here), "policies")


def valid_client_name(name: str) -> bool:
    return bool(_CLIENT_RE.match(name)) and name not in {".", ".."}


def client_dir(client: str) -> str:
    if not valid_client_name(client):
        raise ValueError(f"invalid client name {client!r}")
    return os.path.join(data_dir(), "clients", client)


def session_dir(client: str, session_id: str) -> str:
    return os.path.join(client_dir(client), "sessions", session_id)

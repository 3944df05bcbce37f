"""API keys the proxy injects for agents, so that the sandbox holds only a placeholder.

When the agent's key variable is set on the host and its base-URL variable is not (a custom
base URL points somewhere else: the key then goes in as an environment variable, as before),
the agent's layer gets a ``[secrets.NAME]`` table with ``deliver = "proxy"``: the agent
talks plain HTTP to ``http://HOST.proxy.internal`` (its base-URL variable is set to that),
and the host-side proxy adds the header and forwards over verified TLS to ``https://HOST``.
"""

from __future__ import annotations

from collections.abc import Mapping

from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["INJECTED_KEYS", "InjectedKey", "injected_config_args", "injected_secret"]


@record
class InjectedKey:
    """An agent's API key the proxy adds to its requests (the sandbox holds a placeholder)."""

    var: str  # the key variable on the host (and the placeholder's name inside)
    host: str
    header: str
    template: str
    base_url_var: str  # set on the host: a custom base URL, so the key goes in as before
    #: agents that take their base URL only from config (codex): ``-c KEY="http://ENDPOINT"``
    config_key: str = ""
    base_url_path: str = ""  # appended to the endpoint URL ("/v1" for OpenAI-style APIs)


#: agent -> its keys that the proxy injects
INJECTED_KEYS: dict[str, tuple[InjectedKey, ...]] = {
    "claude": (
        InjectedKey(
            "ANTHROPIC_API_KEY", "api.anthropic.com", "x-api-key", "{secret}", "ANTHROPIC_BASE_URL"
        ),
        InjectedKey(
            "ANTHROPIC_AUTH_TOKEN",
            "api.anthropic.com",
            "Authorization",
            "Bearer {secret}",
            "ANTHROPIC_BASE_URL",
        ),
    ),
    # codex ignores OPENAI_BASE_URL: the endpoint goes in as -c openai_base_url=...
    "codex": (
        InjectedKey(
            "OPENAI_API_KEY",
            "api.openai.com",
            "Authorization",
            "Bearer {secret}",
            "OPENAI_BASE_URL",
            config_key="openai_base_url",
            base_url_path="/v1",
        ),
    ),
}


def injected_secret(agent: str, var: str, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The ``[secrets.NAME]`` table for ``var`` of ``agent``, or None (deliver it as before)."""
    for key in INJECTED_KEYS.get(agent, ()):
        if key.var == var and environ.get(var) and not environ.get(key.base_url_var):
            table: dict[str, Any] = {
                "source": f"env:{var}",
                "deliver": "proxy",
                "host": key.host,
                "header": key.header,
                "template": key.template,
                "env": var,
            }
            if not key.config_key:
                table["base_url_env"] = key.base_url_var
            return table
    return None


def injected_config_args(agent: str, secrets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``-c KEY="http://ENDPOINT/PATH"`` for injected keys of agents that take no base-URL
    variable (codex), pointing them at the proxy's plain-HTTP endpoint inside the sandbox."""
    from bwsandbox.compile import endpoint_for

    args: list[str] = []
    for key in INJECTED_KEYS.get(agent, ()):
        table = secrets.get(key.var.lower())
        if key.config_key and table is not None:
            url = f"http://{endpoint_for(str(table['host']))}{key.base_url_path}"
            args += ["-c", f'{key.config_key}="{url}"']
    return args

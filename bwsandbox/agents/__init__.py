"""Agent profiles: find an agent CLI, give each client its own state, pick the login.

::

    prepared = bwsandbox.prepare(["-p", "hi"], agent="claude", client="acme", project=".")
    with bwsandbox.Sandbox(prepared) as box: box.wait()      # or bwsandbox.run(..., agent=)

:func:`prepare_agent` is the step underneath: ``launch.overlays`` go between the profile and
the command-line layer, and ``launch.for_network(...)`` picks the login for the MERGED
network mode (``bwsandbox._prepare.resolve`` does all of this once, for the CLI too).
``launch.notes`` are lines for the user (which binary, which login, where the state is).
Clients: :func:`list_clients`, :func:`remove_client`. Attributes load lazily.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

__all__ = [
    "AGENT_SPECS",
    "KNOWN_AGENTS",
    "AgentLaunch",
    "ClientInfo",
    "list_clients",
    "prepare_agent",
    "remove_client",
]

_LAZY: dict[str, str] = {
    "AGENT_SPECS": "bwsandbox.agents._specs",
    "KNOWN_AGENTS": "bwsandbox.agents._specs",
    "AgentLaunch": "bwsandbox.agents._prepare",
    "prepare_agent": "bwsandbox.agents._prepare",
    "ClientInfo": "bwsandbox.agents._clients",
    "list_clients": "bwsandbox.agents._clients",
    "remove_client": "bwsandbox.agents._clients",
}

if TYPE_CHECKING:
    from bwsandbox.agents._clients import ClientInfo, list_clients, remove_client
    from bwsandbox.agents._prepare import AgentLaunch, prepare_agent
    from bwsandbox.agents._specs import AGENT_SPECS, KNOWN_AGENTS


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

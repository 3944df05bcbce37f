"""Policies: TOML files -> checked, merged, frozen :class:`~bwsandbox.policy._model.Policy`.

::

    load_policy(["base", "claude"], overlays=[("command line", {...})])
    load_policy_file("policies/foo.toml")      # agent-sandbox policy check FILE
    list_policies()                            # user policies shadow shipped ones
    policy_as_dict(policy)                     # for explain, same layout as the TOML

Every problem is a :class:`bwsandbox.PolicyError` naming the file, the key path and what was
expected. How layers merge: see ``bwsandbox.policy._merge`` and docs/policy-layers.md.

This face is what other packages import (``tests/unit/test_layers.py`` checks it): the model
types, the digest of a resolved policy, the seccomp vocabulary, the enforced layer's reader.
Attributes load lazily: ``from bwsandbox.policy import Policy`` (as the compiler does) does not
pay for the loader.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

__all__ = [
    "ARCHES",
    "COMMAND_LINE",
    "GROUPS",
    "SYSCALLS",
    "Bind",
    "LimitsPolicy",
    "McpServer",
    "NetworkMode",
    "NetworkName",
    "Policy",
    "PolicyInfo",
    "SecretDelivery",
    "build_overlay",
    "canonical_policy",
    "covers",
    "enforced_deps",
    "expand",
    "list_policies",
    "load_policy",
    "load_policy_file",
    "merge",
    "parse_duration",
    "parse_size",
    "policy_as_dict",
    "policy_digest",
    "read_enforced",
    "read_layers",
    "read_overlays",
    "variables_in",
]

#: the name of the command line's layer in ``sources`` and in error messages
COMMAND_LINE = "command line"

_LAZY: dict[str, str] = {
    "merge": "bwsandbox.policy._merge",
    "read_overlays": "bwsandbox.policy._load",
    "read_layers": "bwsandbox.policy._load",
    "build_overlay": "bwsandbox.policy._overlay",
    "NetworkName": "bwsandbox.policy._overlay",
    "PolicyInfo": "bwsandbox.policy._load",
    "list_policies": "bwsandbox.policy._load",
    "load_policy": "bwsandbox.policy._load",
    "load_policy_file": "bwsandbox.policy._load",
    "policy_as_dict": "bwsandbox.policy._render",
    "expand": "bwsandbox.policy._vars",
    "variables_in": "bwsandbox.policy._vars",
    "Bind": "bwsandbox.policy._model",
    "NetworkMode": "bwsandbox.policy._model",
    "Policy": "bwsandbox.policy._model",
    "LimitsPolicy": "bwsandbox.policy._model_limits",
    "parse_duration": "bwsandbox.policy._model_limits",
    "parse_size": "bwsandbox.policy._model_limits",
    "McpServer": "bwsandbox.policy._model_mcp",
    "SecretDelivery": "bwsandbox.policy._model_secrets",
    "GROUPS": "bwsandbox.policy._model_seccomp",
    "ARCHES": "bwsandbox.policy._syscalls",
    "SYSCALLS": "bwsandbox.policy._syscalls",
    "canonical_policy": "bwsandbox.policy._digest",
    "policy_digest": "bwsandbox.policy._digest",
    "covers": "bwsandbox.policy._enforce",
    "enforced_deps": "bwsandbox.policy._enforced",
    "read_enforced": "bwsandbox.policy._enforced",
}

if TYPE_CHECKING:
    from bwsandbox.policy._digest import canonical_policy, policy_digest
    from bwsandbox.policy._enforce import covers
    from bwsandbox.policy._enforced import enforced_deps, read_enforced
    from bwsandbox.policy._load import (
        PolicyInfo,
        list_policies,
        load_policy,
        load_policy_file,
        read_layers,
        read_overlays,
    )
    from bwsandbox.policy._merge import merge
    from bwsandbox.policy._model import Bind, NetworkMode, Policy
    from bwsandbox.policy._model_limits import LimitsPolicy, parse_duration, parse_size
    from bwsandbox.policy._model_mcp import McpServer
    from bwsandbox.policy._model_seccomp import GROUPS
    from bwsandbox.policy._model_secrets import SecretDelivery
    from bwsandbox.policy._overlay import NetworkName, build_overlay
    from bwsandbox.policy._render import policy_as_dict
    from bwsandbox.policy._syscalls import ARCHES, SYSCALLS
    from bwsandbox.policy._vars import expand, variables_in


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

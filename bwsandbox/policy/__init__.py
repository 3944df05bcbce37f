"""Policies: TOML files -> checked, merged, frozen :class:`~bwsandbox.policy._model.Policy`.

::

    load_policy(["base", "claude"], overlays=[("command line", {...})])
    load_policy_file("policies/foo.toml")      # agent-sandbox policy check FILE
    list_policies()                            # user policies shadow shipped ones
    policy_as_dict(policy)                     # for explain, same layout as the TOML

Every problem is a :class:`bwsandbox.PolicyError` naming the file, the key path and what was
expected. How layers merge: see ``bwsandbox.policy._merge`` and docs/policy-layers.md.

Attributes load lazily: importing ``bwsandbox.policy._model`` (as the compiler does) does not
pay for the loader.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

__all__ = [
    "PolicyInfo",
    "expand",
    "list_policies",
    "load_policy",
    "load_policy_file",
    "policy_as_dict",
    "variables_in",
]

_LAZY: dict[str, str] = {
    "PolicyInfo": "bwsandbox.policy._load",
    "list_policies": "bwsandbox.policy._load",
    "load_policy": "bwsandbox.policy._load",
    "load_policy_file": "bwsandbox.policy._load",
    "policy_as_dict": "bwsandbox.policy._render",
    "expand": "bwsandbox.policy._vars",
    "variables_in": "bwsandbox.policy._vars",
}

if TYPE_CHECKING:
    from bwsandbox.policy._load import PolicyInfo, list_policies, load_policy, load_policy_file
    from bwsandbox.policy._render import policy_as_dict
    from bwsandbox.policy._vars import expand, variables_in


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

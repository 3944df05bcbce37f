"""A resolved policy as plain data in the layout of a policy file (for ``explain``)."""

from __future__ import annotations

from bwsandbox._record import fields
from bwsandbox.policy._model import Bind, Policy
from bwsandbox.policy._schema import SECTIONS, SPECS, Kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["policy_as_dict"]


def policy_as_dict(policy: Policy) -> dict[str, object]:
    """JSON-able: ``name``, ``description``, ``sources``, ``enforced`` (when there is an
    admin-enforced layer), then one table per section.

    Without ``name``, ``sources`` and ``enforced`` the result loads back (as an overlay) to
    the same policy.
    An unset ``hardening.uid`` and an empty ``filesystem.tmp_size`` are left out.
    """
    out: dict[str, object] = {
        "name": policy.name,
        "description": policy.description,
        "sources": list(policy.sources),
    }
    if policy.enforced:
        out["enforced"] = list(policy.enforced)
    for section in SECTIONS:
        values = getattr(policy, section)
        table: dict[str, object] = {}
        for f in fields(values):
            value = getattr(values, f.name)
            if value is None or (f.name == "tmp_size" and not value):
                continue
            kind = SPECS[section][f.name].kind
            if section == "mcp":  # [mcp.servers.NAME]: tables of McpServer
                from bwsandbox.policy._model_mcp import servers_as_dict

                table[f.name] = servers_as_dict(value)
            elif kind is Kind.TABLE:
                table[f.name] = dict(value)
            elif kind is Kind.LIST or isinstance(value, tuple):
                table[f.name] = [_item(item) for item in value]
            else:
                table[f.name] = _item(value)
        out[section] = table
    if policy.secrets:
        from bwsandbox.policy._model_secrets import secrets_as_dict

        out["secrets"] = secrets_as_dict(policy.secrets)
    return out


def _item(value: Any) -> object:
    if isinstance(value, Bind):
        if not value.dest and value.optional:
            return value.src
        bind: dict[str, object] = {"src": value.src}
        if value.dest:
            bind["dest"] = value.dest
        bind["optional"] = value.optional
        return bind
    if isinstance(value, str):  # also NetworkMode, a str enum
        return str(value)
    return value

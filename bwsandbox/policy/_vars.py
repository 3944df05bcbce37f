"""Variable expansion in policy strings: ``{project}/.git/hooks``. ``{{`` and ``}}`` escape."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bwsandbox._errors import PolicyError

__all__ = ["expand", "variables_in"]

_VAR = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")


def variables_in(template: str) -> list[str]:
    """Variable names a template uses (raises ValueError on a stray brace)."""
    names: list[str] = []
    for match in _VAR.finditer(template):
        text = match.group(0)
        if text in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise ValueError(f"stray {text!r} in {template!r} (write {text * 2} for a literal)")
        names.append(match.group(1))
    return names


def expand(template: str, variables: Mapping[str, str], *, where: str = "") -> str:
    """Replace ``{name}`` by ``variables[name]``; unknown names raise PolicyError."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "{{":
            return "{"
        if text == "}}":
            return "}"
        name = match.group(1)
        if name is None:
            raise PolicyError(
                f"stray {text!r} in {template!r}", key=where or None, hint=f"write {text * 2}"
            )
        if name not in variables:
            known = ", ".join(f"{{{k}}}" for k in sorted(variables))
            raise PolicyError(
                f"unknown variable {{{name}}} in {template!r}",
                key=where or None,
                hint=f"known: {known}",
            )
        return variables[name]

    return _VAR.sub(replace, template)

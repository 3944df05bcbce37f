"""Variable expansion in policy strings: ``{project}/.git/hooks``. ``{{`` and ``}}`` escape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from bwsandbox._errors import PolicyError
from bwsandbox._printable import ASCII_ALNUM, spelled

__all__ = ["expand", "is_identifier", "variables_in"]

_VAR = r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]"  # what _tokens scans, as a regex
_FIRST = ASCII_ALNUM[:52] + "_"  # [A-Za-z_]
_CHARS = ASCII_ALNUM + "_"  # [A-Za-z0-9_]


def is_identifier(text: str) -> bool:
    """``[A-Za-z_][A-Za-z0-9_]*``, the whole text: a variable's or an environment name."""
    return spelled(text, _FIRST, _CHARS)


def _tokens(template: str) -> Iterator[tuple[int, int, str, str | None]]:
    """``(start, end, text, name)`` for each ``{{``, ``}}``, ``{name}`` and stray brace, left
    to right: what ``re.finditer(_VAR, template)`` finds, without compiling a regex on the
    start-up path (tests/unit/test_policy_charsets.py checks the two agree). ``name`` is None
    for an escape or a stray brace."""
    at = 0
    while True:
        opening, closing = template.find("{", at), template.find("}", at)
        found = [i for i in (opening, closing) if i >= 0]
        if not found:
            return
        start = min(found)
        pair = template[start : start + 2]
        if pair in ("{{", "}}"):
            yield start, start + 2, pair, None
            at = start + 2
            continue
        if start == opening:
            end = template.find("}", start + 1)
            name = template[start + 1 : end] if end > 0 else ""
            if is_identifier(name):
                yield start, end + 1, template[start : end + 1], name
                at = end + 1
                continue
        yield start, start + 1, template[start], None
        at = start + 1


def variables_in(template: str) -> list[str]:
    """Variable names a template uses (raises ValueError on a stray brace)."""
    names: list[str] = []
    for _, _, text, name in _tokens(template):
        if text in ("{{", "}}"):
            continue
        if name is None:
            raise ValueError(f"stray {text!r} in {template!r} (write {text * 2} for a literal)")
        names.append(name)
    return names


def expand(template: str, variables: Mapping[str, str], *, where: str = "") -> str:
    """Replace ``{name}`` by ``variables[name]``; unknown names raise PolicyError."""
    parts: list[str] = []
    at = 0
    for start, end, text, name in _tokens(template):
        parts.append(template[at:start])
        at = end
        if text == "{{":
            parts.append("{")
        elif text == "}}":
            parts.append("}")
        elif name is None:
            raise PolicyError(
                f"stray {text!r} in {template!r}", key=where or None, hint=f"write {text * 2}"
            )
        elif name not in variables:
            known = ", ".join(f"{{{k}}}" for k in sorted(variables))
            raise PolicyError(
                f"unknown variable {{{name}}} in {template!r}",
                key=where or None,
                hint=f"known: {known}",
            )
        else:
            parts.append(variables[name])
    parts.append(template[at:])
    return "".join(parts)

"""Text the CLI prints: policies as TOML or JSON, doctor results, policy listings.

Pure functions from values to lines, so they are unit-tested without running anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from bwsandbox.doctor import Diagnosis, Status
from bwsandbox.policy import PolicyInfo

__all__ = ["doctor_lines", "policy_listing", "policy_text", "toml_text"]

_WIDTH = 96


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_scalar(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    # JSON string escapes are valid TOML basic-string escapes
    return json.dumps(str(value), ensure_ascii=False)


def _key(name: object) -> str:
    text = str(name)
    if text and all(ch.isalnum() or ch in "_-" for ch in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _assignment(name: str, value: object) -> list[str]:
    line = f"{_key(name)} = {_scalar(value)}"
    if len(line) <= _WIDTH or not isinstance(value, list | tuple) or not value:
        return [line]
    return [f"{_key(name)} = [", *(f"  {_scalar(item)}," for item in value), "]"]


def toml_text(data: Mapping[str, object], *, comment: Sequence[str] = ()) -> str:
    """A policy-shaped mapping as TOML: top-level keys, then one ``[table]`` per mapping.

    Nested tables in a section (``env.set``) become ``[section.name]``.
    """
    lines = [f"# {line}" for line in comment]
    tables: list[tuple[str, Mapping[str, object]]] = []
    for name, value in data.items():
        if isinstance(value, Mapping):
            tables.append((_key(name), value))
        else:
            lines += _assignment(name, value)
    for prefix, table in tables:
        lines += ["", f"[{prefix}]"]
        subtables: list[tuple[str, Mapping[str, object]]] = []
        for name, value in table.items():
            if isinstance(value, Mapping):
                subtables.append((f"{prefix}.{_key(name)}", value))
            else:
                lines += _assignment(name, value)
        for sub_prefix, sub in subtables:
            lines += ["", f"[{sub_prefix}]"]
            for name, value in sub.items():
                lines += _assignment(name, value)
    return "\n".join(lines) + "\n"


def policy_text(policy: Mapping[str, object], *, as_json: bool = False) -> str:
    """``policy_as_dict`` output for humans (TOML, sources as a comment) or JSON."""
    if as_json:
        return json.dumps(policy, indent=2, ensure_ascii=False) + "\n"
    data = dict(policy)
    name = data.pop("name", "")
    sources = data.pop("sources", [])
    enforced = data.pop("enforced", [])
    comment = [f"policy {name}: resolved from these layers, first to last:"]
    if isinstance(sources, list) and isinstance(enforced, list):
        comment += [
            f"  {source}"
            + (
                "  (enforced by the admin: applied last, cannot be loosened)"
                if source in enforced
                else ""
            )
            for source in sources
        ]
    return toml_text(data, comment=comment)


def policy_listing(policies: Iterable[PolicyInfo]) -> list[str]:
    rows = [(p.name, "shipped" if p.shipped else "user", p.description, p.path) for p in policies]
    if not rows:
        return ["no policies found"]
    width = max(len(row[0]) for row in rows)
    return [f"{name:<{width}}  {kind:<7}  {desc}  [{path}]" for name, kind, desc, path in rows]


_MARK = {Status.OK: "ok  ", Status.WARN: "warn", Status.FAIL: "FAIL", Status.INFO: "info"}


def doctor_lines(diagnosis: Diagnosis) -> list[str]:
    lines: list[str] = []
    for check in diagnosis.checks:
        lines.append(f"[{_MARK[check.status]}] {check.name}: {check.summary}")
        lines += [f"       {line}" for line in check.fix]
    lines.append("")
    if diagnosis.sandbox_works:
        extras = [c.name for c in diagnosis.checks if c.status is Status.WARN]
        tail = f" (degraded: {', '.join(extras)})" if extras else ""
        lines.append(f"Sandboxes work on this host: run, shell and explain are ready{tail}.")
    else:
        broken = [c.name for c in diagnosis.checks if c.status is Status.FAIL]
        lines.append(
            f"Sandboxes do NOT work on this host ({', '.join(broken)}): apply the fixes above."
        )
    return lines

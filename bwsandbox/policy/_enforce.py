"""What an enforced layer means, key by key: the one place "loosen" is defined.

The enforced layer (:mod:`._enforced`) is applied after every other layer and only
restricts. For each key it may set, :data:`ENFORCEABLE` says what it does and what counts
as loosening it; a layer below (a shipped or user policy, the command line) that loosens it
is a :class:`PolicyError` naming the enforced file and key, e.g.::

    /etc/agent-sandbox/enforced.toml: network.mode = "filtered" is enforced;
    --network host would loosen it                                (on one line)

A key not in the table cannot be enforced (it grants, or has no order): the enforced file
is refused, rather than silently meaning something. The table is also in
docs/policy-layers.md.
"""

from __future__ import annotations

import os

from bwsandbox._errors import PolicyError
from bwsandbox.policy._model import Bind, NetworkMode

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds (start-up path)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from bwsandbox.net._rules import Rule
    from bwsandbox.policy._merge import _Merger, _Placed
    from bwsandbox.policy._validate import Entry, Layer

__all__ = ["ENFORCEABLE", "check_enforceable", "enforce"]

#: key -> what the enforced value means (docs/policy-layers.md has the same table)
ENFORCEABLE: dict[str, str] = {
    "description": "shown by explain; no effect",
    "network.mode": "a maximum, in the order none < filtered < host",
    "network.allow": "the most that may be allowed: each allow rule below must lie inside one",
    "network.deny": "always applied (before every allow); an allow rule inside one conflicts",
    "network.add_hosts": "pinned: a layer below mapping the same name elsewhere conflicts",
    "network.unlisted": 'only "deny": no layer below may ask about unlisted hosts (--ask)',
    # and under an enforced network.allow, an add_hosts address must lie in its IP rules
    "filesystem.mask": (
        "hidden, and no bind may expose it (source or destination at or under it, or a "
        "parent bound elsewhere)"
    ),
    "filesystem.tmpfs": "like mask: an empty tmpfs no bind may expose",
    "filesystem.ro": "bound read-only; no read-write bind may reach it (at or under it)",
    "filesystem.protect": "read-only inside the project; no read-write bind at or under it",
    "filesystem.watch": "appended",
    "env.unset": "always removed; a layer below setting or passing a matching name conflicts",
    "hardening.nested_userns": "only false: a layer below setting true conflicts",
    "hardening.share_ipc": "only false",
    "hardening.share_pid": "only false",
    "hardening.new_session": "only true",
    "hardening.die_with_parent": "only true",
    "hardening.terminal_filter": "only true",
    "git.identity": "only false",
    "git.excludes": "only false",
    "seccomp.enabled": "only true",
    "seccomp.deny": "always applied; a seccomp.allow below naming one (or its group) conflicts",
    "limits.memory": "a maximum (applied when no layer below sets one)",
    "limits.cpu": "a maximum",
    "limits.pids": "a maximum",
    "limits.fsize": "a maximum",
    "limits.nofile": "a maximum",
    "limits.timeout": "a maximum",
    "limits.strict": "only true: a limit that cannot be enforced stops the run",
    "devices.gpu": "only false: no layer below may give the sandbox the host's GPUs",
}

#: booleans (and network.unlisted) and their strict value
_STRICT: dict[str, bool | str] = {
    "network.unlisted": "deny",
    "hardening.nested_userns": False,
    "hardening.share_ipc": False,
    "hardening.share_pid": False,
    "hardening.new_session": True,
    "hardening.die_with_parent": True,
    "hardening.terminal_filter": True,
    "limits.strict": True,
    "devices.gpu": False,
    "git.identity": False,
    "git.excludes": False,
    "seccomp.enabled": True,
}
_MODE_RANK = {NetworkMode.NONE: 0, NetworkMode.FILTERED: 1, NetworkMode.HOST: 2}
#: command-line flags, for blaming the "command line" layer in its own words
_FLAGS = {
    "network.mode": "--network",
    "network.allow": "--allow",
    "network.add_hosts": "--add-host",
    "filesystem.ro": "--ro",
    "filesystem.rw": "--rw",
    "env.set": "--env",
    "env.passthrough": "--env",
    "limits.memory": "--memory",
    "limits.cpu": "--cpus",
    "limits.pids": "--pids",
    "limits.timeout": "--timeout",
}


def check_enforceable(layer: Layer) -> None:
    """Refuse keys (and values) of an enforced layer that would not be restrictions."""
    keys = [*layer.scalars, *layer.lists, *layer.tables]
    for key in keys:
        if key not in ENFORCEABLE:
            raise PolicyError(
                f"{key} cannot be enforced (an enforced policy only restricts)",
                file=layer.source,
                key=key,
                hint="enforceable keys: " + ", ".join(k for k in ENFORCEABLE if k != "description"),
            )
    for key, strict in _STRICT.items():
        entry = layer.scalars.get(key)
        if entry is not None and entry.value != strict:
            raise PolicyError(
                f"{key} = {_toml(entry.value)} would loosen, not restrict",
                file=layer.source,
                key=key,
                hint=f"enforce {key} = {_toml(strict)}, or leave it out",
            )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Bind):
        return f'"{value.src}"' if not value.dest else f'"{value.src}" -> "{value.dest}"'
    if isinstance(value, str):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _section_key(key: str) -> str:
    """``network.allow[2]`` -> ``network.allow``; ``env.set.NAME`` -> ``env.set``."""
    key = key.split("[", 1)[0]
    return ".".join(key.split(".")[:2])


def _blame(placed: _Placed, shown: str | None = None) -> str:
    """The loosening layer in its own words: a flag for the command line, else key and file.

    ``shown`` replaces the value on the command line (``NAME`` for ``--env NAME=VALUE``).
    ``env.set`` values are never shown: they may be secrets.
    """
    from bwsandbox._api import COMMAND_LINE

    base = _section_key(placed.key)
    value = placed.value
    flag = _FLAGS.get(base)
    if placed.file == COMMAND_LINE and flag is not None:
        if isinstance(value, Bind):
            text = value.src.replace("{{", "{").replace("}}", "}")
        else:
            text = shown if shown is not None else str(value)
        return f"{flag} {text}"
    if base == "env.set":
        return f"{placed.key} in {placed.file}"
    return f"{placed.key} = {_toml(value)} in {placed.file}"


def _conflict(enforced: Entry, source: str, loose: str, shown: str | None = None) -> PolicyError:
    key = _section_key(enforced.key)
    value = enforced.value if shown is None else shown
    if (
        key in ("network.mode", "network.allow")
        or key in _STRICT
        or key.startswith(("hardening.", "git."))
    ):
        what = f"{key} = {_toml(value)} is enforced"
    elif key.startswith("limits."):
        what = f"{key} = {_toml(value)} is enforced (a maximum)"
    else:
        what = f"{key} {_toml(value)} is enforced"
    return PolicyError(f"{what}; {loose} would loosen it", file=source)


def enforce(merger: _Merger, index: int, layer: Layer) -> None:
    """Check the merge so far against ``layer`` (enforced), then apply it."""
    from bwsandbox.policy._merge import _Placed

    def place(entry: Entry) -> _Placed:
        return _Placed(entry.value, index, layer.source, entry.key)

    src = layer.source
    _network(merger, layer)
    _filesystem(merger, layer)
    _env(merger, layer)
    for key, strict in _STRICT.items():
        entry = layer.scalars.get(key)
        if entry is None:
            continue
        current = merger.scalars.get(key)
        if current is not None and current.value != strict:
            raise _conflict(entry, src, _blame(current))
        merger.scalars[key] = place(entry)
    _seccomp(merger, layer)
    _limits(merger, layer, place)
    mode = merger.scalars.get("network.mode")
    if mode is not None and mode.value is NetworkMode.FILTERED:
        for entry in layer.lists.get("network.deny", ()):
            merger._append("network.deny", place(entry))
        table = merger.tables.setdefault("network.add_hosts", {})
        for name, entry in layer.tables.get("network.add_hosts", {}).items():
            table[name] = place(entry)
    for key in ("filesystem.mask", "filesystem.tmpfs", "filesystem.ro", "filesystem.protect"):
        for entry in layer.lists.get(key, ()):
            merger._append(key, place(entry))
    for key in ("filesystem.watch", "env.unset", "seccomp.deny"):
        for entry in layer.lists.get(key, ()):
            merger._append(key, place(entry))


def _rules(items: list[_Placed]) -> list[tuple[_Placed, Rule]]:
    from bwsandbox.net._rules import parse_rule

    return [(item, parse_rule(item.value)) for item in items]


def covers(outer: Rule, inner: Rule) -> bool:
    """Does every destination ``inner`` allows lie inside ``outer``?"""
    from bwsandbox.net._rules import RuleKind

    if outer.ports is not None and (
        inner.ports is None
        or not outer.ports[0] <= inner.ports[0] <= inner.ports[1] <= outer.ports[1]
    ):
        return False
    if outer.kind is RuleKind.NAME:
        return inner.kind is RuleKind.NAME and inner.host == outer.host
    if outer.kind is RuleKind.WILDCARD:
        if inner.kind is RuleKind.NETWORK:
            return False
        return inner.host.endswith("." + outer.host) or (
            inner.kind is RuleKind.WILDCARD and inner.host == outer.host
        )
    return (
        inner.network is not None
        and outer.network is not None
        and inner.network.version == outer.network.version
        and inner.network.subnet_of(outer.network)  # type: ignore[arg-type]
    )


def _network(merger: _Merger, layer: Layer) -> None:
    src = layer.source
    mode = merger.scalars.get("network.mode")
    current = mode.value if mode is not None else NetworkMode.NONE
    ceiling = layer.scalars.get("network.mode")
    if ceiling is not None and _MODE_RANK[current] > _MODE_RANK[ceiling.value]:
        assert mode is not None
        raise _conflict(ceiling, src, _blame(mode))
    for key in ("network.allow", "network.deny"):
        entries = layer.lists.get(key, ())
        if entries and current is NetworkMode.HOST:
            assert mode is not None
            raise PolicyError(
                f'{key} is enforced, which needs network.mode = "filtered"; '
                f"{_blame(mode)} would loosen it",
                file=src,
            )
    from bwsandbox.net._rules import parse_rule

    allowed = [(entry, parse_rule(entry.value)) for entry in layer.lists.get("network.allow", ())]
    denied = [(entry, parse_rule(entry.value)) for entry in layer.lists.get("network.deny", ())]
    for placed, rule in _rules(merger.lists.get("network.allow", [])):
        for entry, deny in denied:
            if covers(deny, rule):
                raise _conflict(entry, src, _blame(placed))
        if allowed and not any(covers(outer, rule) for _, outer in allowed):
            listing = ", ".join(_toml(entry.value) for entry, _ in allowed)
            raise PolicyError(
                f"network.allow is enforced (at most: {listing}); {_blame(placed)} would loosen it",
                file=src,
            )
    pinned = layer.tables.get("network.add_hosts", {})
    for name, placed in merger.tables.get("network.add_hosts", {}).items():
        pin = pinned.get(name)
        shown = f"{name}={placed.value}"
        if pin is not None and pin.value != placed.value:
            raise _conflict(pin, src, _blame(placed, shown), f"{name}={pin.value}")
        if pin is None and allowed and not _address_inside(placed.value, allowed):
            # a pinned name is dialled at the pinned address, even a private one: under an
            # allow ceiling the address itself must be inside it
            listing = ", ".join(_toml(entry.value) for entry, _ in allowed)
            raise PolicyError(
                f"network.allow is enforced (at most: {listing}); {_blame(placed, shown)} "
                "would loosen it (its address is not inside an enforced IP or CIDR rule)",
                file=src,
            )


def _address_inside(address: str, allowed: list[tuple[Entry, Rule]]) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address)
    return any(
        rule.network is not None and rule.network.version == ip.version and ip in rule.network
        for _, rule in allowed
    )


def _norm(path: str) -> str:
    path = os.path.normpath(path.rstrip("/") or "/")
    return "/" + path.lstrip("/") if path.startswith("/") else path


def _at_or_under(path: str, root: str) -> bool:
    return root in (path, "/") or path.startswith(root + "/")


def _filesystem(merger: _Merger, layer: Layer) -> None:
    src = layer.source
    binds = [*merger.lists.get("filesystem.ro", []), *merger.lists.get("filesystem.rw", [])]
    hidden = [*layer.lists.get("filesystem.mask", ()), *layer.lists.get("filesystem.tmpfs", ())]
    for entry in hidden:
        target = _norm(entry.value)
        for placed in binds:
            bind: Bind = placed.value
            b_src, b_dest = _norm(bind.src), _norm(bind.target)
            exposed = _at_or_under(b_src, target) or _at_or_under(b_dest, target)
            if exposed or (_at_or_under(target, b_src) and b_src != b_dest):
                raise _conflict(entry, src, _blame(placed))
    readonly = [
        *(
            (entry, entry.value.src, entry.value.target)
            for entry in layer.lists.get("filesystem.ro", ())
        ),
        *((entry, entry.value, entry.value) for entry in layer.lists.get("filesystem.protect", ())),
    ]
    for entry, ro_src, ro_dest in readonly:
        for placed in merger.lists.get("filesystem.rw", []):
            bind = placed.value
            if _at_or_under(_norm(bind.target), _norm(ro_dest)) or _at_or_under(
                _norm(bind.src), _norm(ro_src)
            ):
                shown = entry.value.src if isinstance(entry.value, Bind) else entry.value
                raise _conflict(entry, src, _blame(placed), shown)


def _env(merger: _Merger, layer: Layer) -> None:
    from fnmatch import fnmatchcase

    src = layer.source
    for entry in layer.lists.get("env.unset", ()):
        for name, placed in merger.tables.get("env.set", {}).items():
            if fnmatchcase(name, entry.value):
                raise _conflict(entry, src, _blame(placed, name))
        for placed in merger.lists.get("env.passthrough", []):
            if fnmatchcase(placed.value, entry.value):
                raise _conflict(entry, src, _blame(placed))


def _seccomp(merger: _Merger, layer: Layer) -> None:
    if not (layer.lists.get("seccomp.deny") and merger.lists.get("seccomp.allow")):
        return
    from bwsandbox.compile._seccomp import GROUPS

    def names(item: str) -> set[str]:
        return {item, *GROUPS.get(item, ())}

    for entry in layer.lists.get("seccomp.deny", ()):
        for placed in merger.lists.get("seccomp.allow", []):
            if names(entry.value) & names(placed.value):
                raise _conflict(entry, layer.source, _blame(placed))


def _limit_value(key: str, value: Any) -> float:
    from bwsandbox.policy._model_limits import parse_duration, parse_size

    if key in ("limits.memory", "limits.fsize"):
        return float(parse_size(value))
    if key == "limits.timeout":
        return parse_duration(value)
    return float(value)


def _limits(merger: _Merger, layer: Layer, place: Callable[[Entry], _Placed]) -> None:
    for key, entry in layer.scalars.items():
        if not key.startswith("limits.") or key in _STRICT:
            continue  # booleans (limits.strict) are _STRICT's
        current = merger.scalars.get(key)
        if current is None:
            merger.scalars[key] = place(entry)
        elif _limit_value(key, current.value) > _limit_value(key, entry.value):
            raise _conflict(entry, layer.source, _blame(current))

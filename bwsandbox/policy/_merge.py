"""Merging checked layers, base first, into one :class:`Policy`.

Rules (also in docs/policy-layers.md):

- scalars (``network.mode``, ``filesystem.home``, ``command.argv``...): the later layer wins;
- lists append, de-duplicated keeping the first position;
- ``filesystem.ro`` / ``rw``: a destination is bound once. A later layer binding a destination
  an earlier layer bound differently (other source, the other list) replaces that bind;
- ``filesystem.remove``: drops, before the layer's own entries are added, every entry from
  earlier layers with that destination from every filesystem list (binds by destination,
  tmpfs, mask, protect, etc). A removal that matches nothing is an error (a typo would
  otherwise silently keep access). The merged policy's ``remove`` is empty: it is applied;
- ``env.set`` and ``network.add_hosts`` merge per name, the later layer wins;
- a layer setting ``network.mode`` to ``none`` or ``host`` drops the allow, deny and
  add_hosts entries inherited from earlier layers (they would mean nothing);
- checks of the merged result, blamed on the layer that introduced the conflict: network
  rules need ``mode = "filtered"``; a variable in ``env.set`` must not match ``env.unset``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bwsandbox._errors import PolicyError
from bwsandbox.policy._checks import key_join
from bwsandbox.policy._hints import did_you_mean
from bwsandbox.policy._model import (
    Bind,
    CommandPolicy,
    EnvPolicy,
    FilesystemPolicy,
    GitPolicy,
    HardeningPolicy,
    NetworkMode,
    NetworkPolicy,
    Policy,
)
from bwsandbox.policy._model_devices import DevicesPolicy
from bwsandbox.policy._model_limits import LimitsPolicy, SeccompPolicy
from bwsandbox.policy._model_mcp import McpPolicy, named_servers
from bwsandbox.policy._model_secrets import SshPolicy, named_secrets
from bwsandbox.policy._schema import SPECS, Kind
from bwsandbox.policy._validate import Entry, Layer, Placed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["merge"]

_BINDS = ("filesystem.ro", "filesystem.rw")
_FS_LISTS = (
    *_BINDS,
    "filesystem.tmpfs",
    "filesystem.mask",
    "filesystem.protect",
    "filesystem.watch",
    "filesystem.etc",
)
_RULES = ("network.allow", "network.deny", "network.add_hosts")


def merge(layers: Sequence[Layer], *, name: str, enforced: Sequence[Layer] = ()) -> Policy:
    """Merge ``layers`` (base first), then the ``enforced`` ones, and check the result.

    An enforced layer only restricts: :func:`bwsandbox.policy._enforce.enforce` checks that
    no earlier layer loosens it, then applies it.
    """
    merger = _Merger()
    for index, layer in enumerate(layers):
        merger.apply(index, layer)
    if enforced:
        from bwsandbox.policy._enforce import enforce

        for index, layer in enumerate(enforced, start=len(layers)):
            enforce(merger, index, layer)
    merger.check_network()
    merger.check_env()
    sources = tuple(layer.source for layer in (*layers, *enforced))
    return merger.build(name, sources, tuple(layer.source for layer in enforced))


def _target(value: object) -> str:
    return value.target if isinstance(value, Bind) else str(value)


class _Merger:
    def __init__(self) -> None:
        self.scalars: dict[str, Placed] = {}
        self.lists: dict[str, list[Placed]] = {}
        self.tables: dict[str, dict[str, Placed]] = {}

    def apply(self, index: int, layer: Layer) -> None:
        def place(entry: Entry) -> Placed:
            return Placed(entry.value, index, layer.source, entry.key)

        for entry in layer.lists.get("filesystem.remove", ()):
            self._remove(place(entry))
        mode = layer.scalars.get("network.mode")
        if mode is not None and mode.value is not NetworkMode.FILTERED:
            for key in _RULES:
                self.lists.pop(key, None)
                self.tables.pop(key, None)
        for key, entry in layer.scalars.items():
            self.scalars[key] = place(entry)
        for key, entries in layer.lists.items():
            if key != "filesystem.remove":
                for entry in entries:
                    self._append(key, place(entry))
        for key, table in layer.tables.items():
            merged = self.tables.setdefault(key, {})
            for table_name, entry in table.items():
                merged[table_name] = place(entry)  # an existing name keeps its position

    def _append(self, key: str, placed: Placed) -> None:
        items = self.lists.setdefault(key, [])
        if any(item.value == placed.value for item in items):
            return
        if key in _BINDS:
            target = _target(placed.value)
            for other in _BINDS:
                if other in self.lists:
                    self.lists[other] = [
                        item for item in self.lists[other] if _target(item.value) != target
                    ]
            items = self.lists[key]
        items.append(placed)

    def _remove(self, placed: Placed) -> None:
        removed = False
        for key in _FS_LISTS:
            items = self.lists.get(key, [])
            kept = [
                item
                for item in items
                if _target(item.value).rstrip("/") != str(placed.value).rstrip("/")
            ]
            removed = removed or len(kept) != len(items)
            self.lists[key] = kept
        if not removed:
            known = [_target(item.value) for key in _FS_LISTS for item in self.lists[key]]
            raise PolicyError(
                f"{placed.value!r} matches no destination from earlier layers",
                file=placed.file,
                key=placed.key,
                hint=did_you_mean(
                    placed.value,
                    known,
                    fallback="filesystem.remove drops destinations that earlier layers added",
                ),
            )

    def check_network(self) -> None:
        mode = self.scalars.get("network.mode")
        if mode is not None and mode.value is NetworkMode.FILTERED:
            return
        rules = [*self.lists.get("network.allow", ()), *self.lists.get("network.deny", ())]
        rules += self.tables.get("network.add_hosts", {}).values()
        ask = self.scalars.get("network.unlisted")
        if ask is not None and ask.value == "ask":
            rules.append(ask)  # asking about unlisted names needs the filter too
        if not rules:
            return
        first = min(rules, key=lambda item: item.index)
        if mode is None:
            origin = "the default"
        elif mode.file == first.file:
            origin = "set in this layer"
        else:
            origin = f"set in {mode.file}"
        current = mode.value if mode is not None else NetworkMode.NONE
        what = 'network.unlisted = "ask" needs' if first is ask else "network rules need"
        raise PolicyError(
            f'{what} network.mode = "filtered", but the mode is "{current}" ({origin})',
            file=first.file,
            key=first.key,
            hint='set network.mode = "filtered"',
        )

    def check_env(self) -> None:
        values = self.tables.get("env.set", {})
        patterns = self.lists.get("env.unset", [])
        if not values or not patterns:
            return
        from fnmatch import fnmatchcase

        for var, value in values.items():
            for pattern in patterns:
                if fnmatchcase(var, pattern.value):
                    later, other = value, pattern
                    if pattern.index > value.index:
                        later, other = pattern, value
                    where = "this layer" if other.file == later.file else other.file
                    name = key_join("env.set", var)
                    raise PolicyError(
                        f"{name} is removed again by env.unset {pattern.value!r} "
                        f"(the other half is {other.key} in {where})",
                        file=later.file,
                        key=later.key,
                        hint="env.unset applies after env.set; drop one of them",
                    )

    def _values(self, section: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, spec in SPECS[section].items():
            path = f"{section}.{key}"
            if spec.kind is Kind.SCALAR:
                if path in self.scalars:
                    values[key] = self.scalars[path].value
            elif spec.kind is Kind.LIST:
                values[key] = tuple(item.value for item in self.lists.get(path, ()))
            else:
                table = self.tables.get(path, {})
                values[key] = tuple((name, item.value) for name, item in table.items())
        values.pop("remove", None)  # applied while merging
        return values

    def build(self, name: str, sources: tuple[str, ...], enforced: tuple[str, ...]) -> Policy:
        description = self.scalars.get("description")
        return Policy(
            name=name,
            description=description.value if description is not None else "",
            sources=sources,
            enforced=enforced,
            filesystem=FilesystemPolicy(**self._values("filesystem")),
            env=EnvPolicy(**self._values("env")),
            command=CommandPolicy(**self._values("command")),
            network=NetworkPolicy(**self._values("network")),
            hardening=HardeningPolicy(**self._values("hardening")),
            git=GitPolicy(**self._values("git")),
            ssh=SshPolicy(**self._values("ssh")),
            limits=LimitsPolicy(**self._values("limits")),
            seccomp=SeccompPolicy(**self._values("seccomp")),
            devices=DevicesPolicy(**self._values("devices")),
            mcp=McpPolicy(servers=named_servers(self._values("mcp")["servers"])),
            secrets=named_secrets((k, v.value) for k, v in self.tables.get("secrets", {}).items()),
        )

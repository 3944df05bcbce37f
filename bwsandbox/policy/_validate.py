"""One layer: a raw TOML table (or an overlay dict) checked into a :class:`Layer`.

Every value is checked here, as the layer is read, so an error names the file it is in and
the key path inside it (``network.allow[2]``, ``filesystem.ro[0].src``). A :class:`Layer`
holds checked model values only, each with the key path it came from, which the merge uses
to blame the right layer for a conflict between layers.
"""

from __future__ import annotations

from collections.abc import Mapping

from bwsandbox._errors import PolicyError
from bwsandbox._record import field, record
from bwsandbox.policy._checks import Invalid, describe, key_join, toml_string
from bwsandbox.policy._hints import did_you_mean
from bwsandbox.policy._model import Bind
from bwsandbox.policy._schema import SPECS, TOP_KEYS, Kind, Spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Entry", "Layer", "Placed", "read_layer", "toml_error"]

#: a decode error's text; compiled on the first error, not at import (the start-up path)
_TOML_WHERE = r"^(?P<message>.*) \((?P<where>at [^()]*)\)$"


@record
class Entry:
    """A checked value and the key path it was written at in its layer."""

    value: Any
    key: str


@record
class Layer:
    """One checked layer. Keys are dotted (``network.mode``); absent keys are not set."""

    source: str
    extends: tuple[Entry, ...] = ()
    scalars: Mapping[str, Entry] = field(default_factory=dict)
    lists: Mapping[str, tuple[Entry, ...]] = field(default_factory=dict)
    tables: Mapping[str, Mapping[str, Entry]] = field(default_factory=dict)


def read_layer(raw: Mapping[str, object], source: str, *, can_extend: bool = True) -> Layer:
    """Check ``raw`` (the layout of a policy file); raise PolicyError naming ``source``."""
    reader = _Reader(source)
    for raw_name, value in raw.items():
        name = str(raw_name)
        if name in SPECS:
            section = reader.table(value, name, "a table of settings")
            for key, item in section.items():
                reader.read(key_join(name, str(key)), _spec(source, name, str(key)), item)
        elif name in TOP_KEYS:
            if name == "extends" and not can_extend:
                raise PolicyError(
                    f"{source} cannot extend other policies",
                    file=source,
                    key=name,
                    hint="pass the policy as a policy reference instead",
                )
            reader.read(name, TOP_KEYS[name], value)
        else:
            raise PolicyError(
                f"unknown key {name!r}", file=source, key=key_join("", name), hint=_top_hint(name)
            )
    layer = Layer(
        source=source,
        extends=reader.lists.pop("extends", ()),
        scalars=reader.scalars,
        lists=reader.lists,
        tables=reader.tables,
    )
    _check_binds(layer)
    return layer


def _spec(source: str, section: str, key: str) -> Spec:
    specs = SPECS[section]
    spec = specs.get(key)
    if spec is not None:
        return spec
    hint = did_you_mean(key, specs)
    if hint is None:
        others = [name for name, keys in SPECS.items() if key in keys]
        if others:
            hint = f"{key} belongs in [{others[0]}]"
        else:
            hint = "expected one of: " + ", ".join(specs)
    raise PolicyError(
        f"unknown key {key!r} in [{section}]",
        file=source,
        key=key_join(section, key),
        hint=hint,
    )


def _top_hint(name: str) -> str:
    hint = did_you_mean(name, [*TOP_KEYS, *SPECS])
    if hint:
        return hint
    for section, keys in SPECS.items():
        if name in keys:
            return f"put it under [{section}]"
    return "expected one of: " + ", ".join([*TOP_KEYS, *SPECS])


class _Reader:
    """Collects checked entries; raises the first error with file and key path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.scalars: dict[str, Entry] = {}
        self.lists: dict[str, tuple[Entry, ...]] = {}
        self.tables: dict[str, dict[str, Entry]] = {}

    def fail(self, key: str, exc: Invalid) -> PolicyError:
        """The PolicyError for ``exc``; raised ``from exc.__cause__`` (a third-party error)."""
        return PolicyError(exc.message, file=self.source, key=key + exc.suffix, hint=exc.hint)

    def check(self, key: str, spec: Spec, value: object) -> Entry:
        try:
            return Entry(spec.check(value), key)
        except Invalid as exc:
            raise self.fail(key, exc) from exc.__cause__

    def table(self, value: object, key: str, what: str) -> Mapping[str, object]:
        if not isinstance(value, Mapping):
            raise PolicyError(f"expected {what}, got {describe(value)}", file=self.source, key=key)
        return value

    def read(self, key: str, spec: Spec, value: object) -> None:
        if spec.kind is Kind.SCALAR:
            self.scalars[key] = self.check(key, spec, value)
        elif spec.kind is Kind.LIST:
            if not isinstance(value, list | tuple):
                hint = None
                if isinstance(value, str):
                    hint = f"write {key.rsplit('.', 1)[-1]} = [{toml_string(value)}]"
                raise PolicyError(
                    f"expected an array, got {describe(value)}",
                    file=self.source,
                    key=key,
                    hint=hint,
                )
            entries: list[Entry] = []
            for index, item in enumerate(value):
                entry = self.check(f"{key}[{index}]", spec, item)
                if all(entry.value != seen.value for seen in entries):
                    entries.append(entry)
            self.lists[key] = tuple(entries)
        else:
            assert spec.check_name is not None
            table = self.table(value, key, "a table of name = value")
            checked: dict[str, Entry] = {}
            for name, item in table.items():
                item_key = key_join(key, str(name))
                try:
                    checked_name = spec.check_name(name)
                except Invalid as exc:
                    raise self.fail(item_key, exc) from exc.__cause__
                checked[checked_name] = self.check(item_key, spec, item)
            self.tables[key] = checked


def _check_binds(layer: Layer) -> None:
    """Within one layer a destination is bound once: ro and rw disagreeing is a mistake."""
    seen: dict[str, Entry] = {}
    for name in ("filesystem.ro", "filesystem.rw"):
        for entry in layer.lists.get(name, ()):
            bind: Bind = entry.value
            earlier = seen.get(bind.target)
            if earlier is not None:
                raise PolicyError(
                    f"{bind.target!r} is already bound by {earlier.key} in this layer",
                    file=layer.source,
                    key=entry.key,
                    hint="bind each destination once (read-only or read-write)",
                )
            seen[bind.target] = entry


@record
class Placed:
    """A merged value and where it came from: layer position, file and key path."""

    value: Any
    index: int
    file: str
    key: str


def toml_error(exc: ValueError) -> str:
    """``invalid TOML at line 3, column 8: Invalid value`` for a decode error (a
    ``tomllib.TOMLDecodeError``: named by its base class so this module needs no tomllib)."""
    import re

    match = re.match(_TOML_WHERE, str(exc))
    if match:
        return f"invalid TOML {match['where']}: {match['message']}"
    return f"invalid TOML: {exc}"

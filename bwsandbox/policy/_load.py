"""Finding, reading and stacking policy files.

A policy reference is a NAME (``NAME.toml`` in the search dirs: the user's policies dir first,
then the shipped policies) or a FILE path (it contains ``/`` or ends in ``.toml``). Each file's
own ``extends = [...]`` (names, or paths relative to that file) is applied before the file. A
layer reached twice is applied once, at its first position; a cycle is an error naming the
chain. A file that extends its own name (a user ``base.toml`` with ``extends = ["base"]``)
gets the next file of that name down the search path.

``os.path`` rather than ``pathlib`` on purpose: importing pathlib (with urllib.parse and
ipaddress) costs milliseconds on the start-up path of ``agent-sandbox run``.
"""

# ruff: noqa: PTH113, PTH118, PTH119, PTH120, PTH122, PTH123, PTH208

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from bwsandbox import _paths
from bwsandbox._errors import PolicyError
from bwsandbox._printable import ASCII_ALNUM, spelled
from bwsandbox._record import record
from bwsandbox.policy._hints import did_you_mean
from bwsandbox.policy._merge import merge
from bwsandbox.policy._model import Policy
from bwsandbox.policy._validate import Layer, read_layer, toml_error

__all__ = [
    "PolicyInfo",
    "list_policies",
    "load_policy",
    "load_policy_file",
    "read_layers",
    "read_overlays",
]

_NAME_CHARS = ASCII_ALNUM + "._-"


def _is_name(text: str) -> bool:
    """A policy name, ``[A-Za-z0-9][A-Za-z0-9._-]*``: characters, not a regex compiled at
    start-up (tests/unit/test_policy_charsets.py checks it against that regex)."""
    return spelled(text, ASCII_ALNUM, _NAME_CHARS)


@record
class PolicyInfo:
    """One policy found in the search dirs."""

    name: str
    path: str
    description: str
    shipped: bool


def load_policy(
    refs: Sequence[str] = ("base",),
    *,
    overlays: Sequence[tuple[str, Mapping[str, object]]] = (),
    search_dirs: Sequence[str] | None = None,
) -> Policy:
    """Load, check and merge ``refs`` (left to right), then ``overlays`` (named raw tables).

    The admin-enforced layers (``/etc/agent-sandbox/enforced.toml``, see
    :mod:`bwsandbox.policy._enforced`) are applied last; a layer that would loosen them is a
    :class:`PolicyError` naming the enforced file and key.
    """
    name, layers = read_layers(refs, search_dirs=search_dirs)
    layers += read_overlays(overlays)
    from bwsandbox.policy._enforced import read_enforced

    return merge(layers, name=name, enforced=read_enforced())


def read_layers(
    refs: Sequence[str], *, search_dirs: Sequence[str] | None = None
) -> tuple[str, list[Layer]]:
    """The policy's name and the checked layers of ``refs`` (files read once), not merged.

    With :func:`read_overlays` and ``_merge.merge`` this is :func:`load_policy` in steps, for
    a caller that merges more than once (``bwsandbox._prepare``: the agent's login layer
    depends on the merged network mode).
    """
    if isinstance(refs, str):
        refs = (refs,)
    stack = _Stack(_search_dirs(search_dirs))
    for ref in refs:
        stack.add(stack.resolve(ref))
    return stack.name(), list(stack.layers)


def read_overlays(overlays: Sequence[tuple[str, Mapping[str, object]]]) -> list[Layer]:
    """Named raw tables as checked layers (``load_policy``'s ``overlays``)."""
    layers = []
    for source, raw in overlays:
        if not isinstance(raw, Mapping):
            raise PolicyError(
                f"expected a table of settings, got {type(raw).__name__}", file=source
            )
        layers.append(read_layer(raw, source, can_extend=False))
    return layers


def load_policy_file(path: str) -> Policy:
    """Load one policy file (with what it extends), e.g. for ``agent-sandbox policy check``.

    The admin-enforced file (or the one the test seam names) is checked as an enforced
    layer: ownership, mode and the keys an enforced layer may hold, as a launch checks it.
    """
    stack = _Stack(_search_dirs(None))
    if not os.path.isfile(path):
        raise PolicyError("no such policy file", file=path)
    from bwsandbox.policy._enforced import check_enforced_file, is_enforced_path

    if is_enforced_path(path):
        return merge([], name=_stem(path), enforced=[check_enforced_file(path)])
    stack.add(path)
    return merge(stack.layers, name=stack.name())


def list_policies(search_dirs: Sequence[str] | None = None) -> list[PolicyInfo]:
    """Every policy in the search dirs, by name; a user policy shadows a shipped one."""
    shipped = os.path.realpath(_paths.shipped_policies_dir())
    found: dict[str, PolicyInfo] = {}
    for directory in _search_dirs(search_dirs):
        is_shipped = os.path.realpath(directory) == shipped
        for name, path in _policy_files(directory):
            if name not in found:
                found[name] = PolicyInfo(name, path, _description(path), is_shipped)
    return [found[name] for name in sorted(found)]


def _search_dirs(search_dirs: Sequence[str] | None) -> tuple[str, ...]:
    if search_dirs is None:
        return (_paths.user_policies_dir(), _paths.shipped_policies_dir())
    if isinstance(search_dirs, str):
        return (search_dirs,)
    return tuple(search_dirs)


def _policy_files(directory: str) -> list[tuple[str, str]]:
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    files = []
    for entry in entries:
        name, suffix = os.path.splitext(entry)
        path = os.path.join(directory, entry)
        if suffix == ".toml" and _is_name(name) and os.path.isfile(path):
            files.append((name, path))
    return files


def _description(path: str) -> str:
    try:
        raw = _parse(_read_bytes(path).decode("utf-8"), path)
    except (OSError, UnicodeDecodeError, PolicyError):
        return ""
    description = raw.get("description")
    return description if isinstance(description, str) else ""


def _read_policy_file(path: str) -> Layer:
    """Parse and check one file (its ``extends`` are not followed here).

    A shipped policy's exact text has its checked layer stored (``_shipped.CHECKED``,
    generated): checking depends on the text alone, so it is not repeated on every start;
    any other text (edited, user, older or newer) is parsed and checked here.
    """
    try:
        data = _read_bytes(path)
    except OSError as exc:
        raise PolicyError(f"cannot read the policy: {exc.strerror or exc}", file=path) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not UTF-8 text (byte {exc.start})", file=path) from exc
    from bwsandbox.policy._shipped import CHECKED

    checked = CHECKED.get(text)
    if checked is not None:  # a shipped file's exact text: read_layer's result, stored
        return checked(path)
    return read_layer(_parse(text, path), path)


def _parse(text: str, path: str) -> Mapping[str, object]:
    """The TOML table of a policy file's ``text``: a shipped policy's stored value when the
    text is exactly that policy's (``_shipped.py``, generated), else ``tomllib``'s parse.

    Comparing the whole text, not a name or a path, is what makes the stored value safe: an
    edited, user, newer or older file differs in some byte and is parsed for real.
    """
    from bwsandbox.policy._shipped import SHIPPED

    stored = SHIPPED.get(text)
    if stored is not None:
        return stored()
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(toml_error(exc), file=path) from exc


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


class _Stack:
    """Layers in application order, following ``extends`` depth first."""

    def __init__(self, search_dirs: tuple[str, ...]) -> None:
        self.search_dirs = search_dirs
        self.layers: list[Layer] = []
        self._done: set[str] = set()
        self._visiting: list[tuple[str, str]] = []  # (real path, path as shown)

    def name(self) -> str:
        if not self.layers:
            return "empty"
        return _stem(self.layers[-1].source)

    def add(self, path: str, *, via: tuple[str, str] | None = None) -> None:
        real = os.path.realpath(path)
        chain = [real_path for real_path, _ in self._visiting]
        if real in chain:
            shown = [shown for _, shown in self._visiting[chain.index(real) :]]
            raise PolicyError(
                "extends cycle: " + " -> ".join([*shown, path]),
                file=via[0] if via else path,
                key=via[1] if via else None,
                hint="remove one of these extends",
            )
        if real in self._done:
            return
        self._visiting.append((real, path))
        layer = _read_policy_file(path)
        for entry in layer.extends:
            target = self.resolve(entry.value, parent=path, key=entry.key)
            self.add(target, via=(path, entry.key))
        self._visiting.pop()
        self._done.add(real)
        self.layers.append(layer)

    def resolve(self, ref: str, *, parent: str | None = None, key: str | None = None) -> str:
        """The file a reference means; ``parent`` is the file whose ``extends`` names it."""
        if "/" in ref or ref.endswith(".toml"):
            base = os.path.dirname(parent) if parent else ""
            path = os.path.normpath(os.path.join(base, ref))
            if not os.path.isfile(path):
                if parent is None:
                    raise PolicyError("no such policy file", file=path)
                raise PolicyError(f"no such policy file {path!r}", file=parent, key=key)
            return path
        if not _is_name(ref):
            raise PolicyError(
                f"invalid policy name {ref!r}",
                file=parent,
                key=key,
                hint="a name is letters, digits, '.', '_', '-'; a file path contains '/'",
            )
        skip = os.path.realpath(parent) if parent else None
        skipped = ""
        for directory in self.search_dirs:
            path = os.path.join(directory, f"{ref}.toml")
            if os.path.isfile(path):
                if os.path.realpath(path) != skip:
                    return path
                skipped = path
        if parent and skipped:
            raise PolicyError(
                f"{ref!r} names this file itself and no other {ref}.toml follows it in the "
                "search path",
                file=parent,
                key=key,
                hint="a policy cannot extend itself",
            )
        available = sorted({name for d in self.search_dirs for name, _ in _policy_files(d)})
        listing = ", ".join(available) if available else "none"
        raise PolicyError(
            f"no policy named {ref!r}",
            file=parent,
            key=key,
            hint=did_you_mean(ref, available, fallback=f"available: {listing}"),
        )

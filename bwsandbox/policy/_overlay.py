"""``build_overlay``: command-line style options as the raw "command line" policy layer.

The CLI (``agent-sandbox run --allow ... --ro ...``), :func:`bwsandbox.prepare` and
:func:`bwsandbox.run` all build their options layer here, so the library and the command line
agree exactly. The layer is then checked and merged like any other (``policy._merge``).
"""

# ruff: noqa: PTH100, PTH109, PTH111, PTH118

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from bwsandbox._errors import PolicyError
from bwsandbox._paths import normalize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

__all__ = ["NetworkName", "build_overlay"]

if TYPE_CHECKING:
    #: the network modes ``run(network=...)`` accepts
    NetworkName = Literal["none", "filtered", "host"]
else:

    def __getattr__(name: str) -> object:
        """``NetworkName`` at run time (PEP 562): ``typing`` loads when it is used."""
        if name != "NetworkName":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from typing import Literal

        globals()["NetworkName"] = Literal["none", "filtered", "host"]
        return globals()["NetworkName"]


def _env_layer(env: Mapping[str, str] | Sequence[str]) -> dict[str, Any]:
    if isinstance(env, Mapping):
        return {"set": dict(env)} if env else {}
    if isinstance(env, str):
        raise PolicyError("expected NAME or NAME=VALUE items, got one string", key="--env")
    values: dict[str, str] = {}
    passthrough: list[str] = []
    for item in env:
        name, sep, value = item.partition("=")
        if not name:
            raise PolicyError(f"expected NAME or NAME=VALUE, got {item!r}", key="--env")
        if sep:
            values[name] = value
        else:
            passthrough.append(name)
    layer: dict[str, Any] = {}
    if values:
        layer["set"] = values
    if passthrough:
        layer["passthrough"] = passthrough
    return layer


def _binds(paths: Sequence[str], base: str) -> list[dict[str, Any]]:
    # literal paths: braces are doubled so they are not read as policy variables
    return [
        {
            "src": _literal(normalize(os.path.abspath(os.path.join(base, os.path.expanduser(p))))),
            "optional": False,
        }
        for p in paths
    ]


def _literal(path: str) -> str:
    return path.replace("{", "{{").replace("}", "}}")


def build_overlay(
    *,
    network: str | None = None,
    allow: Sequence[str] = (),
    add_hosts: Mapping[str, str] | Sequence[str] | None = None,
    ro: Sequence[str] = (),
    rw: Sequence[str] = (),
    env: Mapping[str, str] | Sequence[str] | None = None,
    cwd: str | None = None,
    memory: str | None = None,
    cpus: str | float | None = None,
    pids: str | int | None = None,
    timeout: str | None = None,
    gpu: bool = False,
    ask: bool = False,
) -> dict[str, Any]:
    """The raw "command line" policy layer for these options (empty tables are left out).

    ``--allow``/``--add-host``/``--ask`` without ``--network`` mean ``filtered``. ``--ro``/``--rw``
    paths are made absolute against ``cwd`` and must exist. ``add_hosts`` takes a mapping or
    ``NAME=IP`` strings (as typed on the command line).
    """
    base = os.getcwd() if cwd is None else cwd
    overlay: dict[str, Any] = {}
    hosts = _hosts(add_hosts)
    net: dict[str, Any] = {}
    if network is not None:
        net["mode"] = network
    elif allow or hosts or ask:
        net["mode"] = "filtered"
    if ask:
        net["unlisted"] = "ask"
    if allow:
        net["allow"] = list(allow)
    if hosts:
        net["add_hosts"] = hosts
    if net:
        overlay["network"] = net
    filesystem: dict[str, Any] = {}
    if ro:
        filesystem["ro"] = _binds(ro, base)
    if rw:
        filesystem["rw"] = _binds(rw, base)
    if filesystem:
        overlay["filesystem"] = filesystem
    env_layer = _env_layer(env) if env is not None else {}
    if env_layer:
        overlay["env"] = env_layer
    limits = _limits_layer(memory=memory, cpus=cpus, pids=pids, timeout=timeout)
    if limits:
        overlay["limits"] = limits
    if gpu:
        overlay["devices"] = {"gpu": True}
    return overlay


def _limits_layer(
    *, memory: str | None, cpus: str | float | None, pids: str | int | None, timeout: str | None
) -> dict[str, Any]:
    """``[limits]`` from --memory/--cpus/--pids/--timeout (numbers typed as text converted)."""
    layer: dict[str, Any] = {}
    if memory is not None:
        layer["memory"] = memory
    if timeout is not None:
        layer["timeout"] = timeout
    for key, flag, value, kind in (("cpu", "--cpus", cpus, float), ("pids", "--pids", pids, int)):
        if value is None:
            continue
        try:
            layer[key] = kind(value)
        except ValueError:
            what = "a number of cores such as 1.5" if kind is float else "a whole number"
            raise PolicyError(f"expected {what}, got {value!r}", key=flag) from None
    return layer


def _hosts(add_hosts: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    if not add_hosts:
        return {}
    if isinstance(add_hosts, Mapping):
        return dict(add_hosts)
    hosts: dict[str, str] = {}
    for item in add_hosts:
        name, sep, address = item.partition("=")
        if not sep or not name or not address:
            raise PolicyError(f"expected NAME=IP, got {item!r}", key="--add-host")
        hosts[name] = address
    return hosts

"""Finding an agent's binary on the host, and the few host paths it needs to run.

Search order: ``BWSANDBOX_AGENT_BIN_<NAME>``, then the host ``PATH``, then the npm global
prefix (``NPM_CONFIG_PREFIX``, ``prefix=`` in ``~/.npmrc``), ``~/.local/bin``,
``~/.npm-global/bin``, the agent's own installer dir, Nix profiles, the system bin dirs, and
the cache ``scripts/install-agents.sh`` fills. ``npm prefix -g`` is not run: it is slow.

What gets bound read-only: the npm package the binary belongs to and the packages it depends
on (found the way node resolves them, so a hoisted platform package comes along), or just the
binary when it is not in a package; and its interpreter (``node``) when the binary is a
script. Nothing is bound for paths the base policy already shows (``/usr``, ``/nix/store``...).
"""


# os-level on purpose, like the runtime (lstat, O_NOFOLLOW, no pathlib import)
# ruff: noqa: PTH111, PTH112, PTH113, PTH117, PTH118, PTH119, PTH120, PTH123

from __future__ import annotations

import os
from collections.abc import Mapping

from bwsandbox._errors import DependencyError
from bwsandbox._record import record
from bwsandbox.agents._specs import AgentSpec

__all__ = ["AgentBinary", "find_agent", "search_dirs", "visible_in_sandbox"]

#: host trees the base policy binds read-only at the same path
_SYSTEM_TREES = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/nix/store",
    "/run/current-system/sw",
)

#: searched after the user's own dirs, in this order
_SYSTEM_BIN_DIRS = ("/run/current-system/sw/bin", "/usr/local/bin", "/usr/bin")
#: where scripts/install-agents.sh installs when run as root
_SYSTEM_CACHE = "/var/cache/bwsandbox/agents"

_MAX_PACKAGES = 64  # a CLI with more dependencies than this gets its node_modules bound whole


@record
class AgentBinary:
    """Where the agent is on the host and what the sandbox needs to run it."""

    found: str  # the path found (may be a symlink)
    path: str  # the resolved binary
    interpreter: str  # resolved interpreter for a script (node), "" for a native binary
    binds: tuple[str, ...]  # host paths to bind read-only at the same path


def visible_in_sandbox(path: str, user: str = "") -> bool:
    """Whether the base policy already shows ``path`` (system trees bound read-only)."""
    trees = list(_SYSTEM_TREES)
    if user:
        trees.append(f"/etc/profiles/per-user/{user}")
    return any(path == tree or path.startswith(tree + "/") for tree in trees)


def _npmrc_prefix(home: str) -> str:
    try:
        with open(os.path.join(home, ".npmrc"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "prefix":
            return os.path.expanduser(value.strip().strip("\"'").replace("${HOME}", home))
    return ""


def _cache_dirs(environ: Mapping[str, str], home: str) -> list[str]:
    dirs = []
    if environ.get("BWSANDBOX_AGENTS_CACHE"):
        dirs.append(environ["BWSANDBOX_AGENTS_CACHE"])
    cache_home = environ.get("XDG_CACHE_HOME") or (os.path.join(home, ".cache") if home else "")
    if cache_home:
        dirs.append(os.path.join(cache_home, "bwsandbox", "agents"))
    dirs.append(_SYSTEM_CACHE)
    return [os.path.join(d, "node_modules", ".bin") for d in dirs]


def search_dirs(spec: AgentSpec, environ: Mapping[str, str]) -> list[str]:
    """Directories searched for ``spec.binary``, in order, without duplicates."""
    home = environ.get("HOME", "")
    user = environ.get("USER") or environ.get("LOGNAME") or ""
    dirs = [d for d in environ.get("PATH", "").split(":") if d.startswith("/")]
    prefixes = [environ.get("NPM_CONFIG_PREFIX", ""), environ.get("npm_config_prefix", "")]
    if home:
        prefixes.append(_npmrc_prefix(home))
    dirs += [os.path.join(p, "bin") for p in prefixes if p]
    if home:
        dirs += [
            os.path.join(home, rel)
            for rel in (".local/bin", ".npm-global/bin", *spec.extra_bin_dirs, ".nix-profile/bin")
        ]
    if user:
        dirs.append(f"/etc/profiles/per-user/{user}/bin")
    dirs += _SYSTEM_BIN_DIRS
    dirs += _cache_dirs(environ, home)
    seen: set[str] = set()
    unique = []
    for directory in map(os.path.normpath, dirs):
        if directory not in seen:
            seen.add(directory)
            unique.append(directory)
    return unique


def _executable_file(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _override_var(spec: AgentSpec) -> str:
    return "BWSANDBOX_AGENT_BIN_" + spec.name.upper().replace("-", "_")


def _locate(spec: AgentSpec, environ: Mapping[str, str]) -> str:
    override = environ.get(_override_var(spec))
    if override:
        if not os.path.isabs(override) or not _executable_file(override):
            raise DependencyError(
                f"{_override_var(spec)}={override} is not an executable file",
                hint="set it to the absolute path of the agent binary, or unset it",
            )
        return override
    for directory in search_dirs(spec, environ):
        candidate = os.path.join(directory, spec.binary)
        if _executable_file(candidate):
            return candidate
    raise DependencyError(
        f"{spec.name}: the {spec.binary!r} command was not found on this host",
        hint=f"install it with: {spec.install} (or scripts/install-agents.sh), "
        f"or set {_override_var(spec)} to its path",
    )


def _interpreter(path: str, environ: Mapping[str, str], extra_dirs: list[str]) -> str:
    """The resolved interpreter of a ``#!`` script; "" for anything else."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return ""
    if not first.startswith(b"#!"):
        return ""
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return ""
    program = words[0]
    if os.path.basename(program) == "env":
        names = [w for w in words[1:] if not w.startswith("-")]
        if not names:
            return ""
        path_dirs = [d for d in environ.get("PATH", "").split(":") if d]
        dirs = [*extra_dirs, *path_dirs, *_SYSTEM_BIN_DIRS]
        for directory in dirs:
            candidate = os.path.join(directory, names[0])
            if _executable_file(candidate):
                return os.path.realpath(candidate)
        raise DependencyError(
            f"{path} needs {names[0]!r}, which is not on your PATH",
            hint=f"install {names[0]} (Debian: apt-get install nodejs)",
        )
    return os.path.realpath(program)


def _package_root(path: str) -> str:
    """The npm package directory containing ``path``: the child of a ``node_modules``."""
    directory = os.path.dirname(path)
    while directory not in ("/", ""):
        parent = os.path.dirname(directory)
        if os.path.basename(parent) == "node_modules":
            return directory
        grandparent = os.path.dirname(parent)
        if os.path.basename(parent).startswith("@") and os.path.basename(grandparent) == (
            "node_modules"
        ):
            return directory
        directory = parent
    return ""


def _dependencies(package: str) -> list[str]:
    import json  # an npm package only: a stub or native binary needs no JSON

    try:
        with open(os.path.join(package, "package.json"), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return []
    names: list[str] = []
    if isinstance(data, dict):
        for key in ("dependencies", "optionalDependencies"):
            table = data.get(key)
            if isinstance(table, dict):
                names += [name for name in table if isinstance(name, str)]
    return names


def _resolve_dependency(package: str, name: str) -> str:
    """Where node finds ``name`` from ``package``: its own node_modules, then the parents'."""
    directory = package
    while directory not in ("/", ""):
        candidate = os.path.join(directory, "node_modules", name)
        if os.path.isdir(candidate):
            return os.path.realpath(candidate)
        directory = os.path.dirname(directory)
    return ""


def _node_modules_of(package: str) -> str:
    """The ``node_modules`` holding ``package`` (above the ``@scope`` dir of a scoped one)."""
    parent = os.path.dirname(package)
    if os.path.basename(parent).startswith("@"):
        parent = os.path.dirname(parent)
    return parent


def _package_closure(root: str) -> list[str]:
    """``root`` and the installed packages it depends on, each bound once."""
    found = [root]
    queue = [root]
    while queue:
        package = queue.pop(0)
        for name in _dependencies(package):
            location = _resolve_dependency(package, name)
            if not location or any(
                location == seen or location.startswith(seen + "/") for seen in found
            ):
                continue
            found.append(location)
            queue.append(location)
            if len(found) > _MAX_PACKAGES:
                return [_node_modules_of(root)]  # too many: the node_modules it lives in
    return found


def find_agent(spec: AgentSpec, environ: Mapping[str, str]) -> AgentBinary:
    """Find ``spec``'s binary and what must be bound for it to run in the sandbox."""
    found = _locate(spec, environ)
    path = os.path.realpath(found)
    user = environ.get("USER") or environ.get("LOGNAME") or ""
    binds: list[str] = []
    if not visible_in_sandbox(path, user):
        root = _package_root(path)
        binds += _package_closure(root) if root else [path]
    interpreter = _interpreter(path, environ, [os.path.dirname(found)])
    if interpreter and not visible_in_sandbox(interpreter, user):
        binds.append(interpreter)
    return AgentBinary(found=found, path=path, interpreter=interpreter, binds=tuple(binds))

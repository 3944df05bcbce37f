"""Find the command inside the sandbox before launching it.

The sandbox's file system is the plan's mount list (later entries cover earlier ones) over an
empty root. A sandbox path maps to a host path through the last mount covering it; symlinks
met on the way are resolved in the sandbox's namespace, not the host's. When a path lands in a
place whose content is only known at run time (/proc, /dev, a tmpfs), the answer is "unknown"
and bwrap gets to try.
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the start-up path
# ruff: noqa: PTH115, PTH116

from __future__ import annotations

import enum
import os
import posixpath
import stat
from collections.abc import Mapping, Sequence

from bwsandbox._errors import CommandNotExecutableError, CommandNotFoundError
from bwsandbox.compile import DataBind, MountEntry, MountKind, SandboxPlan

__all__ = ["Lookup", "resolve_command", "sandbox_lookup"]

_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_MAX_LINKS = 40


class Lookup(enum.Enum):
    MISSING = "missing"
    FILE = "file"  # a host file that exists: see host path
    DATA = "data"  # a file bwrap writes from the plan's data (host path: its destination)
    DIR = "dir"
    UNKNOWN = "unknown"  # content only known at run time


def _covering(mounts: Sequence[MountEntry], path: str) -> tuple[MountEntry, str] | None:
    """The last mount whose destination is ``path`` or one of its parents, and the rest."""
    for entry in reversed(mounts):
        dest = entry.dest.rstrip("/") or "/"
        if path == dest:
            return entry, ""
        prefix = dest if dest.endswith("/") else dest + "/"
        if path.startswith(prefix):
            return entry, path[len(prefix) :]
    return None


def _is_ancestor(path: str, mounts: Sequence[MountEntry]) -> bool:
    prefix = path.rstrip("/") + "/"
    return path == "/" or any(m.dest.startswith(prefix) for m in mounts)


def sandbox_lookup(mounts: Sequence[MountEntry], path: str) -> tuple[Lookup, str]:
    """What sits at sandbox ``path`` (absolute), following symlinks: (kind, host path)."""
    if "\0" in path:
        return Lookup.MISSING, ""
    pending = [part for part in path.split("/") if part and part != "."]
    done = "/"
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            done = posixpath.dirname(done)
            continue
        current = posixpath.join(done, part)
        kind, host, target = _step(mounts, current)
        if kind is Lookup.MISSING or kind is Lookup.UNKNOWN:
            return kind, host
        if target is not None:
            links += 1
            if links > _MAX_LINKS:
                return Lookup.MISSING, ""
            pending = [p for p in target.split("/") if p and p != "."] + pending
            done = "/" if target.startswith("/") else done
            continue
        if pending and kind is not Lookup.DIR:
            return Lookup.MISSING, ""
        done = current
    kind, host, _ = _step(mounts, done) if done != "/" else (Lookup.DIR, "", None)
    return kind, host


def _step(mounts: Sequence[MountEntry], path: str) -> tuple[Lookup, str, str | None]:
    """Look at one sandbox path without following a final symlink: (kind, host, link target)."""
    found = _covering(mounts, path)
    if found is None:
        return (Lookup.DIR, "", None) if _is_ancestor(path, mounts) else (Lookup.MISSING, "", None)
    entry, rest = found
    if entry.kind is MountKind.SYMLINK:
        if rest:
            return Lookup.UNKNOWN, "", None  # a mount below a symlink: let bwrap decide
        return Lookup.FILE, "", entry.src
    if entry.kind in (MountKind.RO, MountKind.RW):
        host = posixpath.join(entry.src, rest) if rest else entry.src
        found_kind = _host_kind(host)
        if found_kind[0] is Lookup.MISSING and _is_ancestor(path, mounts):
            return Lookup.DIR, host, None  # bwrap creates it for the mount below
        return found_kind
    if not rest:
        if entry.kind is MountKind.DATA:
            return Lookup.DATA, entry.dest, None
        return Lookup.DIR, "", None
    if _is_ancestor(path, mounts):
        return Lookup.DIR, "", None
    if entry.kind in (MountKind.TMPFS, MountKind.DIR):
        return Lookup.MISSING, "", None
    return Lookup.UNKNOWN, "", None  # /proc, /dev


def _host_kind(host: str) -> tuple[Lookup, str, str | None]:
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        return Lookup.MISSING, host, None
    except (OSError, ValueError):  # ValueError: a placeholder path with NUL bytes
        return Lookup.UNKNOWN, host, None
    if stat.S_ISLNK(st.st_mode):
        try:
            return Lookup.FILE, host, os.readlink(host)
        except OSError:
            return Lookup.UNKNOWN, host, None
    if stat.S_ISDIR(st.st_mode):
        return Lookup.DIR, host, None
    return Lookup.FILE, host, None


def _executable(kind: Lookup, host: str, data_perms: Mapping[str, str]) -> bool | None:
    """True/False when known, None when only bwrap can tell."""
    if kind is Lookup.DIR:
        return False
    if kind is Lookup.DATA:
        return bool(int(data_perms.get(host) or "0444", 8) & 0o111)
    if kind is Lookup.UNKNOWN or not host:
        return None
    try:
        st = os.stat(host)
    except (OSError, ValueError):
        return None
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def resolve_command(command: Sequence[str], plan: SandboxPlan) -> str | None:
    """The sandbox path ``command`` runs from in ``plan`` (None when only bwrap can tell).

    Raises CommandNotFoundError (exit 127) or CommandNotExecutableError (exit 126).
    """
    mounts, cwd = plan.mounts, plan.cwd
    perms = {o.dest: o.perms for o in plan.options if isinstance(o, DataBind)}
    if not command or not command[0]:
        raise CommandNotFoundError("no command to run", hint="give one after --")
    name = command[0]
    if "/" in name:
        path = name if name.startswith("/") else posixpath.join(cwd, name)
        kind, host = sandbox_lookup(mounts, path)
        if kind is Lookup.MISSING:
            raise CommandNotFoundError(f"{name}: not found in the sandbox")
        if _executable(kind, host, perms) is False:
            raise CommandNotExecutableError(f"{name}: not executable in the sandbox")
        return path
    search = dict(plan.env).get("PATH", _DEFAULT_PATH)
    not_executable = ""
    for directory in search.split(":"):
        if not directory.startswith("/"):
            continue
        path = posixpath.join(directory, name)
        kind, host = sandbox_lookup(mounts, path)
        if kind is Lookup.MISSING:
            continue
        executable = _executable(kind, host, perms)
        if executable is None:
            return None
        if executable:
            return path
        not_executable = not_executable or path
    if not_executable:
        raise CommandNotExecutableError(f"{name}: {not_executable} is not executable")
    raise CommandNotFoundError(
        f"{name}: command not found in the sandbox",
        hint=f"sandbox PATH is {search}; bind its directory with --ro if it lives elsewhere",
    )

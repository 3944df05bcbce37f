"""Listing and removing client compartments (for ``agent-sandbox clients``).

A client is a directory ``<data>/agent-sandbox/clients/<name>``. Removal never follows a
symlink: the tree is removed fd by fd with the runtime's ``remove_tree``.
"""


# os-level on purpose, like the runtime (lstat, O_NOFOLLOW, no pathlib import)
# ruff: noqa: PTH118

from __future__ import annotations

import os
import stat

from bwsandbox import _paths
from bwsandbox._errors import PolicyError, WorkspaceError
from bwsandbox._record import record

__all__ = ["ClientInfo", "list_clients", "remove_client"]


@record
class ClientInfo:
    """One client compartment."""

    name: str
    path: str
    agents: tuple[str, ...]  # agents that have state for this client


def _clients_root() -> str:
    return os.path.join(_paths.data_dir(), "clients")


def _subdirs(path: str) -> list[str]:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return []
    return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))


def list_clients() -> list[ClientInfo]:
    """Every client with a compartment, by name (symlinks and odd names are ignored)."""
    root = _clients_root()
    clients = []
    for name in _subdirs(root):
        if not _paths.valid_client_name(name):
            continue
        path = os.path.join(root, name)
        agents = tuple(_subdirs(os.path.join(path, "agents")))
        clients.append(ClientInfo(name=name, path=path, agents=agents))
    return clients


def remove_client(name: str) -> bool:
    """Remove client ``name``'s compartment; False when it did not exist.

    Raises PolicyError for an invalid name and WorkspaceError when something could not be
    removed (what remains is listed).
    """
    if not _paths.valid_client_name(name):
        raise PolicyError(f"invalid client name {name!r}", key="client")
    from bwsandbox.runtime import remove_tree

    root = _clients_root()
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WorkspaceError(f"cannot open {root}: {exc.strerror or exc}") from exc
    try:
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(info.st_mode):
            raise WorkspaceError(
                f"{os.path.join(root, name)} is not a directory", hint="remove it by hand"
            )
        problems = remove_tree(fd, name)
    finally:
        os.close(fd)
    if problems:
        raise WorkspaceError(
            f"client {name!r} was not removed completely: {'; '.join(problems[:3])}"
        )
    return True

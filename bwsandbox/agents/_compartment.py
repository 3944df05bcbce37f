"""Per-client compartments: an agent's state for one client, on the host.

Layout under ``client_dir(client)``::

    agents/<agent>/home/<state path>   bound read-write at {home}/<state path> in the sandbox
    agents/<agent>/bin/                symlinks to the agent (and node), bound read-only

Every directory is created mode 0700. Nothing here follows a symlink the sandbox could have
planted: the sandbox writes inside the state paths, so whatever we later open there is
opened with ``O_NOFOLLOW`` and checked with ``lstat``.
"""


# os-level on purpose, like the runtime (lstat, O_NOFOLLOW, no pathlib import)
# ruff: noqa: PTH102, PTH103, PTH105, PTH108, PTH115, PTH118, PTH120, PTH211

from __future__ import annotations

import contextlib
import os
import stat

from bwsandbox import _paths
from bwsandbox._errors import PolicyError, WorkspaceError
from bwsandbox._record import record
from bwsandbox.agents._specs import AgentSpec

__all__ = ["Compartment", "open_compartment"]


@record
class Compartment:
    """One client's directories for one agent."""

    client: str
    root: str  # <client_dir>/agents/<agent>
    home: str  # <root>/home: mirrors the sandbox home's state paths
    bin: str  # <root>/bin

    def state_path(self, relative: str) -> str:
        return os.path.join(self.home, relative)

    def has_own_file(self, relative: str) -> bool:
        """Whether ``relative`` (under home) is a regular, non-empty file (not a symlink)."""
        try:
            info = os.lstat(self.state_path(relative))
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and info.st_size > 0

    def placeholder(self, relative: str) -> str:
        """An empty regular file at ``relative`` to mount over (a planted symlink goes)."""
        path = self.state_path(relative)
        _make_dirs(os.path.dirname(path), stop=self.home)
        _replace_non_file(path)
        _create_file(path, b"")
        return path

    def link_bin(self, name: str, target: str) -> None:
        """``bin/<name>`` -> ``target`` (a path inside the sandbox), replaced atomically."""
        link = os.path.join(self.bin, name)
        with contextlib.suppress(OSError):
            if os.readlink(link) == target:  # already right: nothing to replace
                return
        temporary = f"{link}.{os.getpid()}.tmp"
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            os.symlink(target, temporary)
            os.replace(temporary, link)
        except OSError as exc:
            raise WorkspaceError(f"cannot create {link}: {exc.strerror or exc}") from exc


def _make_dirs(path: str, *, stop: str) -> None:
    """Create ``path`` and missing parents up to ``stop``, 0700, refusing symlinks."""
    missing = []
    current = path
    while current != stop and current not in ("/", ""):
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            missing.append(current)
            current = os.path.dirname(current)
            continue
        except OSError as exc:
            raise WorkspaceError(f"cannot use {current}: {exc.strerror or exc}") from exc
        if not stat.S_ISDIR(info.st_mode):
            raise WorkspaceError(
                f"{current} is not a directory (a symlink or file is in the way)",
                hint="remove it; agent-sandbox never follows links in a compartment",
            )
        break
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise WorkspaceError(f"cannot create {directory}: {exc.strerror or exc}") from exc


def _replace_non_file(path: str) -> None:
    """Remove ``path`` when it is a symlink or other non-regular, non-directory entry."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WorkspaceError(f"cannot use {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise WorkspaceError(f"{path} is a directory, expected a file", hint="remove it")
    if not stat.S_ISREG(info.st_mode):
        try:
            os.unlink(path)
        except OSError as exc:
            raise WorkspaceError(f"cannot remove {path}: {exc.strerror or exc}") from exc


def _create_file(path: str, content: bytes) -> None:
    """Create ``path`` with ``content`` unless a regular file is already there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise WorkspaceError(f"cannot create {path}: {exc.strerror or exc}") from exc
    try:
        os.write(fd, content)
    finally:
        os.close(fd)


def open_compartment(spec: AgentSpec, client: str) -> Compartment:
    """Create (first use) or reuse ``client``'s compartment for ``spec``; never another's."""
    try:
        client_root = _paths.client_dir(client)
    except ValueError as exc:
        raise PolicyError(
            f"invalid client name {client!r}",
            key="--client",
            hint="use letters, digits, '.', '_' and '-' (at most 64, not starting with those)",
        ) from exc
    data_dir = _paths.data_dir()
    try:
        os.makedirs(data_dir, 0o700, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"cannot create {data_dir}: {exc.strerror or exc}") from exc
    root = os.path.join(client_root, "agents", spec.name)
    compartment = Compartment(
        client=client,
        root=root,
        home=os.path.join(root, "home"),
        bin=os.path.join(root, "bin"),
    )
    for directory in (compartment.home, compartment.bin):
        _make_dirs(directory, stop=data_dir)
    for relative in spec.state_dirs:
        _make_dirs(compartment.state_path(relative), stop=compartment.home)
    for relative, content in spec.state_files:
        path = compartment.state_path(relative)
        _make_dirs(os.path.dirname(path), stop=compartment.home)
        _replace_non_file(path)
        _create_file(path, content)
    return compartment

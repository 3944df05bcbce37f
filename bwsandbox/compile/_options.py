"""bwrap options as tiny value objects that render their own arguments.

File descriptors are symbolic (:class:`FdRef`); the runtime allocates real ones and passes a
mapping to :meth:`BwrapOption.render`. ``render`` without a mapping shows ``{fd:NAME}``, which is
what golden files and ``explain`` print.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

from bwsandbox._record import record

__all__ = [
    "BindMount",
    "BwrapOption",
    "Chdir",
    "DataBind",
    "DevMount",
    "Dir",
    "Fd",
    "FdRef",
    "Flag",
    "MountEntry",
    "MountKind",
    "MountOption",
    "ProcMount",
    "RemountRo",
    "Symlink",
    "TmpfsMount",
    "WithValue",
    "render_all",
]

FdResolver = Callable[["FdRef"], int]


@record
class FdRef:
    """A file descriptor the runtime will allocate, e.g. ``FdRef("data:passwd")``."""

    name: str

    def resolve(self, fds: Mapping[FdRef, int] | None) -> str:
        if fds is None:
            return f"{{fd:{self.name}}}"
        return str(fds[self])


class BwrapOption:
    """Base class: one bwrap option with its arguments."""

    __slots__ = ()

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        raise NotImplementedError

    def fd_refs(self) -> tuple[FdRef, ...]:
        return ()


class MountKind(enum.StrEnum):
    RO = "ro"
    RW = "rw"
    TMPFS = "tmpfs"
    DATA = "data"
    SYMLINK = "symlink"
    DEV = "dev"
    PROC = "proc"
    DIR = "dir"


@record
class MountEntry:
    """One visible path in the sandbox, in mount order (later entries cover earlier ones)."""

    dest: str
    kind: MountKind
    src: str = ""  # host path for binds, symlink target for symlinks


class MountOption(BwrapOption):
    """A bwrap option that mounts something at ``dest``; it states its own mount-table entry.

    The plan's mount table (what ``explain``, path lookups and the runtime read) is the list
    of :meth:`entry` of the plan's mount options, in order: a mount is described once.
    """

    __slots__ = ()

    dest: str

    def entry(self) -> MountEntry | None:
        """What the sandbox sees at ``dest`` after this mount (None: nothing new is visible)."""
        raise NotImplementedError


@record
class Flag(BwrapOption):
    """An option without arguments: ``--unshare-all``, ``--die-with-parent``..."""

    name: str

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return [self.name]


@record
class WithValue(BwrapOption):
    """An option with plain arguments: ``--cap-drop ALL``, ``--uid 1000``, ``--hostname x``."""

    name: str
    values: tuple[str, ...]

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return [self.name, *self.values]


@record
class Fd(BwrapOption):
    """An option taking a file descriptor: ``--info-fd``, ``--block-fd``, ``--seccomp``."""

    name: str
    fd: FdRef

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return [self.name, self.fd.resolve(fds)]

    def fd_refs(self) -> tuple[FdRef, ...]:
        return (self.fd,)


@record
class BindMount(MountOption):
    """``--bind``/``--ro-bind`` and their ``-try`` variants."""

    src: str
    dest: str
    readonly: bool = True
    optional: bool = False

    def entry(self) -> MountEntry:
        return MountEntry(self.dest, MountKind.RO if self.readonly else MountKind.RW, self.src)

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        name = "--ro-bind" if self.readonly else "--bind"
        if self.optional:
            name += "-try"
        return [name, self.src, self.dest]


@record
class DataBind(MountOption):
    """``--ro-bind-data FD DEST``: a file whose content comes from a pipe, never from disk."""

    fd: FdRef
    dest: str
    perms: str = ""
    readonly: bool = True
    #: what the mount table names as its source ("secret", "ssh"; default: nothing)
    origin: str = ""

    def entry(self) -> MountEntry:
        return MountEntry(self.dest, MountKind.DATA, self.origin)

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        out = ["--perms", self.perms] if self.perms else []
        name = "--ro-bind-data" if self.readonly else "--bind-data"
        return [*out, name, self.fd.resolve(fds), self.dest]

    def fd_refs(self) -> tuple[FdRef, ...]:
        return (self.fd,)


@record
class TmpfsMount(MountOption):
    """``--tmpfs DEST`` (with ``--perms`` and ``--size`` when set)."""

    dest: str
    perms: str = ""
    size: int | None = None

    def entry(self) -> MountEntry:
        return MountEntry(self.dest, MountKind.TMPFS)

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        out: list[str] = []
        if self.perms:
            out += ["--perms", self.perms]
        if self.size is not None:
            out += ["--size", str(self.size)]
        return [*out, "--tmpfs", self.dest]


@record
class Dir(MountOption):
    """``--dir DEST``: an empty directory (with ``--perms`` when set)."""

    dest: str
    perms: str = ""

    def entry(self) -> MountEntry:
        return MountEntry(self.dest, MountKind.DIR)

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        out = ["--perms", self.perms] if self.perms else []
        return [*out, "--dir", self.dest]


@record
class Symlink(MountOption):
    """``--symlink TARGET DEST``."""

    target: str
    dest: str

    def entry(self) -> MountEntry:
        return MountEntry(self.dest, MountKind.SYMLINK, self.target)

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--symlink", self.target, self.dest]


@record
class RemountRo(MountOption):
    """``--remount-ro DEST``: the mount at ``dest`` becomes read-only."""

    dest: str

    def entry(self) -> None:
        return None  # the mount below stays what it was, now read-only

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--remount-ro", self.dest]


@record
class ProcMount(MountOption):
    """``--proc DEST``: a fresh procfs."""

    dest: str = "/proc"

    def entry(self) -> MountEntry:
        return MountEntry(self.dest, MountKind.PROC)

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--proc", self.dest]


@record
class DevMount(MountOption):
    """``--dev DEST``: a minimal ``/dev``."""

    dest: str = "/dev"

    def entry(self) -> MountEntry:
        return MountEntry(self.dest, MountKind.DEV)

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--dev", self.dest]


@record
class Chdir(BwrapOption):
    """``--chdir PATH``: the command's working directory."""

    path: str

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--chdir", self.path]


def render_all(
    options: tuple[BwrapOption, ...], fds: Mapping[FdRef, int] | None = None
) -> list[str]:
    """Render options in order (order is part of the contract: bwrap mounts in order)."""
    out: list[str] = []
    for option in options:
        out.extend(option.render(fds))
    return out

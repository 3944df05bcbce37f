"""bwrap options as tiny value objects that render their own arguments.

File descriptors are symbolic (:class:`FdRef`); the runtime allocates real ones and passes a
mapping to :meth:`BwrapOption.render`. ``render`` without a mapping shows ``{fd:NAME}``, which is
what golden files and ``explain`` print.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

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
    "ProcMount",
    "RemountRo",
    "Symlink",
    "TmpfsMount",
    "WithValue",
    "render_all",
]

FdResolver = Callable[["FdRef"], int]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Flag(BwrapOption):
    """An option without arguments: ``--unshare-all``, ``--die-with-parent``..."""

    name: str

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return [self.name]


@dataclass(frozen=True, slots=True)
class WithValue(BwrapOption):
    """An option with plain arguments: ``--cap-drop ALL``, ``--uid 1000``, ``--hostname x``."""

    name: str
    values: tuple[str, ...]

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return [self.name, *self.values]


@dataclass(frozen=True, slots=True)
class Fd(BwrapOption):
    """An option taking a file descriptor: ``--info-fd``, ``--block-fd``, ``--seccomp``."""

    name: str
    fd: FdRef

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return [self.name, self.fd.resolve(fds)]

    def fd_refs(self) -> tuple[FdRef, ...]:
        return (self.fd,)


@dataclass(frozen=True, slots=True)
class BindMount(BwrapOption):
    """``--bind``/``--ro-bind`` and their ``-try`` variants."""

    src: str
    dest: str
    readonly: bool = True
    optional: bool = False

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        name = "--ro-bind" if self.readonly else "--bind"
        if self.optional:
            name += "-try"
        return [name, self.src, self.dest]


@dataclass(frozen=True, slots=True)
class DataBind(BwrapOption):
    """``--ro-bind-data FD DEST``: a file whose content comes from a pipe, never from disk."""

    fd: FdRef
    dest: str
    perms: str = ""
    readonly: bool = True

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        out = ["--perms", self.perms] if self.perms else []
        name = "--ro-bind-data" if self.readonly else "--bind-data"
        return [*out, name, self.fd.resolve(fds), self.dest]

    def fd_refs(self) -> tuple[FdRef, ...]:
        return (self.fd,)


@dataclass(frozen=True, slots=True)
class TmpfsMount(BwrapOption):
    dest: str
    perms: str = ""
    size: int | None = None

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        out: list[str] = []
        if self.perms:
            out += ["--perms", self.perms]
        if self.size is not None:
            out += ["--size", str(self.size)]
        return [*out, "--tmpfs", self.dest]


@dataclass(frozen=True, slots=True)
class Dir(BwrapOption):
    dest: str
    perms: str = ""

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        out = ["--perms", self.perms] if self.perms else []
        return [*out, "--dir", self.dest]


@dataclass(frozen=True, slots=True)
class Symlink(BwrapOption):
    target: str
    dest: str

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--symlink", self.target, self.dest]


@dataclass(frozen=True, slots=True)
class RemountRo(BwrapOption):
    dest: str

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--remount-ro", self.dest]


@dataclass(frozen=True, slots=True)
class ProcMount(BwrapOption):
    dest: str = "/proc"

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--proc", self.dest]


@dataclass(frozen=True, slots=True)
class DevMount(BwrapOption):
    dest: str = "/dev"

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--dev", self.dest]


@dataclass(frozen=True, slots=True)
class Chdir(BwrapOption):
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

"""What every compiler step reads (:class:`Context`) and what each one returns (:class:`Part`).

A step is a pure function ``(Context, ...) -> Part``: the mounts it adds, in its own order,
with the data files they read, the environment and the warnings. :func:`assemble_mounts`
puts the steps' mounts in bwrap's order: parents before children (a later mount covers an
earlier one at the same place); among mounts of the same depth the steps' order is kept, so
a later policy layer wins.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from bwsandbox._record import field, record
from bwsandbox.compile._facts import HostFacts, Workspace
from bwsandbox.compile._options import BwrapOption, DataBind, FdRef, MountEntry, MountOption
from bwsandbox.compile._plan import DataFile, SandboxUser
from bwsandbox.policy import Policy, expand

__all__ = [
    "Context",
    "Part",
    "PartBuilder",
    "assemble_mounts",
    "make_context",
    "mount_table",
    "sandbox_user",
    "under",
    "variables_for",
]

_ROOT_UID = 1000  # the uid inside when invoked as root
_ROOT_USER = "agent"


def sandbox_user(policy: Policy, facts: HostFacts) -> SandboxUser:
    """Who runs inside: the caller (same name, uid, home path), or ``agent`` (1000) for root."""
    if facts.is_root:
        uid = policy.hardening.uid if policy.hardening.uid is not None else _ROOT_UID
        return SandboxUser(name=_ROOT_USER, uid=uid, gid=uid, home=f"/home/{_ROOT_USER}")
    uid = policy.hardening.uid if policy.hardening.uid is not None else facts.uid
    home = facts.home if facts.home not in ("", "/") else f"/home/{facts.user}"
    return SandboxUser(name=facts.user, uid=uid, gid=facts.gid, home=home)


def variables_for(facts: HostFacts, workspace: Workspace, user: SandboxUser) -> dict[str, str]:
    """The ``{name}`` variables policy paths and values may use."""
    return {
        "project": workspace.project,
        "home": user.home,
        "host_home": facts.home,
        "workdir": workspace.workdir,
        "client": workspace.client,
        "user": user.name,
        "uid": str(user.uid),
        "runtime_dir": facts.runtime_dir,
    }


def under(path: str, parent: str) -> bool:
    """``path`` is ``parent`` or below it (string test on normalised paths)."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


@record
class Context:
    """The compiler's inputs and what is derived from them once: the user, the variables."""

    policy: Policy
    facts: HostFacts
    workspace: Workspace
    user: SandboxUser
    variables: Mapping[str, str]
    #: sandbox paths ``filesystem.remove`` takes away (no step mounts there)
    removed: frozenset[str]

    def expand(self, template: str, where: str) -> str:
        """``template`` with its ``{variables}``; errors name ``where`` (a key path)."""
        return expand(template, self.variables, where=where)

    def path(self, template: str, where: str) -> str:
        """:meth:`expand`, normalised as a path."""
        return posixpath.normpath(self.expand(template, where))


def make_context(policy: Policy, facts: HostFacts, workspace: Workspace) -> Context:
    """The context of one compile: the sandbox's user, the variables, the removed paths."""
    user = sandbox_user(policy, facts)
    variables = variables_for(facts, workspace, user)
    removed = frozenset(
        posixpath.normpath(expand(template, variables, where="filesystem.remove"))
        for template in policy.filesystem.remove
    )
    return Context(policy, facts, workspace, user, variables, removed)


@record
class Part:
    """What one step adds to the plan."""

    #: options before the mounts (namespaces, fds, seccomp), in argv order
    options: tuple[BwrapOption, ...] = ()
    #: mounts in the step's order; each states its own mount-table entry
    mounts: tuple[MountOption, ...] = ()
    #: the content of the ``data:NAME`` files the options read, in order of creation
    data: tuple[DataFile, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()


@record(frozen=False)
class PartBuilder:
    """A step's scratch pad; :meth:`build` freezes it into a :class:`Part`."""

    options: list[BwrapOption] = field(default_factory=list)
    mounts: list[MountOption] = field(default_factory=list)
    data: list[DataFile] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def mount(self, *options: MountOption) -> None:
        self.mounts.extend(options)

    def data_file(self, name: str, content: bytes = b"", *, secret: bool = False) -> FdRef:
        """A new memory-backed file ``data:NAME`` (the runtime fills a pipe or memfd)."""
        ref = FdRef(f"data:{name}")
        self.data.append(DataFile(fd=ref, content=content, secret=secret))
        return ref

    def data_bind(
        self,
        name: str,
        content: bytes,
        dest: str,
        *,
        perms: str,
        secret: bool = False,
        origin: str = "",
    ) -> None:
        """A read-only file at ``dest`` with ``content`` (never written to disk)."""
        ref = self.data_file(name, content, secret=secret)
        self.mount(DataBind(ref, dest, perms=perms, origin=origin))

    def build(self) -> Part:
        return Part(
            tuple(self.options),
            tuple(self.mounts),
            tuple(self.data),
            tuple(self.env.items()),
            tuple(self.warnings),
        )


def _depth(path: str) -> int:
    return 0 if path == "/" else path.count("/")


def assemble_mounts(mounts: Iterable[MountOption]) -> tuple[MountOption, ...]:
    """Parents before children; at the same depth, the given order (a stable sort)."""
    return tuple(sorted(mounts, key=lambda option: _depth(option.dest)))


def mount_table(mounts: Iterable[MountOption]) -> tuple[MountEntry, ...]:
    """The visible paths, in mount order: each mount's own entry."""
    return tuple(entry for option in mounts if (entry := option.entry()) is not None)

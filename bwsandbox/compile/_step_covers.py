"""Step 5: masks and protections.

They apply only where the path is visible (inside a mount made by an earlier step), so they
never expose a host path by themselves. Pure functions; see :mod:`._context`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from bwsandbox._record import record
from bwsandbox.compile._context import Context, Part, PartBuilder, under
from bwsandbox.compile._facts import PathKind
from bwsandbox.compile._options import BindMount, RemountRo, TmpfsMount
from bwsandbox.compile._procfs import proc_mounts

__all__ = ["Protections", "kernel_covers", "masks", "protections"]


def kernel_covers(ctx: Context, visible: Sequence[str]) -> Part:
    """Read-only and masked kernel interfaces under /proc (and /sys if visible): :mod:`._procfs`."""
    part = PartBuilder()
    part.mount(*proc_mounts(ctx.facts, list(visible), part.data_file))
    return part.build()


def masks(ctx: Context, visible: Sequence[str]) -> Part:
    """``filesystem.mask``: an empty read-only dir or file over a visible path."""
    part = PartBuilder()
    for index, template in enumerate(ctx.policy.filesystem.mask):
        path = ctx.path(template, f"filesystem.mask[{index}]")
        info = ctx.facts.path(path)
        if path in ctx.removed or info is None or not any(under(path, v) for v in visible):
            continue
        if info.kind is PathKind.DIR:
            part.mount(TmpfsMount(path, perms="0755"), RemountRo(path))
        elif info.kind in (PathKind.FILE, PathKind.OTHER, PathKind.SYMLINK):
            part.data_bind(f"mask{index}", b"", path, perms="0444")
    return part.build()


@record
class Protections:
    """The covers step's result: its part, the protected paths and their placeholders."""

    part: Part
    #: host paths inside writable binds that are read-only for the session
    protected: tuple[str, ...]
    #: (path, "file" | "dir"): absent protected paths bwrap creates as empty placeholders
    placeholders: tuple[tuple[str, str], ...]


def protections(ctx: Context, rw_dests: Sequence[str]) -> Protections:
    """Read-only mounts for protected paths inside writable binds (``filesystem.protect``).

    - present file or dir: bound read-only onto itself;
    - symlink: its target is bound read-only (the link itself is checked after the session);
    - absent, parent present: an empty read-only placeholder (tmpfs dir or empty data file),
      so it cannot be created; bwrap makes the mount point, the runtime removes it after;
    - every directory between the writable bind and the path is bound onto itself, so it is a
      mount point that cannot be renamed away and replaced (``mv .git .git-old``).
    """
    facts = ctx.facts
    part = PartBuilder()
    protected: list[str] = []
    placeholders: list[tuple[str, str]] = []
    anchors: set[str] = set()
    for index, template in enumerate(ctx.policy.filesystem.protect):
        is_dir = template.endswith("/")
        path = ctx.path(template, f"filesystem.protect[{index}]")
        if path in ctx.removed:
            continue
        roots = [dest for dest in rw_dests if under(path, dest) and path != dest]
        if not roots:
            continue
        root = max(roots, key=len)
        protected.append(path)
        ancestor = posixpath.dirname(path)
        parent_present = ancestor == root
        while ancestor != root and under(ancestor, root):
            info = facts.path(ancestor)
            if info is None or info.kind is not PathKind.DIR:
                break
            parent_present = parent_present or ancestor == posixpath.dirname(path)
            if ancestor not in anchors:
                anchors.add(ancestor)
                part.mount(BindMount(ancestor, ancestor, readonly=False))
            ancestor = posixpath.dirname(ancestor)
        info = facts.path(path)
        if info is None or info.kind in (PathKind.FILE, PathKind.DIR, PathKind.SYMLINK):
            optional = info is None or info.kind is PathKind.SYMLINK
            part.mount(BindMount(path, path, optional=optional))
        elif info.kind is PathKind.MISSING and parent_present:
            if is_dir:
                part.mount(TmpfsMount(path, perms="0555"), RemountRo(path))
                placeholders.append((path, "dir"))
            else:
                part.data_bind(f"protect{index}", b"", path, perms="0444")
                placeholders.append((path, "file"))
    return Protections(part.build(), tuple(protected), tuple(placeholders))

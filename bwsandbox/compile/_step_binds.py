"""Step 4: the policy's binds and tmpfs mounts, and the host's GPUs when asked for.

Pure functions of the :class:`~._context.Context`; see :mod:`._context`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bwsandbox._errors import PolicyError
from bwsandbox._record import record
from bwsandbox.compile._context import Context, Part, PartBuilder
from bwsandbox.compile._facts import PathKind
from bwsandbox.compile._options import BindMount, MountEntry, MountKind, TmpfsMount

__all__ = ["Binds", "binds", "gpu"]


@record
class Binds:
    """The binds step's result: its part and where the sandbox may write."""

    part: Part
    #: sandbox paths bound writable (where protections apply)
    rw_dests: tuple[str, ...]


def binds(ctx: Context) -> Binds:
    """``filesystem.ro``, ``filesystem.rw`` (read-only wins at one place), ``filesystem.tmpfs``."""
    fs = ctx.policy.filesystem
    part = PartBuilder()
    rw_dests: list[str] = []
    ro_dests = {ctx.path(b.target, "filesystem.ro") for b in fs.ro}
    for kind, entries in ((MountKind.RO, fs.ro), (MountKind.RW, fs.rw)):
        for index, bind in enumerate(entries):
            where = f"filesystem.{kind.value}[{index}]"
            src = ctx.path(bind.src, where + ".src")
            dest = ctx.path(bind.target, where + ".dest")
            if dest in ctx.removed or (kind is MountKind.RW and dest in ro_dests):
                continue  # read-only wins when two layers name the same place
            info = ctx.facts.path(src)
            if info is not None and info.kind is PathKind.MISSING:
                if bind.optional:
                    continue
                sources = ctx.policy.sources
                raise PolicyError(
                    f"bind source {src} does not exist",
                    file=sources[-1] if sources else None,
                    key=where,
                    hint="create it, or mark the bind optional = true",
                )
            readonly = kind is MountKind.RO
            if not readonly:
                rw_dests.append(dest)
            optional = bind.optional and info is None
            part.mount(BindMount(src, dest, readonly=readonly, optional=optional))
    for index, template in enumerate(fs.tmpfs):
        dest = ctx.path(template, f"filesystem.tmpfs[{index}]")
        if dest not in ctx.removed:
            part.mount(TmpfsMount(dest))
    return Binds(part.build(), tuple(rw_dests))


def gpu(ctx: Context, table: Sequence[MountEntry]) -> Part:
    """Host GPUs (``devices.gpu``, :mod:`._gpu`): device nodes, and the driver files that
    ``table`` (the mounts so far, in order) does not already show."""
    if not ctx.policy.devices.gpu:
        return Part()
    from bwsandbox.compile._gpu import gpu_mounts  # only with --gpu

    return Part(mounts=tuple(gpu_mounts(ctx.facts.gpu, table)))

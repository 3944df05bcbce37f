"""GPU access (``devices.gpu``, ``--gpu``): the mounts that give a sandbox the host's GPUs.

Pure, like the rest of the compiler: what exists on the host comes in :class:`GpuFacts`
(probed by ``runtime._gpu``). What is added, on top of bwrap's minimal ``/dev``:

- every device node found, with ``--dev-bind`` (a device node needs the ``dev`` mount flag to
  be usable; it cannot be read-only in any useful way: CUDA and Vulkan open it read-write):
  ``/dev/nvidia0``.., ``/dev/nvidiactl``, ``/dev/nvidia-uvm``, ``/dev/nvidia-uvm-tools``,
  ``/dev/nvidia-modeset``, the ``/dev/nvidia-caps`` directory, and the DRI render nodes
  ``/dev/dri/renderD*`` (never the ``card*`` nodes, which can drive displays);
- the driver's user-space libraries and ``nvidia-smi``, read-only, where the sandbox does not
  already see them at the same path (on most distributions they live under ``/usr``, which is
  bound anyway; NixOS keeps them in ``/run/opengl-driver``).

No GPU device on the host is an error (``DependencyError``, exit 125): asking for a GPU and
silently getting none would hide the problem until the job runs on the CPU, or fails later.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

from bwsandbox._errors import DependencyError
from bwsandbox._record import record
from bwsandbox.compile._context import under
from bwsandbox.compile._facts import GpuFacts
from bwsandbox.compile._options import BindMount, FdRef, MountEntry, MountKind, MountOption

__all__ = ["DevBind", "gpu_mounts"]


@record
class DevBind(MountOption):
    """``--dev-bind SRC DEST``: a bind that keeps device nodes usable."""

    src: str
    dest: str

    def entry(self) -> MountEntry:
        return MountEntry(self.dest, MountKind.DEV, self.src)

    def render(self, fds: Mapping[FdRef, int] | None = None) -> list[str]:
        return ["--dev-bind", self.src, self.dest]


def _seen_at_same_path(path: str, mounts: Sequence[MountEntry]) -> bool:
    """True when the sandbox already shows host ``path`` at ``path``, read-only.

    The deepest mount covering ``path`` decides; a symlink of the root layout (``/lib`` ->
    ``usr/lib``) is followed once.
    """
    for _ in range(2):
        covering = [entry for entry in mounts if under(path, entry.dest)]
        if not covering:
            return False
        entry = max(covering, key=lambda e: len(e.dest))
        if entry.kind is MountKind.SYMLINK:
            rest = path[len(entry.dest) :]
            target = posixpath.join(posixpath.dirname(entry.dest), entry.src)
            path = posixpath.normpath(target + rest)
            continue
        return entry.kind is MountKind.RO and entry.src == entry.dest
    return False


def gpu_mounts(gpu: GpuFacts, mounts: Sequence[MountEntry]) -> list[MountOption]:
    """The device binds and file binds for ``gpu``, given the mounts planned so far."""
    if not gpu.devices:
        raise DependencyError(
            "--gpu (devices.gpu) was asked for, but this host has no GPU device "
            "(no /dev/nvidia*, no /dev/dri/renderD*)",
            hint="load the GPU driver, or run without --gpu",
        )
    out: list[MountOption] = [DevBind(path, path) for path in gpu.devices]
    out += [
        BindMount(path, path, optional=True)
        for path in (*gpu.libraries, *gpu.binaries)
        if _normal(path) and not _seen_at_same_path(path, mounts)
    ]
    return out


def _normal(path: str) -> bool:
    """An absolute path with no ``.``, ``..`` or empty part, and not ``/``: the probe gives
    real paths; anything else (``/usr/..`` is the host's root) is never bound."""
    return path.startswith("/") and path != "/" and posixpath.normpath(path) == path

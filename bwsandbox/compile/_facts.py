"""Inputs of the compiler besides the policy: host facts (probed once) and the workspace.

Both are plain values. :func:`bwsandbox.runtime.probe_host` fills :class:`HostFacts` from the
real host; tests build them by hand (see ``tests/golden``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from bwsandbox._record import field, record

__all__ = ["GitFacts", "GpuFacts", "HostFacts", "PathInfo", "PathKind", "Workspace"]


class PathKind(enum.StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"  # sockets, devices, fifos
    MISSING = "missing"


@record
class PathInfo:
    """What the probe saw at one host path (``lstat``, not following the last symlink)."""

    kind: PathKind
    target: str = ""  # symlink target as read by readlink, when kind is SYMLINK


@record
class GitFacts:
    """What the host's global git config says that the sandbox may use (data only)."""

    name: str = ""  # user.name ("" when unset or refused)
    email: str = ""  # user.email
    excludes: bytes = b""  # the content of the global ignore file (core.excludesFile)
    #: files read (or looked for) to find these: the plan cache depends on them
    sources: tuple[str, ...] = ()
    #: why a value was not used (a control character...), for the plan's warnings
    refused: tuple[str, ...] = ()


@record
class GpuFacts:
    """The host's GPU devices and driver files (``runtime._gpu``); used only with ``--gpu``.

    Paths are absolute host paths, sorted; libraries and binaries are looked for only when an
    NVIDIA device node exists.
    """

    #: device nodes: /dev/nvidia0.., nvidiactl, nvidia-uvm(-tools), nvidia-modeset, the
    #: nvidia-caps dir, and the DRI render nodes /dev/dri/renderD*
    devices: tuple[str, ...] = ()
    #: the driver's user-space libraries (libcuda.so*, libnvidia-*.so*)
    libraries: tuple[str, ...] = ()
    #: nvidia-smi
    binaries: tuple[str, ...] = ()


def _empty() -> Mapping[str, PathInfo]:
    return MappingProxyType({})


@record
class HostFacts:
    """Everything the compiler needs to know about the host, probed once."""

    bwrap: str  # absolute path of the bwrap binary
    uid: int
    gid: int
    user: str
    home: str  # the invoking user's home on the host
    tmpdir: str  # where session work dirs are created
    runtime_dir: str  # XDG_RUNTIME_DIR or a private fallback
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: lstat results for every host path the policy and the compiler care about
    paths: Mapping[str, PathInfo] = field(default_factory=_empty)
    #: the host's git identity and ignore patterns (see runtime._gitconfig)
    git: GitFacts = field(default_factory=GitFacts)
    #: GPU device nodes and driver files (see runtime._gpu)
    gpu: GpuFacts = field(default_factory=GpuFacts)

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def path(self, path: str) -> PathInfo | None:
        """The probed kind of ``path``; None when it was not probed."""
        return self.paths.get(path)


@record
class Workspace:
    """This session: the project, the work dir, the client, the command."""

    project: str  # absolute, resolved
    workdir: str  # the session's work dir on the host (contains tmp/ and home/)
    session_id: str
    client: str = "default"
    command: tuple[str, ...] = ()  # empty: the policy's default command
    interactive: bool = False  # the runtime gives the sandbox a private pty
    extra_env: tuple[tuple[str, str], ...] = ()  # set by the runtime (e.g. network proxy)

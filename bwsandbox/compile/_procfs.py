"""Read-only and masked kernel interfaces under ``/proc`` (and ``/sys`` when a policy binds it).

Why this exists: bwrap 0.8 covers ``/proc/sys``, ``/proc/sysrq-trigger``, ``/proc/irq`` and
``/proc/bus`` read-only only when ``access(path, W_OK)`` succeeds at set-up time. Started as
root, the sandbox's uid maps to host uid 0, ``/proc/sys`` is mode 0555 so the check fails and
the cover is skipped; yet the kernel's sysctl permission check compares only the euid with
global root, so ``kernel.core_pattern`` (a program the kernel runs as real root on the host)
was writable inside. Nothing here depends on bwrap's own covers any more.

The lists are the OCI runtimes' defaults, taken from the sources:

- read-only: runc ``libcontainer/specconv/example.go`` ``ReadonlyPaths`` (the same five paths
  in moby ``oci/defaults.go`` and Podman/containers-common);
- masked: runc's ``MaskedPaths`` there, plus ``/proc/interrupts`` and
  ``/sys/devices/virtual/powercap`` from moby ``oci/defaults.go`` (Docker's list; Kubernetes'
  ``DefaultProcMount`` is the same), plus our own additions (:data:`OUR_MASKED`:
  ``/proc/cmdline`` and what only root may read).

How, with bwrap 0.8 (checked as root and as an ordinary user):

- read-only: ``--ro-bind /proc/X /proc/X`` after ``--proc /proc``. bwrap takes bind sources
  from the host's root, so this binds the *host's* procfs view of ``X``; for these paths that
  is the same content (the sysctl tree is resolved against the *caller's* namespaces at each
  lookup: ``net.*``, ``kernel.hostname``, ``kernel.ns_last_pid`` still show the sandbox's
  own), and bwrap's ``--remount-ro`` cannot make a non-mount-point read-only;
- masked file: an empty read-only data file (``--ro-bind-data``, mode 0444) - not
  ``/dev/null`` as runc does: bwrap binds with ``nodev``, so a device there would answer
  ``EACCES`` while ``access()`` still says writable;
- masked directory: an empty ``--tmpfs`` then ``--remount-ro``.

bwrap cannot mount onto a path that does not exist (procfs cannot create it), so only the
paths the probe found on the host are covered (:func:`proc_paths_to_probe` feeds
``paths_to_probe``; the compiler stays pure). A path absent from the host's ``/proc`` is
absent from the sandbox's too (same kernel).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bwsandbox._errors import DependencyError
from bwsandbox.compile._context import under
from bwsandbox.compile._facts import HostFacts, PathKind
from bwsandbox.compile._options import (
    BindMount,
    DataBind,
    FdRef,
    MountOption,
    RemountRo,
    TmpfsMount,
)

__all__ = [
    "OUR_MASKED",
    "RUNTIME_MASKED",
    "RUNTIME_READONLY",
    "SYS_MASKED",
    "proc_mounts",
    "proc_paths_to_probe",
]

#: runc ``ReadonlyPaths`` (= moby, Podman): bound read-only over the sandbox's own /proc
RUNTIME_READONLY: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

#: runc ``MaskedPaths`` (/proc part) plus moby's ``/proc/interrupts``
RUNTIME_MASKED: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
)

#: Masked beyond the runtimes (found by ``tests/sandbox/test_audit_surface.py``):
#:
#: - ``/proc/cmdline``: the host kernel's command line (boot device, disk-encryption and
#:   network-boot parameters, sometimes tokens, and which hardening is on or off: a map for
#:   a kernel exploit); nothing an agent runs needs it;
#: - the entries only root may read on the host (mode 0400/0500 or a root-only write):
#:   a root-started sandbox runs as host uid 0 and would read them, an ordinary user's never
#:   can. Physical page flags and counts (``kpage*``: the raw material of Rowhammer-style
#:   attacks), the kernel heap's layout (``slabinfo``, ``vmallocinfo``, ``pagetypeinfo``),
#:   physical memory map and MTRRs (``iomem``, ``mtrr``: root-writable by mode), serial
#:   port details (``tty/driver``).
OUR_MASKED: tuple[str, ...] = (
    "/proc/cmdline",
    "/proc/kpagecgroup",
    "/proc/kpagecount",
    "/proc/kpageflags",
    "/proc/slabinfo",
    "/proc/vmallocinfo",
    "/proc/pagetypeinfo",
    "/proc/iomem",
    "/proc/mtrr",
    "/proc/tty/driver",
)

#: runc ``MaskedPaths`` (/sys part) plus moby's powercap: applied only when a policy makes
#: ``/sys`` (or a parent of these) visible; no shipped policy binds ``/sys``.
SYS_MASKED: tuple[str, ...] = (
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/devices/virtual/tpm",
)


def proc_paths_to_probe() -> tuple[str, ...]:
    """Host paths whose kind decides which covers apply."""
    return (*RUNTIME_READONLY, *RUNTIME_MASKED, *OUR_MASKED, *SYS_MASKED)


def proc_mounts(
    facts: HostFacts,
    visible: list[str],
    data_file: Callable[[str, bytes], FdRef],
) -> Iterator[MountOption]:
    """The covers, in order; ``visible``: sandbox paths already mounted (for ``/sys``).

    Started as root, a host ``/proc`` without ``/proc/sys`` (``subset=pid``, an odd
    container) would leave the sandbox's own ``/proc/sys`` writable as host uid 0 with
    nothing to cover it from: that fails closed.
    """
    sysctl = facts.path("/proc/sys")
    if facts.is_root and sysctl is not None and sysctl.kind is not PathKind.DIR:
        raise DependencyError(
            "the host's /proc has no sys/ directory to cover the sandbox's /proc/sys with",
            hint="mount /proc without subset=pid, or start agent-sandbox as an ordinary user",
        )
    for path in RUNTIME_READONLY:
        info = facts.path(path)
        if info is not None and info.kind in (PathKind.DIR, PathKind.FILE, PathKind.OTHER):
            yield BindMount(path, path)
    sys_visible = [p for p in SYS_MASKED if any(under(p, v) for v in visible)]
    for path in (*RUNTIME_MASKED, *OUR_MASKED, *sys_visible):
        info = facts.path(path)
        if info is None:
            continue
        if info.kind is PathKind.DIR:
            yield TmpfsMount(path, perms="0555")
            yield RemountRo(path)
        elif info.kind in (PathKind.FILE, PathKind.OTHER):
            name = "mask:" + path.removeprefix("/").replace("/", "-")
            ref = data_file(name, b"")
            yield DataBind(ref, path, perms="0444")

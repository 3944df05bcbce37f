"""Resource limits for one sandbox: a cgroup when this user can make one, else rlimits.

How each limit is enforced, best first:

- **memory, pids, cpu** in a cgroup made for the session (the whole sandbox counts), when
  the host lets this user make one: cgroup v2 (a writable cgroup whose subtree has the
  controllers) or, for root on a hybrid host, the v1 hierarchies of those controllers;
- otherwise rlimits set on the sandbox's first process (``prlimit``) before it is released,
  so everything in the sandbox inherits them: memory as ``RLIMIT_DATA`` *per process*;
  pids as ``RLIMIT_NPROC``, which the kernel counts per user namespace, so it bounds the
  sandbox's processes and nothing else, except for root: the kernel never applies
  ``RLIMIT_NPROC`` to host uid 0 (and a sandbox started by root runs as host uid 0);
  cpu has no rlimit equivalent (``RLIMIT_CPU`` is CPU time, not cores): not enforced;
- **fsize**, **nofile**: always rlimits (``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``), per process;
- **timeout**: the supervisor (``Sandbox.wait``): TERM, then KILL; exit status 124.

:func:`enforcement` says which of these applies on this host (``explain``, ``doctor``);
:func:`apply_limits` applies them to a sandbox held on its block fd.
"""

# os-level on purpose: cgroup files are plain files in directories we create
# ruff: noqa: PTH102, PTH106, PTH118, PTH123

from __future__ import annotations

import contextlib
import os
import re
import resource
import time

from bwsandbox._errors import DependencyError, LaunchError
from bwsandbox._record import record
from bwsandbox.compile import ResourceLimits

__all__ = [
    "AppliedLimits",
    "CgroupSupport",
    "Enforcement",
    "apply_limits",
    "enforcement",
    "format_size",
    "is_host_root",
    "probe_cgroups",
    "refuse_unenforceable",
    "unenforced",
]

_CPU_PERIOD = 100_000  # microseconds
_CONTROLLERS = ("memory", "pids", "cpu")
_V1_FILES = {"memory": "memory.limit_in_bytes", "pids": "pids.max", "cpu": "cpu.cfs_quota_us"}


@record
class CgroupSupport:
    """Where this process may create a session cgroup, per controller (empty: nowhere)."""

    version: int  # 2, 1, or 0 (none usable)
    #: controller -> the directory new session cgroups go under
    parents: tuple[tuple[str, str], ...] = ()
    reason: str = ""  # why not, when version is 0

    def parent(self, controller: str) -> str | None:
        return dict(self.parents).get(controller)


@record
class Enforcement:
    """How one limit is enforced here: ``how`` is shown by explain and doctor."""

    limit: str
    value: str
    how: str
    enforced: bool


def format_size(size: int) -> str:
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return str(size)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def is_host_root() -> bool:
    """Whether this process is root of the initial user namespace (host uid 0).

    Only that root is exempt from ``RLIMIT_NPROC``; root in a rootless container (uid 0 in a
    user namespace, an ordinary uid on the host) is limited like anyone else.
    """
    if os.geteuid() != 0:
        return False
    fields = _read("/proc/self/uid_map").split()
    return fields[:3] == ["0", "0", "4294967295"] or not fields


def _mounts() -> dict[str, tuple[str, str]]:
    """cgroup mounts: ``"2"`` -> the v2 mount, v1 controller name -> its mount; each as
    ``(mount point, root)``, the root being the cgroup the mount shows (mountinfo's 4th field:
    ``/`` on a host, the container's own cgroup when an engine bind-mounts it)."""
    found: dict[str, tuple[str, str]] = {}
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        mount = (_unescape(fields[4]), _unescape(fields[3]))
        if extra[0] == "cgroup2":
            found.setdefault("2", mount)
        elif extra[0] == "cgroup":
            for option in extra[2].split(","):
                if option in _CONTROLLERS:
                    found.setdefault(option, mount)
    return found


def _unescape(text: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def cgroup_dir(mount: tuple[str, str], own: str) -> str | None:
    """Where this process's cgroup ``own`` (from /proc/self/cgroup) is under ``mount``.

    The mount shows the hierarchy from its root down, so ``own`` must lie under that root;
    when it does not (another cgroup's subtree is mounted here) there is no such directory.
    """
    point, root = mount
    root = root.rstrip("/")
    if own != root and not own.startswith(root + "/"):
        return None
    return os.path.join(point, own[len(root) :].lstrip("/")).rstrip("/") or "/"


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path: ``"2"`` -> v2 path, v1 controller -> its path."""
    own: dict[str, str] = {}
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:
            own["2"] = path
        for name in controllers.split(","):
            if name in _CONTROLLERS:
                own[name] = path
    return own


def probe_cgroups() -> CgroupSupport:
    """Whether (and where) this process can create a cgroup with the limit controllers."""
    mounts, own = _mounts(), _own_cgroups()
    base = cgroup_dir(mounts["2"], own["2"]) if "2" in mounts and "2" in own else None
    if base is not None:
        enabled = _read(os.path.join(base, "cgroup.subtree_control")).split()
        usable = [name for name in _CONTROLLERS if name in enabled]
        if usable and os.access(base, os.W_OK):
            return CgroupSupport(2, tuple((name, base) for name in usable))
    v1 = [
        (name, cgroup_dir(mounts[name], own[name]))
        for name in _CONTROLLERS
        if name in mounts and name in own
    ]
    usable_v1 = [(name, path) for name, path in v1 if path and os.access(path, os.W_OK)]
    if usable_v1:
        return CgroupSupport(1, tuple(usable_v1))
    v2_mount = mounts.get("2", ("/sys/fs/cgroup", "/"))[0]
    available = _read(os.path.join(v2_mount, "cgroup.controllers"))
    return CgroupSupport(
        0,
        reason=(
            "no cgroup this user may create with the memory/pids/cpu controllers "
            f"(cgroup v2 controllers here: {available or 'none'}; no delegated subtree)"
        ),
    )


def enforcement(
    limits: ResourceLimits, *, is_root: bool, cgroups: CgroupSupport | None = None
) -> list[Enforcement]:
    """How each set limit is (or is not) enforced on this host."""
    support = probe_cgroups() if cgroups is None else cgroups
    out: list[Enforcement] = []

    def cgroup(name: str) -> str | None:
        if support.parent(name) is None:
            return None
        return f"cgroup v{support.version} {name} controller (the whole sandbox)"

    if limits.memory is not None:
        memory = cgroup("memory") or "rlimit RLIMIT_DATA (per process, not the sandbox total)"
        out.append(Enforcement("memory", format_size(limits.memory), memory, True))
    if limits.cpu is not None:
        cpu = cgroup("cpu")
        text = cpu or f"not enforced: needs a cgroup ({support.reason or 'no cpu controller'})"
        out.append(Enforcement("cpu", f"{limits.cpu:g} cores", text, cpu is not None))
    if limits.pids is not None:
        pids = cgroup("pids")
        if pids is None and is_root:
            text = "not enforced: RLIMIT_NPROC never applies to root, and no pids cgroup"
        else:
            text = pids or "rlimit RLIMIT_NPROC (counted per user namespace: this sandbox)"
        out.append(Enforcement("pids", str(limits.pids), text, pids is not None or not is_root))
    if limits.fsize is not None:
        out.append(Enforcement("fsize", format_size(limits.fsize), "rlimit RLIMIT_FSIZE", True))
    if limits.nofile is not None:
        out.append(Enforcement("nofile", str(limits.nofile), "rlimit RLIMIT_NOFILE", True))
    if limits.timeout is not None:
        how = "supervisor: TERM, then KILL after a grace period; exit status 124"
        out.append(Enforcement("timeout", f"{limits.timeout:g}s", how, True))
    return out


class AppliedLimits:
    """Limits applied to one sandbox; :meth:`close` removes its cgroups (after it exits)."""

    def __init__(self, records: list[Enforcement], cgroup_dirs: list[str]) -> None:
        self.records = records
        self.cgroup_dirs = cgroup_dirs

    def close(self, patience: float = 2.0) -> None:
        """Remove the session cgroups; they empty as the sandbox's processes are reaped."""
        deadline = time.monotonic() + patience
        for path in self.cgroup_dirs:
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        raise LaunchError(f"cannot remove cgroup {path}: {exc.strerror}") from exc
                    time.sleep(0.01)
        self.cgroup_dirs = []


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def _cgroup_settings(limits: ResourceLimits, version: int) -> dict[str, tuple[str, str]]:
    """controller -> (file, value) for the limits that are set."""
    settings: dict[str, tuple[str, str]] = {}
    if limits.memory is not None:
        name = "memory.max" if version == 2 else _V1_FILES["memory"]
        settings["memory"] = (name, str(limits.memory))
    if limits.pids is not None:
        settings["pids"] = ("pids.max", str(limits.pids))
    if limits.cpu is not None:
        quota = max(1000, int(limits.cpu * _CPU_PERIOD))
        if version == 2:
            settings["cpu"] = ("cpu.max", f"{quota} {_CPU_PERIOD}")
        else:
            settings["cpu"] = (_V1_FILES["cpu"], str(quota))
    return settings


def _make_cgroups(
    limits: ResourceLimits, support: CgroupSupport, pid: int, session: str
) -> tuple[list[str], set[str]]:
    """Create, configure and join the session cgroups; (their dirs, controllers covered)."""
    made: list[str] = []
    covered: set[str] = set()
    settings = _cgroup_settings(limits, support.version)
    by_dir: dict[str, list[tuple[str, str, str]]] = {}
    for controller, (name, value) in settings.items():
        parent = support.parent(controller)
        if parent is not None:
            path = os.path.join(parent, f"bwsandbox-{session}")
            by_dir.setdefault(path, []).append((controller, name, value))
    try:
        for path, items in by_dir.items():
            os.mkdir(path, 0o755)
            made.append(path)
            for controller, name, value in items:
                if support.version == 1 and controller == "cpu":
                    _write(os.path.join(path, "cpu.cfs_period_us"), str(_CPU_PERIOD))
                _write(os.path.join(path, name), value)
                covered.add(controller)
            if support.version == 2 and "memory" in {c for c, _, _ in items}:
                with contextlib.suppress(OSError):  # no swap accounting: nothing to cap
                    _write(os.path.join(path, "memory.swap.max"), "0")
            _write(os.path.join(path, "cgroup.procs"), str(pid))
    except OSError as exc:
        AppliedLimits([], made).close(patience=0.5)
        raise LaunchError(
            f"cannot set up the session cgroup: {exc.strerror}",
            hint="check `agent-sandbox doctor`",
        ) from exc
    return made, covered


def unenforced(records: list[Enforcement]) -> list[Enforcement]:
    """The set limits this host cannot enforce."""
    return [record for record in records if not record.enforced]


def refuse_unenforceable(limits: ResourceLimits, records: list[Enforcement]) -> None:
    """A limit that cannot be enforced never passes silently: refuse unless not strict."""
    missing = unenforced(records)
    if not missing or not limits.strict:
        return
    names = ", ".join(f"{r.limit} {r.value}" for r in missing)
    raise DependencyError(
        f"cannot enforce {names} on this host: {missing[0].how}",
        hint=(
            "drop the limit, run where this user has a cgroup with the controller "
            "(e.g. systemd-run --user --scope -p Delegate=yes ...), or set "
            "`strict = false` under [limits] to start anyway with a warning"
        ),
    )


def apply_limits(
    limits: ResourceLimits,
    pid: int,
    *,
    session: str,
    is_root: bool,
    cgroups: CgroupSupport | None = None,
) -> AppliedLimits:
    """Apply ``limits`` to the sandbox whose first process is ``pid`` (not yet released)."""
    support = probe_cgroups() if cgroups is None else cgroups
    records = enforcement(limits, is_root=is_root, cgroups=support)
    refuse_unenforceable(limits, records)
    made, covered = _make_cgroups(limits, support, pid, session)
    rlimits: list[tuple[int, int]] = []
    if limits.memory is not None and "memory" not in covered:
        rlimits.append((resource.RLIMIT_DATA, limits.memory))
    if limits.pids is not None and "pids" not in covered and not is_root:
        rlimits.append((resource.RLIMIT_NPROC, limits.pids))
    if limits.fsize is not None:
        rlimits.append((resource.RLIMIT_FSIZE, limits.fsize))
    if limits.nofile is not None:
        rlimits.append((resource.RLIMIT_NOFILE, limits.nofile))
    try:
        for which, value in rlimits:
            resource.prlimit(pid, which, (value, value))
    except (OSError, ValueError) as exc:
        AppliedLimits([], made).close(patience=0.5)
        raise LaunchError(f"cannot set resource limits on the sandbox: {exc}") from exc
    return AppliedLimits(records, made)

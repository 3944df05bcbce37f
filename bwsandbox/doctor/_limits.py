"""``doctor`` checks for resource limits and the syscall filter on the real host."""

from __future__ import annotations

import os

from bwsandbox.compile import ResourceLimits
from bwsandbox.doctor._model import Check, Status
from bwsandbox.runtime import CgroupSupport, enforcement, is_host_root, probe_cgroups

__all__ = ["limit_checks"]

#: CPU architectures the syscall filter has tables for (others: see docs/seccomp.md)
SECCOMP_MACHINES = ("x86_64", "aarch64")
_EXAMPLE = ResourceLimits(memory=1 << 30, cpu=1.0, pids=512, fsize=1 << 30, nofile=1024)


def limit_checks(
    *, cgroups: CgroupSupport | None = None, is_root: bool | None = None, machine: str = ""
) -> list[Check]:
    """One check per limit (how it would be enforced for this user), and one for seccomp."""
    support = probe_cgroups() if cgroups is None else cgroups
    root = is_host_root() if is_root is None else is_root
    checks: list[Check] = []
    for record in enforcement(_EXAMPLE, is_root=root, cgroups=support):
        weak = not record.enforced or "per process" in record.how
        status = Status.WARN if weak else Status.OK
        fix: tuple[str, ...] = ()
        if weak and support.version == 0:
            fix = ("whole-sandbox limits need a cgroup; none here, so rlimits where they can",)
        checks.append(Check(f"limit {record.limit}", status, record.how, fix))
    machine = machine or os.uname().machine
    if machine in SECCOMP_MACHINES:
        checks.append(Check("seccomp", Status.OK, f"syscall filter tables for {machine}"))
    else:
        checks.append(
            Check(
                "seccomp",
                Status.FAIL,
                f"no syscall filter tables for {machine}: every syscall would fail with ENOSYS",
                ("set enabled = false under [seccomp] in a policy (and report the host)",),
            )
        )
    return checks

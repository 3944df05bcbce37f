"""Host checks behind ``agent-sandbox doctor``: structured results, no printing.

:func:`diagnose` runs every check through a :class:`HostProbe` (the real host by default,
a fake in tests) and returns a :class:`Diagnosis`. Each :class:`Check` says what was seen,
whether it matters (``ok``, ``warn``, ``fail``, ``info``) and, when something is wrong, the
exact command that fixes it. The sandbox works when no check failed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from bwsandbox.doctor._model import Check, Diagnosis, HostProbe, Status
from bwsandbox.doctor._sandbox import FEATURES, container_engine, fix_for, probe_sandbox
from bwsandbox.runtime import install_command

__all__ = ["RealHost", "apparmor_profile", "diagnose"]

MIN_BWRAP = (0, 8, 0)  # --disable-userns, --size, --perms


class RealHost:
    def __init__(self) -> None:
        self.uid = os.getuid()

    def read(self, path: str) -> str | None:
        try:
            with Path(path).open(encoding="utf-8", errors="replace") as file:
                return file.read(65536).strip()
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def writable(self, path: str) -> bool:
        return os.access(path, os.W_OK)

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def run(self, argv: list[str]) -> tuple[int, str]:
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return 127, str(exc)
        return done.returncode, (done.stderr + done.stdout).strip()

    def has_library(self, soname: str) -> bool:
        import ctypes

        try:
            ctypes.CDLL(soname)
        except OSError:
            return False
        return True


def apparmor_profile(bwrap: str) -> str:
    """An AppArmor profile that lets ``bwrap`` (only) create user namespaces on Ubuntu."""
    return (
        "abi <abi/4.0>,\n"
        "include <tunables/global>\n"
        f"profile bwrap {bwrap} flags=(unconfined) {{\n"
        "  userns,\n"
        "  include if exists <local/bwrap>\n"
        "}\n"
    )


def _parse_version(text: str) -> tuple[int, ...]:
    words = text.split()
    word = words[-1] if words else ""
    parts: list[int] = []
    for piece in word.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _check_bwrap(host: HostProbe) -> tuple[Check, str | None]:
    path = host.which("bwrap")
    install = (f"install it: {install_command()}",)
    if path is None:
        return Check("bwrap", Status.FAIL, "bwrap not found on PATH", install), None
    status, out = host.run([path, "--version"])
    version = _parse_version(out) if status == 0 else ()
    if not version:
        return Check("bwrap", Status.FAIL, f"{path} --version failed: {out}", install), None
    shown = ".".join(map(str, version))
    if version < MIN_BWRAP:
        need = ".".join(map(str, MIN_BWRAP))
        return Check("bwrap", Status.FAIL, f"{path} is {shown}; need {need} or newer", install), (
            None
        )
    return Check("bwrap", Status.OK, f"{path} (bubblewrap {shown})"), path


def _userns_fix(host: HostProbe, bwrap: str) -> tuple[str, ...]:
    fix: list[str] = []
    if host.read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        lines = " ".join(shlex.quote(line) for line in apparmor_profile(bwrap).splitlines())
        fix += [
            (
                "AppArmor restricts unprivileged user namespaces "
                "(kernel.apparmor_restrict_unprivileged_userns=1, Ubuntu 23.10+)."
            ),
            "Fix (recommended, only bwrap gets user namespaces): install an AppArmor profile:",
            f"  printf '%s\\n' {lines} | sudo tee /etc/apparmor.d/bwrap >/dev/null",
            "  sudo apparmor_parser -r /etc/apparmor.d/bwrap",
            (
                "Or (every program gets unprivileged user namespaces again; lost at reboot "
                "unless written to /etc/sysctl.d/):"
            ),
            "  sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        ]
    if host.read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        fix += [
            "kernel.unprivileged_userns_clone=0 disables unprivileged user namespaces. Fix:",
            "  sudo sysctl -w kernel.unprivileged_userns_clone=1",
        ]
    if host.read("/proc/sys/user/max_user_namespaces") == "0":
        fix += [
            "user.max_user_namespaces=0 disables user namespaces. Fix:",
            "  sudo sysctl -w user.max_user_namespaces=15000",
        ]
    return tuple(fix)


def _check_userns(host: HostProbe, bwrap: str | None) -> Check:
    if bwrap is None:
        return Check("user namespaces", Status.FAIL, "not tested: bwrap is missing")
    status, out = host.run([bwrap, "--unshare-user", "--ro-bind", "/", "/", "true"])
    if status == 0:
        who = "as root" if host.uid == 0 else "as an ordinary user"
        return Check("user namespaces", Status.OK, f"bwrap --unshare-user works {who}")
    fix = _userns_fix(host, bwrap)
    engine = container_engine(host)
    if not fix and engine:
        # the host's sysctls allow it: in a container, the engine's seccomp profile refuses it
        fix = (
            f"bwrap said: {out}",
            f"inside a {engine} container the engine's seccomp profile refuses new namespaces:",
            f"  {fix_for(FEATURES[0], engine)}",
        )
    return Check(
        "user namespaces",
        Status.FAIL,
        "bwrap cannot create a user namespace",
        fix or (f"bwrap said: {out}",),
    )


def _check_full_sandbox(host: HostProbe, bwrap: str | None) -> Check:
    """The bwrap features a real ``run`` uses, all at once, then one by one on failure."""
    if bwrap is None:
        return Check("sandbox", Status.FAIL, "not tested: bwrap is missing")
    probe = probe_sandbox(host, bwrap)
    where = f" (in a {probe.engine} container)" if probe.engine else ""
    if probe.works:
        return Check(
            "sandbox",
            Status.OK,
            f"all namespaces, hostname, no capabilities, own /proc and /dev{where}",
        )
    fix: list[str] = []
    for feature, said, remedy in probe.refused:
        fix += [f"{feature}: refused ({said or 'no message'})", f"  {remedy}"]
    if not fix:
        fix = [f"bwrap said: {probe.output}"]
    names = ", ".join(feature for feature, _, _ in probe.refused) or "see below"
    return Check(
        "sandbox", Status.FAIL, f"a hardened bwrap sandbox fails{where}: {names}", tuple(fix)
    )


def _check_sysctls(host: HostProbe) -> list[Check]:
    checks: list[Check] = []
    clone = host.read("/proc/sys/kernel/unprivileged_userns_clone")
    if clone is not None:
        status = Status.OK if clone == "1" else Status.WARN
        checks.append(Check("kernel.unprivileged_userns_clone", status, clone))
    limit = host.read("/proc/sys/user/max_user_namespaces")
    if limit is not None:
        status = Status.WARN if limit == "0" else Status.OK
        checks.append(Check("user.max_user_namespaces", status, limit))
    restrict = host.read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if restrict is not None:
        status = Status.WARN if restrict == "1" else Status.OK
        checks.append(Check("kernel.apparmor_restrict_unprivileged_userns", status, restrict))
    return checks


def _own_cgroup(host: HostProbe) -> str | None:
    text = host.read("/proc/self/cgroup") or ""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:] or "/"
    return None


def _check_cgroup(host: HostProbe) -> Check:
    name = "cgroup v2"
    if host.exists("/sys/fs/cgroup/cgroup.controllers"):
        root = "/sys/fs/cgroup"
    elif host.exists("/sys/fs/cgroup/unified/cgroup.controllers"):
        return Check(
            name,
            Status.WARN,
            "hybrid hierarchy (v1 controllers): see the 'limit' checks for what applies",
        )
    else:
        return Check(name, Status.WARN, "not mounted: resource limits will not be available")
    own = _own_cgroup(host)
    if own is None:
        return Check(name, Status.WARN, "mounted, but this process is not in a v2 cgroup")
    path = Path(root, own.lstrip("/"))
    controllers = host.read(str(path / "cgroup.controllers")) or "none"
    if host.writable(str(path / "cgroup.procs")):
        return Check(name, Status.OK, f"delegated {own} (controllers: {controllers})")
    return Check(
        name,
        Status.WARN,
        f"{own} is not delegated to this user: resource limits will not be available",
        ("run inside a delegated scope: systemd-run --user --scope -p Delegate=yes ...",),
    )


def _check_nftables(host: HostProbe, sandbox: bool = True) -> Check:
    """Filtered mode configures the sandbox's netns with raw rtnetlink and libnftables."""
    name = "filtered network"
    if not sandbox:
        return Check(name, Status.FAIL, "not tested: no sandbox can start here (see above)")
    if not host.has_library("libnftables.so.1"):
        return Check(
            name,
            Status.WARN,
            "unavailable: libnftables is missing (--network none and host still work)",
            ("sudo apt-get install libnftables1",),
        )
    return Check(name, Status.OK, "libnftables available: --network filtered works")


def _check_tiocsti(host: HostProbe) -> Check:
    value = host.read("/proc/sys/dev/tty/legacy_tiocsti")
    name = "dev.tty.legacy_tiocsti"
    if value is None:
        return Check(
            name, Status.INFO, "not present (kernel < 6.2): TIOCSTI exists; the sandbox blocks it"
        )
    if value == "0":
        return Check(name, Status.OK, "0: the kernel refuses terminal injection (TIOCSTI)")
    return Check(
        name,
        Status.INFO,
        f"{value}: TIOCSTI is enabled on the host; the sandbox blocks it itself",
        ("optional hardening for the whole host: sudo sysctl -w dev.tty.legacy_tiocsti=0",),
    )


def diagnose(host: HostProbe | None = None) -> Diagnosis:
    """Run every check. Never raises for a host problem: that is what checks are for."""
    probe: HostProbe = host if host is not None else RealHost()
    bwrap_check, bwrap = _check_bwrap(probe)
    checks = [bwrap_check]
    userns = _check_userns(probe, bwrap)
    checks.append(userns)
    sandbox = userns
    if userns.status is Status.OK:
        sandbox = _check_full_sandbox(probe, bwrap)
        checks.append(sandbox)
    works = sandbox.status is Status.OK
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: _check_sysctls(probe),
        lambda: _check_cgroup(probe),
        lambda: _check_nftables(probe, works),
        lambda: _check_tiocsti(probe),
    ]
    if isinstance(probe, RealHost):
        from bwsandbox.doctor._limits import limit_checks

        steps.append(limit_checks)
    for step in steps:
        result = step()
        checks.extend(result if isinstance(result, list) else [result])
    return Diagnosis(tuple(checks))

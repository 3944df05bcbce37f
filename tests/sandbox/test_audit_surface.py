"""Surface audits: what a sandbox can write, and which host information it can read.

Attack tests check what someone thought of; these check everything. ``_surface_walk.py`` runs
inside a real default sandbox (``base`` and every shipped policy, as root and as an ordinary
user: CI runs the suite both ways), walks the whole visible tree including ``/proc`` (minus
the sandbox's own pids) and ``/dev``, and reports every writable path (``access(W_OK)`` plus
mount flags; nothing is ever written) and every readable root. The lists must equal the
allowlists below, each entry with its reason; anything new fails with the path.

The control runs the same compiled argv without the ``/proc`` covers (straight through the
runtime's launcher) and shows the audit failing there as root: ``/proc/sys`` writable.

Each audit prints the lists it found (``pytest -s``); ``BWSANDBOX_SURFACE_REPORT=FILE`` also
appends them to FILE as JSON lines.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bwsandbox._paths import shipped_policies_dir
from bwsandbox.compile._procfs import OUR_MASKED, RUNTIME_MASKED
from bwsandbox.runtime._limits import is_host_root

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

WALKER = Path(__file__).with_name("_surface_walk.py")
IS_ROOT = os.geteuid() == 0
#: root of the initial user namespace: only it gets host-root sysctl writes (root in a
#: rootless container is an ordinary user on the host)
IS_HOST_ROOT = is_host_root()

#: writable, and why that is harmless
DEVICES = {
    "/dev/null": "discards",
    "/dev/zero": "discards",
    "/dev/full": "always ENOSPC",
    "/dev/random": "mixes bytes into the pool without crediting entropy",
    "/dev/urandom": "same as /dev/random",
    "/dev/tty": "the sandbox's own controlling terminal (none: ENXIO)",
    "/dev/pts/ptmx": "a new pty in the sandbox's own devpts instance",
}
PRIVATE_MOUNTS = {
    "/": "bwrap's root tmpfs: in memory, per session",
    "/dev": "bwrap's /dev tmpfs: in memory, per session",
    "/dev/pts": "the sandbox's own devpts instance",
    "/run": "a tmpfs: in memory, per session",
    "/tmp": "the session's private /tmp (work dir, removed at exit)",
}
#: /proc entries outside the own pids that stay writable
PROC_WRITABLE = {
    "/proc/pressure/cpu": "PSI trigger registration: a poll threshold owned by the fd, no setting",
    "/proc/pressure/io": "same",
    "/proc/pressure/memory": "same",
    "/proc/pressure/irq": "same",
}

#: readable roots outside /proc, /dev, the project, home and /tmp
READABLE_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: private mount points and directories on bwrap's root tmpfs: readable themselves, but a host
#: path mounted below one of them must be explained by another entry
READABLE_EXACT = ("/tmp", "/home", "/run", "/var")
#: the /etc files every sandbox gets (generated, or bound by base's curated list if present)
ETC_GENERATED = ("/etc/passwd", "/etc/group", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf")

#: top-level /proc entries readable inside, and why (the threat model lists them)
PROC_READABLE = {
    "buddyinfo": "free-page counts per zone (the same for every unprivileged user)",
    "bus": "read-only: PCI/input device tables (runtimes leave them readable)",
    "cgroups": "controller list",
    "config.gz": "kernel build config (world-readable on the host; public for distro kernels)",
    "consoles": "console drivers",
    "cpuinfo": "CPU model and flags (compilers and runtimes read it)",
    "crypto": "kernel crypto algorithms",
    "devices": "driver major numbers",
    "diskstats": "I/O counters per block device",
    "dma": "ISA DMA channels",
    "driver": "driver info (rtc)",
    "execdomains": "personalities",
    "filesystems": "filesystem types (libmount, mount helpers)",
    "fs": "read-only: per-filesystem stats (ext4 options...)",
    "interrupts": "masked (empty)",
    "ioports": "I/O port ranges (addresses zeroed without CAP_SYS_ADMIN)",
    "irq": "read-only: IRQ affinities",
    "kallsyms": "symbol names (addresses zeroed: kptr_restrict without CAP_SYSLOG)",
    "key-users": "key quotas of the uids mapped in the sandbox's user namespace only",
    "loadavg": "load (tools, build systems)",
    "locks": "file locks, pids in the sandbox's namespace",
    "meminfo": "memory totals (runtimes size heaps from it)",
    "misc": "misc device minors",
    "modules": "module names (addresses zeroed)",
    "net": "the sandbox's own network namespace",
    "partitions": "block device sizes",
    "pressure": "PSI averages",
    "softirqs": "counters",
    "stat": "CPU time counters (top, ps, build tools)",
    "swaps": "swap devices",
    "sys": "read-only sysctls (net.* and ipc of the sandbox's namespaces)",
    "sysvipc": "the sandbox's own IPC namespace",
    "thread-self": "own thread",
    "tty": "tty driver names (tty/driver masked)",
    "uptime": "host uptime (no time namespace)",
    "version": "kernel version (uname says the same)",
    "vmstat": "VM counters",
    "zoneinfo": "per-zone memory counters",
}
MASKED = (*RUNTIME_MASKED, *OUR_MASKED)


def _home() -> str:
    return "/home/agent" if IS_ROOT else pwd.getpwuid(os.getuid()).pw_dir


def _report(label: str, data: dict[str, Any]) -> None:
    """Print what was found (``pytest -s`` or ``-rP`` shows it), and append it as a JSON
    line to ``$BWSANDBOX_SURFACE_REPORT`` when set."""
    record = {"case": label, "root": IS_ROOT, **data}
    print(json.dumps(record, indent=1))
    target = os.environ.get("BWSANDBOX_SURFACE_REPORT")
    if target:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _walk(cli: Cli, project: Path, *options: str, prune: tuple[str, ...] = ("/usr",)) -> Any:
    script = project / ".surface_walk.py"
    shutil.copyfile(WALKER, script)
    result = cli("run", *options, "--", "python3", str(script), "/", *prune)
    assert result.returncode == 0, result.describe()
    return json.loads(result.stdout)


def unexpected_writable(
    found: dict[str, Any], project: Path, rw: tuple[str, ...] = ()
) -> list[str]:
    """Writable paths no allowlist explains (empty: the audit passes)."""
    allowed_roots = {str(project): "the project", _home(): "the private home"}
    allowed_roots.update(dict.fromkeys(rw, "explicit --rw"))
    bad = []
    for path in found["writable"]:
        if path in DEVICES or path in PRIVATE_MOUNTS or path in PROC_WRITABLE:
            continue
        if any(path == root or path.startswith(root + "/") for root in allowed_roots):
            continue
        if path.startswith("/dev/pts/") and path[len("/dev/pts/") :].isdigit():
            continue  # a pty the sandbox opened itself
        bad.append(path)
    return bad


def unexpected_readable(
    found: dict[str, Any], project: Path, extra: tuple[str, ...] = ()
) -> list[str]:
    """Readable host information no allowlist explains (empty: the audit passes)."""
    from bwsandbox.policy import load_policy

    etc = set(ETC_GENERATED) | set(load_policy(("base",)).filesystem.etc) | {"/etc"}
    roots = (*READABLE_SYSTEM, str(project), _home(), *extra)
    points = {mount[0] for mount in found["mounts"]}
    bad: list[str] = []
    for path in found["readable"]:
        if path not in points and any(r.startswith(path + "/") for r in extra):
            continue  # a directory bwrap made on its own tmpfs to hold a declared bind
        if path.startswith("/dev/") or path == "/dev":
            if path in DEVICES or path in PRIVATE_MOUNTS or path in ("/dev/shm", "/dev/mqueue"):
                continue
            bad.append(path)
        elif path.startswith("/etc/") or path == "/etc":
            if path not in etc and not any(path.startswith(e + "/") for e in etc):
                bad.append(path)
        elif path == "/proc" or path in READABLE_EXACT:
            continue
        elif not any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
            bad.append(path)
    for path, size in found["proc"].items():
        top = path.split("/")[2]
        if size == -1:
            continue
        if path in MASKED:
            if size != 0:
                bad.append(f"{path} (masked, yet {size} bytes)")
            continue
        if any(path.startswith(m + "/") for m in MASKED):
            bad.append(f"{path} (inside a masked dir)")
            continue
        if top not in PROC_READABLE:
            bad.append(path)
    secrets = ("shadow", "gshadow", "sudoers", "ssh", "machine-id")
    bad += [f"/etc/{name}" for name in secrets if f"/etc/{name}" in found["readable"]]
    bad += [f"socket {s}" for s in found["sockets"] if not s.startswith((str(project), "/tmp"))]
    return bad


def _declared_ro(policy: str, project: Path) -> tuple[str, ...]:
    """What the policy itself (not the compiler) says may be visible read-only."""
    from bwsandbox.policy import load_policy
    from bwsandbox.policy._vars import expand

    host = pwd.getpwuid(os.getuid())
    variables = {
        "project": str(project),
        "home": _home(),
        "host_home": host.pw_dir,
        "user": "agent" if IS_ROOT else host.pw_name,
        "uid": "1000" if IS_ROOT else str(os.getuid()),
        "client": "default",
        "workdir": "",
        "runtime_dir": "",
    }
    binds = load_policy((policy,)).filesystem.ro
    return tuple(expand(bind.target, variables, where="filesystem.ro") for bind in binds)


def _policies() -> list[str]:
    return sorted(p.stem for p in Path(shipped_policies_dir()).glob("*.toml"))


def _policy_options(name: str, tmp_path: Path) -> tuple[str, ...]:
    if name != "ssh-example":
        return ("--policy", name)
    # its CA key lives in the host home: a layer over it points at a throwaway key
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / "agent_ca"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
    )
    layer = tmp_path / "ssh-audit.toml"
    layer.write_text(f'extends = ["ssh-example"]\n[ssh]\nca_key = "{key}"\n')
    return ("--policy", str(layer))


def _declared_tmpfs(policy: str) -> tuple[str, ...]:
    """The private in-memory dirs a shipped policy declares (``browser``: /dev/shm)."""
    from bwsandbox.policy import load_policy

    if policy == "ssh-example":
        return ()
    return tuple(load_policy((policy,)).filesystem.tmpfs)


@pytest.mark.parametrize("policy", _policies())
def test_writable_and_readable_surface_of_every_shipped_policy(
    cli: Cli, project: Path, tmp_path: Path, policy: str
) -> None:
    found = _walk(cli, project, *_policy_options(policy, tmp_path))
    _report(policy, {k: found[k] for k in ("writable", "readable", "proc_self_writable")})
    assert unexpected_writable(found, project, _declared_tmpfs(policy)) == [], found["writable"]
    extra = _declared_ro(policy, project)
    assert unexpected_readable(found, project, extra) == [], found["readable"]
    assert found["errors"] == []


def _agents() -> list[str]:
    from bwsandbox.agents._specs import KNOWN_AGENTS

    return sorted(KNOWN_AGENTS)


@pytest.mark.parametrize("agent", _agents())
def test_surface_of_every_agent_launch(cli: Cli, project: Path, tmp_path: Path, agent: str) -> None:
    """The agent profiles as users start them (``agent-sandbox NAME``: the agent's binds, its
    state dir in the home, filtered network), with a fake agent binary that runs the walker."""
    script = project / ".surface_walk.py"
    shutil.copyfile(WALKER, script)
    fake = tmp_path / "bin" / agent
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nexec python3 {script} / /usr\n")
    fake.chmod(0o755)
    env = {f"BWSANDBOX_AGENT_BIN_{agent.upper()}": str(fake)}
    result = cli(agent, "--no-tty", "--", env=env)
    assert result.returncode == 0, result.describe()
    found = json.loads(result.stdout)
    _report(f"agent:{agent}", {k: found[k] for k in ("writable", "readable")})
    assert unexpected_writable(found, project) == [], found["writable"]
    extra = (str(fake), "/run/agent-sandbox/bin")
    assert unexpected_readable(found, project, extra) == [], found["readable"]


def test_base_surface_including_all_of_usr_and_an_explicit_rw_bind(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    """The full walk (``/usr`` too: no device, fifo or socket in it), and a ``--rw`` bind is
    exactly one more writable root."""
    extra = tmp_path / "extra"
    extra.mkdir()
    found = _walk(cli, project, "--rw", str(extra), prune=())
    _report("base-full", {k: found[k] for k in ("writable", "readable", "proc", "pids")})
    assert unexpected_writable(found, project, rw=(str(extra),)) == [], found["writable"]
    assert str(extra) in found["writable"]
    assert unexpected_writable(found, project) == [str(extra)]
    assert unexpected_readable(found, project, extra=(str(extra),)) == [], found["readable"]
    # no host process: only bwrap's init and the walker
    assert len(found["pids"]) <= 3, found["pids"]


def test_masked_proc_files_are_empty_and_cmdline_hides_the_host(cli: Cli, project: Path) -> None:
    host_cmdline = Path("/proc/cmdline").read_bytes()
    assert host_cmdline  # control: the host's is not empty
    found = _walk(cli, project)
    for path in MASKED:
        if path in found["proc"]:
            assert found["proc"][path] in (0, -1), (path, found["proc"][path])
        children = [p for p in found["proc"] if p.startswith(path + "/")]
        assert children == [], children
    assert found["proc"].get("/proc/cmdline", 0) == 0
    writable_sysctls = [p for p in found["writable"] if p.startswith("/proc/sys")]
    assert writable_sysctls == []


def test_proc_1_cmdline_does_not_show_the_plan(cli: Cli, project: Path) -> None:
    """bwrap reads its options from an ``--args`` memfd: the sandbox's pid 1 shows none of
    the host paths of the plan; ``explain`` still shows the whole argv."""
    result = cli("run", "--", "sh", "-c", "tr '\\0' '\\n' </proc/1/cmdline")
    assert result.returncode == 0, result.describe()
    lines = result.stdout.splitlines()
    assert lines[1:3] == ["--args", lines[2]], lines
    assert "--" in lines, lines
    options = lines[: lines.index("--")]
    assert len(options) == 3, options
    explained = cli("explain", "--", "true")
    assert "--ro-bind" in explained.stdout, explained.describe()
    assert str(project) in explained.stdout


# --- control: the same compiled argv without the /proc covers -----------------------------


def _launch_plan(
    project: Path, workdir: Path, *, covers: bool, command: tuple[str, ...] = ()
) -> Any:
    """Compile ``base`` for this host; launch it with or without the /proc covers; the
    JSON its command (by default the walker) prints."""
    from dataclasses import replace

    from bwsandbox.compile import Workspace, compile_plan, paths_to_probe
    from bwsandbox.compile._options import BindMount, DataBind, RemountRo, TmpfsMount
    from bwsandbox.compile._procfs import proc_paths_to_probe
    from bwsandbox.policy import load_policy
    from bwsandbox.runtime._launch import Stdio, launch
    from bwsandbox.runtime._probe import probe_host, probe_paths

    (workdir / "tmp").mkdir(parents=True)
    (workdir / "home").mkdir()
    script = project / ".surface_walk.py"
    shutil.copyfile(WALKER, script)
    policy = load_policy(("base",))
    workspace = Workspace(
        project=str(project),
        workdir=str(workdir),
        session_id="audit",
        command=command or ("python3", str(script), "/", "/usr"),
    )
    facts = probe_host()
    facts = probe_paths(facts, paths_to_probe(policy, facts, workspace))
    plan = compile_plan(policy, facts, workspace)
    covered = set(proc_paths_to_probe())
    cover_types = (BindMount, DataBind, RemountRo, TmpfsMount)
    options = tuple(
        option
        for option in plan.options
        if covers
        or not (isinstance(option, cover_types) and getattr(option, "dest", "") in covered)
    )
    plan = replace(plan, options=options)
    out = workdir / "out.json"
    with out.open("wb") as handle:
        process = launch(plan, Stdio(stdin=None, stdout=handle.fileno()))
        try:
            process.release()
            status = process.wait()
        finally:
            process.close()
    assert os.waitstatus_to_exitcode(status) == 0, out.read_text()
    return json.loads(out.read_text())


def test_control_audit_fails_on_the_argv_without_proc_covers(project: Path, tmp_path: Path) -> None:
    """As root the uncovered argv has writable sysctls (the finding: core_pattern); as a
    user, host details (/proc/cmdline, keys, timer_list) readable. With covers: clean."""
    without = _launch_plan(project, tmp_path / "without", covers=False)
    if IS_HOST_ROOT:
        assert "/proc/sys/kernel/core_pattern" in unexpected_writable(without, project)
    bad = unexpected_readable(without, project)
    assert "/proc/cmdline (masked, yet" in " ".join(bad), bad
    with_covers = _launch_plan(project, tmp_path / "with", covers=True)
    assert unexpected_writable(with_covers, project) == [], with_covers["writable"]
    assert unexpected_readable(with_covers, project) == [], with_covers["readable"]


#: opens every sysctl for writing and closes it at once: a sysctl changes on write(), never
#: on open(), so this finds the write path without touching a kernel setting
OPEN_SYSCTLS = """
import json, os
opened, refused = [], 0
for top, dirs, files in os.walk("/proc/sys"):
    for name in files:
        path = os.path.join(top, name)
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError:
            refused += 1
            continue
        os.close(fd)
        opened.append(path)
print(json.dumps({"opened": opened, "refused": refused}))
"""


def test_attack_no_sysctl_opens_for_writing(cli: Cli, project: Path, tmp_path: Path) -> None:
    """The finding's write path (core_pattern as host root), tried on every sysctl; the
    control is the same compiled argv without the covers, where root opens them."""
    result = cli("run", "--", "python3", "-c", OPEN_SYSCTLS)
    assert result.returncode == 0, result.describe()
    inside = json.loads(result.stdout)
    assert inside["opened"] == [], inside["opened"][:20]
    assert inside["refused"] > 100
    command = ("python3", "-c", OPEN_SYSCTLS)
    uncovered = _launch_plan(project, tmp_path / "control", covers=False, command=command)
    if IS_HOST_ROOT:
        assert "/proc/sys/kernel/core_pattern" in uncovered["opened"]
        assert len(uncovered["opened"]) > 100, len(uncovered["opened"])
    else:  # an ordinary user: only the sysctls of its own namespaces (hostname...)
        assert "/proc/sys/kernel/core_pattern" not in uncovered["opened"]


def test_a_policy_that_binds_sys_gets_the_sys_masks(cli: Cli) -> None:
    """No shipped policy binds /sys; one that does gets runc's /sys masks (firmware tables:
    ACPI, memory map...). Control: the host's /sys/firmware lists entries."""
    firmware = Path("/sys/firmware")
    if not firmware.is_dir() or not any(firmware.iterdir()):
        pytest.skip("this host has no /sys/firmware entries to mask")
    script = "ls -A /sys/firmware | wc -l; ls -A /sys | grep -c '^firmware$'"
    result = cli("run", "--ro", "/sys", "--", "sh", "-c", script)
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["0", "1"], result.describe()  # there, and empty


def test_read_only_proc_sys_still_shows_the_sandboxs_own_namespaces(cli: Cli) -> None:
    """``/proc/sys`` is bound from the host's procfs (bwrap binds host paths); sysctls are
    resolved against the reader's namespaces, so the sandbox still sees its own network
    devices and hostname there, not the host's (control: the host's own listing)."""
    conf = Path("/proc/sys/net/ipv4/conf")
    host_ifaces = {p.name for p in conf.iterdir()} - {"all", "default", "lo"}
    result = cli(
        "run", "--", "sh", "-c", "ls /proc/sys/net/ipv4/conf; cat /proc/sys/kernel/hostname"
    )
    assert result.returncode == 0, result.describe()
    *ifaces, hostname = result.stdout.split()
    assert hostname == "sandbox"
    assert not host_ifaces & set(ifaces), (host_ifaces, ifaces)
    assert "lo" in ifaces

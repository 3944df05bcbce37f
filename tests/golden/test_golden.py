"""Golden argv files: every shipped policy compiled against fixed fake hosts.

One token per line; mount order is part of the contract. Refresh with
``BWSANDBOX_UPDATE_GOLDEN=1 pytest tests/golden`` and review the diff.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from bwsandbox._paths import shipped_policies_dir
from bwsandbox.compile import HostFacts, PathInfo, PathKind, Workspace, compile_plan, paths_to_probe
from bwsandbox.compile._facts import GpuFacts
from bwsandbox.compile._plan import SandboxPlan
from bwsandbox.policy import load_policy
from bwsandbox.testing import fake_host_facts

EXPECTED = Path(__file__).parent / "expected"
UPDATE = os.environ.get("BWSANDBOX_UPDATE_GOLDEN") == "1"

D, F, M = PathInfo(PathKind.DIR), PathInfo(PathKind.FILE), PathInfo(PathKind.MISSING)


def _link(target: str) -> PathInfo:
    return PathInfo(PathKind.SYMLINK, target)


_ETC_COMMON = {
    "/etc": D,
    "/etc/ssl": D,
    "/etc/ld.so.cache": F,
    "/etc/nsswitch.conf": F,
    "/etc/localtime": _link("/usr/share/zoneinfo/Etc/UTC"),
    "/etc/os-release": _link("../usr/lib/os-release"),
    "/etc/alternatives": D,
}

#: a typical distribution kernel's /proc (what the runtimes' covers apply to)
_PROC_FULL = {
    "/proc/bus": D,
    "/proc/fs": D,
    "/proc/irq": D,
    "/proc/sys": D,
    "/proc/sysrq-trigger": F,
    "/proc/acpi": D,
    "/proc/asound": D,
    "/proc/interrupts": F,
    "/proc/kcore": F,
    "/proc/keys": F,
    "/proc/timer_list": F,
    "/proc/sched_debug": M,  # moved to debugfs in 5.13
    "/proc/timer_stats": M,  # removed in 4.11
    "/proc/latency_stats": M,  # CONFIG_LATENCYTOP off
    "/proc/scsi": D,
    "/proc/cmdline": F,
    "/proc/kpagecgroup": F,
    "/proc/kpagecount": F,
    "/proc/kpageflags": F,
    "/proc/slabinfo": F,
    "/proc/vmallocinfo": F,
    "/proc/pagetypeinfo": F,
    "/proc/iomem": F,
    "/proc/mtrr": F,
    "/proc/tty/driver": D,
}
#: a minimal kernel (no sysrq, no kcore, no ACPI, no sound): only what exists is covered
_PROC_MINIMAL = {
    **_PROC_FULL,
    "/proc/sysrq-trigger": M,
    "/proc/kcore": M,
    "/proc/acpi": M,
    "/proc/asound": M,
    "/proc/scsi": M,
}

LAYOUTS: dict[str, dict[str, PathInfo]] = {
    "debian": {
        **_PROC_FULL,
        "/usr": D,
        "/bin": _link("usr/bin"),
        "/sbin": _link("usr/sbin"),
        "/lib": _link("usr/lib"),
        "/lib64": _link("usr/lib64"),
        "/lib32": _link("usr/lib32"),
        **_ETC_COMMON,
        "/etc/debian_version": F,
        "/etc/ca-certificates": D,
    },
    "fedora": {
        **_PROC_FULL,
        "/usr": D,
        "/bin": _link("usr/bin"),
        "/sbin": _link("usr/sbin"),
        "/lib": _link("usr/lib"),
        "/lib64": _link("usr/lib64"),
        **_ETC_COMMON,
        "/etc/pki": D,
        "/etc/crypto-policies": D,
        "/etc/alternatives": D,
    },
    "arch": {
        **_PROC_MINIMAL,
        "/usr": D,
        "/bin": _link("usr/bin"),
        "/sbin": _link("usr/bin"),
        "/lib": _link("usr/lib"),
        "/lib64": _link("usr/lib"),
        **_ETC_COMMON,
        "/etc/alternatives": M,
    },
    "nixos": {
        **_PROC_FULL,
        "/usr": D,  # only /usr/bin/env
        "/bin": D,  # only /bin/sh
        "/nix/store": D,
        "/run/current-system/sw": _link("/nix/store/aaaa-system-path"),
        "/etc/profiles/per-user/alice": _link("/nix/store/bbbb-user-environment"),
        "/etc": D,
        "/etc/ssl": D,
        "/etc/nsswitch.conf": _link("/etc/static/nsswitch.conf"),
        "/etc/localtime": _link("/etc/zoneinfo/UTC"),
    },
    "legacy": {
        **_PROC_FULL,
        "/usr": D,
        "/bin": D,
        "/sbin": D,
        "/lib": D,
        "/lib64": D,
        **_ETC_COMMON,
    },
}

PROJECT = "/home/alice/src/proj"
PROJECT_PATHS = {
    f"{PROJECT}": D,
    f"{PROJECT}/.git": D,
    f"{PROJECT}/.git/hooks": D,
    f"{PROJECT}/.git/config": F,
    f"{PROJECT}/.vscode": D,
}


def fake_facts(layout: str, *, root: bool = False) -> HostFacts:
    return fake_host_facts(
        root=root,
        environ={
            "TERM": "xterm-256color",
            "LANG": "en_US.UTF-8",
            "LC_ALL": "C.UTF-8",
            "SSH_AUTH_SOCK": "/run/user/1000/ssh-agent",
            "AWS_SECRET_ACCESS_KEY": "canary-must-not-leak",
            "HOME": "/home/alice",
            "PATH": "/home/alice/.local/bin:/usr/bin:/bin",
        },
    )


def with_paths(
    facts: HostFacts, layout: str, workspace: Workspace, refs: tuple[str, ...]
) -> HostFacts:
    known = {**LAYOUTS[layout], **PROJECT_PATHS}
    policy = load_policy(refs)
    probed = {p: known.get(p, M) for p in paths_to_probe(policy, facts, workspace)}
    return replace(facts, paths=MappingProxyType(probed))


def render(plan: SandboxPlan) -> str:
    lines = ["# argv", *plan.argv(), "# env", *(f"{k}={v}" for k, v in plan.env), "# data"]
    for item in plan.data:
        if item.secret:
            lines.append(f"{item.fd.name}: '<secret>'")
        elif item.fd.name == "data:seccomp":  # a BPF program: its size and digest
            digest = hashlib.sha256(item.content).hexdigest()[:16]
            lines.append(f"{item.fd.name}: <{len(item.content)} bytes, sha256 {digest}...>")
        else:
            lines.append(f"{item.fd.name}: {item.content.decode()!r}")
    lines += ["# protected", *plan.protected, "# warnings", *plan.warnings]
    return "\n".join(lines) + "\n"


def shipped() -> list[str]:
    return sorted(p.stem for p in Path(shipped_policies_dir()).glob("*.toml"))


CASES = [
    (policy, layout, root, network)
    for policy in shipped()
    for layout, root in [
        ("debian", False),
        ("debian", True),
        ("fedora", False),
        ("arch", False),
        ("nixos", False),
        ("legacy", False),
    ]
    for network in ["none"]
] + [("base", "debian", False, "host"), ("base", "debian", False, "filtered")]


@pytest.mark.parametrize(("policy", "layout", "root", "network"), CASES)
def test_golden_argv(policy: str, layout: str, root: bool, network: str) -> None:
    refs: tuple[str, ...] = (policy,)
    overlays: list[tuple[str, dict[str, object]]] = []
    if network != "none":
        overlays.append(("command line", {"network": {"mode": network}}))
    workspace = Workspace(
        project=PROJECT,
        workdir="/tmp/agent-sandbox-golden",
        session_id="golden",
        command=("true",),
    )
    facts = with_paths(fake_facts(layout, root=root), layout, workspace, refs)
    plan = compile_plan(load_policy(refs, overlays=overlays), facts, workspace)
    name = f"{policy}-{layout}-{'root' if root else 'user'}-{network}.txt"
    path = EXPECTED / name
    text = render(plan)
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"golden file {name} missing; run with BWSANDBOX_UPDATE_GOLDEN=1")
        path.write_text(text)
    assert text == path.read_text(), f"golden mismatch for {name} (BWSANDBOX_UPDATE_GOLDEN=1)"


# -- a host with NVIDIA GPUs (devices.gpu / --gpu), from fake host facts ---------------------
GPU_DEVICES = (
    "/dev/nvidia-caps",
    "/dev/nvidia-modeset",
    "/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools",
    "/dev/nvidia0",
    "/dev/nvidia1",
    "/dev/nvidiactl",
    "/dev/dri/renderD128",
)
GPU_HOSTS: dict[str, GpuFacts] = {
    # libraries under /usr (seen already) and through the /lib symlink; nvidia-smi in /usr
    "debian": GpuFacts(
        devices=GPU_DEVICES,
        libraries=(
            "/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.1",
            "/opt/nvidia/lib/libnvidia-ml.so.1",
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.183.01",
        ),
        binaries=("/usr/bin/nvidia-smi",),
    ),
    # NixOS: the driver in /run/opengl-driver (bound read-only), nvidia-smi in the profile
    "nixos": GpuFacts(
        devices=GPU_DEVICES,
        libraries=(
            "/run/opengl-driver/lib/libcuda.so.1",
            "/run/opengl-driver/lib/libnvidia-ml.so.1",
        ),
        binaries=("/run/current-system/sw/bin/nvidia-smi",),
    ),
}


@pytest.mark.parametrize(
    ("policy", "layout", "root"),
    [("base", "debian", False), ("base", "debian", True), ("base", "nixos", False)],
)
def test_golden_argv_gpu(policy: str, layout: str, root: bool) -> None:
    refs: tuple[str, ...] = (policy,)
    overlays: list[tuple[str, dict[str, object]]] = [("command line", {"devices": {"gpu": True}})]
    workspace = Workspace(
        project=PROJECT, workdir="/tmp/agent-sandbox-golden", session_id="golden", command=("true",)
    )
    facts = replace(
        with_paths(fake_facts(layout, root=root), layout, workspace, refs), gpu=GPU_HOSTS[layout]
    )
    plan = compile_plan(load_policy(refs, overlays=overlays), facts, workspace)
    name = f"{policy}-{layout}-{'root' if root else 'user'}-gpu.txt"
    path = EXPECTED / name
    text = render(plan)
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"golden file {name} missing; run with BWSANDBOX_UPDATE_GOLDEN=1")
        path.write_text(text)
    assert text == path.read_text(), f"golden mismatch for {name} (BWSANDBOX_UPDATE_GOLDEN=1)"

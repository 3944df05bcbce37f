"""Attacks: host processes. The sandbox has its own PID namespace and /proc: host processes are
neither visible nor signalable (nor ptrace-able), and the host /proc and /sys do not leak."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import PolicyFile, SandboxRunner

pytestmark = [
    pytest.mark.bwrap,
    pytest.mark.userns,
    pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True),
]


def test_host_process_cannot_be_signalled(
    sbx: SandboxRunner, host_sleeper: subprocess.Popen[bytes], policy_file: PolicyFile
) -> None:
    pid = host_sleeper.pid
    result = sbx.sh(
        f"kill -0 {pid} && echo SEEN; kill -KILL {pid} && echo KILLED; "
        f"kill -KILL -1 2>/dev/null; "
        f"python3 -c 'import os,signal; os.kill({pid}, signal.SIGKILL)' && echo PYKILLED; true"
    )
    assert result.returncode == 0, result.describe()
    for word in ("SEEN", "KILLED", "PYKILLED"):
        assert word not in result.stdout, result.describe()
    assert host_sleeper.poll() is None, "the host process was killed from the sandbox"
    # Control: sharing the host PID namespace (a relaxation), the same probe reaches it.
    relaxed = policy_file('extends = ["base"]\n[hardening]\nshare_pid = true\n')
    shared = sbx.sh(f"kill -0 {pid} && echo SEEN", "--policy", str(relaxed))
    assert "SEEN" in shared.stdout, shared.describe()


def test_host_processes_are_not_visible_in_proc(
    sbx: SandboxRunner, host_sleeper: subprocess.Popen[bytes]
) -> None:
    result = sbx.sh(f"ls /proc; test -e /proc/{host_sleeper.pid} && echo VISIBLE; true")
    assert result.returncode == 0, result.describe()
    assert "VISIBLE" not in result.stdout, result.describe()
    pids = [int(word) for word in result.stdout.split() if word.isdigit()]
    assert pids, result.describe()
    assert host_sleeper.pid not in pids
    assert len(pids) < 10, f"many processes visible: {pids}\n{result.describe()}"
    # Control: the host sees far more processes, the sleeper among them.
    assert host_sleeper.pid in [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def test_ptrace_of_host_process_fails(
    sbx: SandboxRunner, host_sleeper: subprocess.Popen[bytes]
) -> None:
    code = (
        "import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
        f"r = libc.ptrace(16, {host_sleeper.pid}, None, None); "  # PTRACE_ATTACH
        "print('ATTACHED' if r == 0 else 'errno=%d' % ctypes.get_errno())"
    )
    result = sbx.py(code)
    assert result.returncode == 0, result.describe()
    assert "ATTACHED" not in result.stdout, result.describe()
    assert host_sleeper.poll() is None


def test_host_mounts_and_network_are_not_described(sbx: SandboxRunner) -> None:
    """/proc/net and /sys/class/net show the sandbox's own namespace, not the host's links."""
    host_links = {p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo"}
    result = sbx.sh("ls /sys/class/net 2>/dev/null; cat /proc/net/dev; true")
    assert result.returncode == 0, result.describe()
    inside = result.stdout
    leaked = {name for name in host_links if f"{name}:" in inside or f"\n{name}\n" in f"\n{inside}"}
    assert not leaked, f"host links visible: {leaked}\n{result.describe()}"
    assert host_links, "control: the host has at least one non-loopback link"

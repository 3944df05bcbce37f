"""Resource limits with real processes: a fork bomb, a memory hog and a disk filler are
contained, and the wall-clock limit ends a command. Each runs under --timeout so that a
failed defence still ends the test (and the host stays responsive: the test finishes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import PolicyFile, SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

FORK_BOMB = """
import os, time
made = 0
try:
    while made < 400:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
except OSError as exc:
    print("blocked", made, exc.errno)
else:
    print("unbounded", made)
"""

MEMORY_HOG = """
chunks = []
try:
    while len(chunks) < 100:
        chunks.append(bytearray(10 << 20))  # 10 MiB, written (zeroed) by the allocator
        chunks[-1][::4096] = b"x" * len(chunks[-1][::4096])
    print("unbounded", len(chunks))
except MemoryError:
    print("stopped", len(chunks))
"""

DISK_FILLER = """
import os
written = 0
with open("/tmp/fill", "wb") as out:
    try:
        while written < (64 << 20):
            written += out.write(b"x" * (1 << 20))
            out.flush()
        print("unbounded", written)
    except OSError as exc:
        print("stopped", written, exc.strerror)
print("size", os.path.getsize("/tmp/fill"))
"""


def _cgroup_leftovers(sbx: SandboxRunner) -> list[str]:
    """Session cgroups of the newest session still there (other suites may run meanwhile)."""
    start = sbx.cli("logs", "--event", "start").stdout.splitlines()
    session = json.loads(start[-1])["session"]
    found = []
    for hierarchy in ("pids", "memory", "cpu", "unified"):
        base = Path("/sys/fs/cgroup", hierarchy)
        if base.is_dir():
            found += [str(p) for p in base.rglob(f"bwsandbox-{session}")]
    return found


def test_fork_bomb_is_contained(sbx: SandboxRunner) -> None:
    result = sbx.py(FORK_BOMB, "--pids", "40", "--timeout", "20s")
    assert result.returncode == 0, result.describe()
    assert "blocked" in result.stdout, result.describe()
    made = int(result.stdout.split()[1])
    assert made < 40, result.describe()
    subprocess.run(["true"], check=True)  # the host can still start processes
    assert not _cgroup_leftovers(sbx)


def test_shell_fork_bomb_ends_with_the_timeout(sbx: SandboxRunner) -> None:
    bomb = "b() { b | b & }; b; exec sleep 60"
    result = sbx.sh(bomb, "--pids", "64", "--timeout", "3s")
    # the timeout ends it (124), unless the limit already stopped the top shell's own second
    # fork (dash exits 2 on "Cannot fork"): either way the whole sandbox is gone
    assert result.returncode in (124, 2), result.describe()
    assert "Cannot fork" in result.stderr, result.describe()  # the limit stopped the bomb
    assert not _cgroup_leftovers(sbx)


def test_memory_hog_is_stopped(sbx: SandboxRunner) -> None:
    result = sbx.py(MEMORY_HOG, "--memory", "200M", "--timeout", "30s")
    if result.returncode == 137:  # a cgroup: the OOM killer ended it
        assert "unbounded" not in result.stdout, result.describe()
    else:
        assert result.returncode == 0, result.describe()
        assert "stopped" in result.stdout, result.describe()
        assert int(result.stdout.split()[1]) <= 20, result.describe()
    control = sbx.py(MEMORY_HOG.replace("< 100", "< 25"), "--timeout", "30s")
    assert "unbounded 25" in control.stdout, control.describe()


def test_disk_filler_hits_the_file_size_limit(sbx: SandboxRunner, policy_file: PolicyFile) -> None:
    limited = policy_file('extends = ["base"]\n[limits]\nfsize = "8M"\ntimeout = "30s"\n')
    result = sbx.py(DISK_FILLER, "--policy", str(limited))
    assert result.returncode == 0, result.describe()
    assert "stopped" in result.stdout, result.describe()
    assert f"size {8 << 20}" in result.stdout, result.describe()
    control = sbx.py(DISK_FILLER.replace("64 << 20", "16 << 20"))
    assert "unbounded" in control.stdout, control.describe()


def test_open_files_limit(sbx: SandboxRunner, policy_file: PolicyFile) -> None:
    limited = policy_file('extends = ["base"]\n[limits]\nnofile = 32\n')
    result = sbx.sh("ulimit -n", "--policy", str(limited))
    assert result.stdout.strip() == "32", result.describe()


@pytest.mark.parametrize("nofile", [8, 5])
def test_a_low_open_files_limit_waits_for_bwrap_to_set_up(
    sbx: SandboxRunner, policy_file: PolicyFile, nofile: int
) -> None:
    """The limit goes on the sandbox's pid 1 once bwrap's mounts are done: put on it during
    them (as before), bwrap itself failed ("Can't open /proc/self/mountinfo: Too many open
    files" with 8, "Can't create file at /etc/protocols" with 5), every time; with 32, now
    and then on a loaded machine."""
    limited = policy_file(f'extends = ["base"]\n[limits]\nnofile = {nofile}\n')
    result = sbx.sh("ulimit -n", "--policy", str(limited))
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == str(nofile), result.describe()


@pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True)
def test_timeout_kills_sleep(sbx: SandboxRunner) -> None:
    """Warm: the second identical run is limited too (plans with limits are never cached)."""
    result = sbx.sh("echo started; exec sleep 60", "--timeout", "1s", "--pids", "50")
    assert result.returncode == 124, result.describe()
    assert "started" in result.stdout
    logs = sbx.cli("logs", "--event", "limits", "--event", "timeout", "--event", "exit")
    events = [json.loads(line) for line in logs.stdout.splitlines()]
    assert [e["event"] for e in events] == ["limits", "timeout", "exit"], logs.stdout
    assert events[0]["limits"]["timeout"]["value"] == "1s"
    assert "pids" in events[0]["limits"]
    assert events[2]["returncode"] == 124
    quick = sbx.sh("exit 3", "--timeout", "30s")
    assert quick.returncode == 3, quick.describe()


def _cpu_cgroup_usable() -> bool:
    from bwsandbox.runtime._limits import probe_cgroups

    return probe_cgroups().parent("cpu") is not None


def test_cpu_limit_applies_only_with_a_cgroup(sbx: SandboxRunner, policy_file: PolicyFile) -> None:
    """With a cpu cgroup the limit applies; without one the run is refused (exit 125, one
    error line naming the limit and the way out) unless ``limits.strict = false``, which
    starts it with a warning. A limit that cannot be enforced never passes silently."""
    result = sbx.sh("cat /proc/self/cgroup", "--cpus", "0.5")
    if _cpu_cgroup_usable():
        assert result.returncode == 0, result.describe()
        if Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists():
            assert "cpu:/bwsandbox-" in result.stdout, result.describe()
    else:
        assert result.returncode == 125, result.describe()
        [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert "cannot enforce cpu 0.5 cores" in line
        assert "strict = false" in line
        assert result.stdout == "", "the command did not run"
    lax = policy_file('extends = ["base"]\n[limits]\nstrict = false\n')
    relaxed = sbx.sh("echo ran", "--cpus", "0.5", "--policy", str(lax))
    assert relaxed.returncode == 0, relaxed.describe()
    assert relaxed.stdout.strip() == "ran"
    if not _cpu_cgroup_usable():
        assert "limit cpu 0.5 cores is not enforced" in relaxed.stderr, relaxed.describe()
    assert not _cgroup_leftovers(sbx)

"""The syscall filter, attacked for real: each denied class fails with EPERM inside, and the
same call gets the kernel's own answer with the filter off (the control) or relaxed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import PolicyFile, SandboxRunner

pytestmark = [
    pytest.mark.bwrap,
    pytest.mark.userns,
    pytest.mark.skipif(os.uname().machine != "x86_64", reason="probe uses x86_64 numbers"),
]

PROBE = (Path(__file__).parent / "_syscall_probe.py").read_text()
EPERM = os.strerror(1)
#: one syscall per group whose unfiltered answer is not EPERM on this kind of host
DISTINGUISHING = {
    "keyring": "keyctl",
    "bpf": "bpf",
    "perf": "perf_event_open",
    "userfaultfd": "userfaultfd",
    "io_uring": "io_uring_setup",
    "kexec": "kexec_load",
    "modules": "init_module",
    "mount": "umount2",
    "namespaces": "setns",
    "ptrace": "ptrace",
    "personality": "personality",
    "tty": "ioctl_tiocsti",
    "time": "clock_settime",
    "host": "quotactl",
}


def _probe(sbx: SandboxRunner, *options: str) -> dict[str, str]:
    result = sbx.py(PROBE, *options)
    assert result.returncode == 0, result.describe()
    found: dict[str, str] = json.loads(result.stdout)
    return found


@pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True)
def test_denied_syscalls_fail_with_eperm(sbx: SandboxRunner, policy_file: PolicyFile) -> None:
    filtered = _probe(sbx)
    assert {name for name, answer in filtered.items() if answer != EPERM} == set()
    off = policy_file('extends = ["base"]\n[seccomp]\nenabled = false\n')
    control = _probe(sbx, "--policy", str(off))
    for group, name in DISTINGUISHING.items():
        assert control[name] != EPERM, f"{group}: {name} gives EPERM even without the filter"
    # unshare(CLONE_NEWUSER) is refused by --disable-userns too, but not with EPERM
    assert control["unshare"] != EPERM


def test_allow_relaxes_one_group_only(sbx: SandboxRunner, policy_file: PolicyFile) -> None:
    relaxed = policy_file('extends = ["base"]\n[seccomp]\nallow = ["ptrace", "personality"]\n')
    found = _probe(sbx, "--policy", str(relaxed))
    assert found["ptrace"] != EPERM
    assert found["process_vm_readv"] != EPERM
    assert found["personality"] != EPERM
    assert found["keyctl"] == EPERM
    assert found["ioctl_tiocsti"] == EPERM


def test_deny_adds_a_syscall(sbx: SandboxRunner, policy_file: PolicyFile) -> None:
    code = "import os\ntry:\n    os.getppid(); print('ok')\nexcept OSError as e:\n    print(e)"
    stricter = policy_file('extends = ["base"]\n[seccomp]\ndeny = ["getppid"]\n')
    assert "ok" in sbx.py(code).stdout
    # glibc's getppid cannot fail, so ask the kernel directly
    raw = "import ctypes,os\nl=ctypes.CDLL(None,use_errno=True)\nr=l.syscall(110)\n"
    raw += "print('ok' if r>=0 else os.strerror(ctypes.get_errno()))"
    assert sbx.py(raw, "--policy", str(stricter)).stdout.strip() == EPERM
    assert sbx.py(raw).stdout.strip() == "ok"


def test_filter_is_installed(sbx: SandboxRunner) -> None:
    result = sbx.sh("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")
    assert "Seccomp:\t2" in result.stdout, result.describe()


@pytest.mark.tools("git", "gcc", "make")
def test_everyday_tools_work_under_the_filter(sbx: SandboxRunner, tmp_path: Path) -> None:
    script = (
        "set -e; cd /tmp; git init -q r; cd r; git config user.email a@b; git config user.name a;"
        " echo 'int main(void){return 0;}' > m.c; gcc -o m m.c; ./m;"
        " printf 'all:\\n\\tgcc -o m2 m.c\\n' > Makefile; make -s; ./m2;"
        " git add .; git commit -qm x; git log --oneline | wc -l;"
        " python3 -c 'import threading,subprocess,multiprocessing as m;"
        ' t=threading.Thread(target=print,args=("thread",)); t.start(); t.join();'
        ' print(subprocess.run(["true"]).returncode);'
        ' print(m.get_context("fork").Pool(2).map(abs,[-1,-2]))\''
    )
    result = sbx.sh(script)
    assert result.returncode == 0, result.describe()
    assert "thread" in result.stdout, result.describe()
    assert "[1, 2]" in result.stdout, result.describe()


@pytest.mark.tools("strace")
def test_strace_needs_ptrace_relaxed(sbx: SandboxRunner, policy_file: PolicyFile) -> None:
    denied = sbx.run("strace", "-o", "/dev/null", "true")
    assert denied.returncode != 0, denied.describe()
    relaxed = policy_file('extends = ["base"]\n[seccomp]\nallow = ["ptrace"]\n')
    works = sbx.run("strace", "-f", "-o", "/dev/null", "true", options=("--policy", str(relaxed)))
    assert works.returncode == 0, works.describe()

"""Attacks: privileges. No capabilities and no_new_privs even when invoked as root, never uid 0
inside, no nested user namespaces, no mounts, and an isolated hostname."""

from __future__ import annotations

import shutil
import socket
import subprocess
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import PolicyFile, SandboxRunner

pytestmark = [
    pytest.mark.bwrap,
    pytest.mark.userns,
    pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True),
]


def run_host(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _status_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def test_no_capabilities_and_no_new_privs(sbx: SandboxRunner) -> None:
    result = sbx.sh("cat /proc/self/status")
    assert result.returncode == 0, result.describe()
    status = _status_fields(result.stdout)
    for name in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"):
        assert int(status[name], 16) == 0, f"{name}={status[name]}\n{result.describe()}"
    assert status["NoNewPrivs"] == "1", result.describe()
    # Control: the same read outside the sandbox shows the fields parse (and, as root, caps).
    host = _status_fields(run_host(["cat", "/proc/self/status"]).stdout)
    assert "CapEff" in host
    assert "NoNewPrivs" in host


def test_uid_and_gid_inside_are_not_root(sbx: SandboxRunner) -> None:
    result = sbx.sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map")
    assert result.returncode == 0, result.describe()
    lines = result.stdout.split("\n")
    assert lines[0] != "0", result.describe()
    assert lines[1] != "0", result.describe()
    for mapping in lines[2:4]:
        inside = mapping.split()[0]
        assert inside != "0", f"uid/gid 0 is mapped inside\n{result.describe()}"


def test_setuid_binaries_do_not_elevate(sbx: SandboxRunner) -> None:
    """su/passwd/mount are setuid root on the host; no_new_privs and nosuid keep them inert."""
    result = sbx.sh(
        "for b in /usr/bin/su /usr/bin/passwd /usr/bin/mount; do ls -l $b; done; "
        "/usr/bin/mount -t tmpfs none /tmp 2>&1; echo mount=$?; "
        "su -c 'id -u' root </dev/null 2>&1; echo su=$?"
    )
    assert "mount=0" not in result.stdout, result.describe()
    assert "su=0" not in result.stdout, result.describe()


@pytest.mark.parametrize(
    "attempt",
    [
        "unshare -U true",
        "unshare -Ur id -u",
        "unshare -Urm true",
        "bwrap --ro-bind / / true",
        "bwrap --unshare-user --ro-bind / / true",
        "python3 -c 'import os; os.unshare(os.CLONE_NEWUSER)'",
    ],
)
def test_nested_user_namespaces_are_refused(sbx: SandboxRunner, attempt: str) -> None:
    result = sbx.sh(f"{attempt} && echo NESTED-OK")
    assert "NESTED-OK" not in result.stdout, result.describe()
    assert result.returncode != 0, result.describe()


def test_nested_user_namespaces_work_when_allowed(
    sbx: SandboxRunner, policy_file: PolicyFile
) -> None:
    """Controls: the same attempt succeeds on the host, and in a sandbox whose policy allows
    nested user namespaces, so the refusal above is the base policy's doing."""
    unshare = shutil.which("unshare")
    assert unshare is not None
    result = run_host([unshare, "-U", "true"])
    assert result.returncode == 0, result.stderr
    relaxed = policy_file('extends = ["base"]\n[hardening]\nnested_userns = true\n')
    inside = sbx.sh("unshare -U true && echo NESTED-OK", "--policy", str(relaxed))
    assert "NESTED-OK" in inside.stdout, inside.describe()


@pytest.mark.parametrize(
    "attempt",
    [
        "mount -t tmpfs none /tmp",
        "mount --bind / /tmp",
        "mount -o remount,rw /usr",
        "umount -l /usr",
        "umount -l .git/hooks",
        "mount -o remount,rw,bind .git/hooks",
        (
            "python3 -c 'import ctypes, sys; libc = ctypes.CDLL(None); "
            'sys.exit(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))\''
        ),
    ],
)
def test_mounts_are_refused(sbx: SandboxRunner, git_project: Path, attempt: str) -> None:
    result = sbx.sh(f"{attempt} && echo MOUNT-OK; echo x > .git/hooks/pre-commit && echo WROTE")
    assert "MOUNT-OK" not in result.stdout, result.describe()
    assert "WROTE" not in result.stdout, result.describe()
    assert (git_project / ".git" / "hooks" / "pre-commit").read_text().endswith("# benign\n")


def test_hostname_is_isolated(sbx: SandboxRunner) -> None:
    host = socket.gethostname()
    result = sbx.sh("cat /proc/sys/kernel/hostname; hostname bwsbx-evil 2>&1; echo rc=$?")
    assert result.returncode == 0, result.describe()
    inside = result.stdout.splitlines()
    assert inside[0] == "sandbox", result.describe()
    assert inside[0] != host
    assert "rc=0" not in result.stdout, result.describe()
    assert socket.gethostname() == host

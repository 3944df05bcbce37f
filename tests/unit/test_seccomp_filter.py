"""The syscall filter's BPF program, run through a small classic-BPF interpreter for every
ABI it knows (the sandbox tests run it in the real kernel on this host's ABI)."""

from __future__ import annotations

import errno
import struct

import pyseccomp
import pytest

from bwsandbox.compile._seccomp import build_filter, seccomp_rules
from bwsandbox.policy._model_seccomp import GROUPS
from bwsandbox.policy._syscalls import ARCHES, SYSCALLS

ALLOW = "allow"
AUDIT = {"x86_64": 0xC000003E, "i386": 0x40000003, "aarch64": 0xC00000B7}
LIBSECCOMP = {
    "x86_64": pyseccomp.Arch.X86_64,
    "i386": pyseccomp.Arch.X86,
    "aarch64": pyseccomp.Arch.AARCH64,
}


def run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> str | int:
    """Interpret ``program`` on one seccomp_data: ALLOW, or the errno it returns."""
    padded = (*args, *[0] * (6 - len(args)))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *[a & (2**64 - 1) for a in padded])
    insns: list[tuple[int, int, int, int]] = [
        struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)
    ]
    acc, pc = 0, 0
    for _ in range(10_000):
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == 0x05:  # ja
            pc += 1 + k
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            hit = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if hit else jf)
        elif code == 0x06:  # ret
            if k == 0x7FFF0000:
                return ALLOW
            assert k & 0xFFFF0000 == 0x00050000, hex(k)
            errno_value: int = k & 0xFFFF
            return errno_value
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("no return")


DEFAULT = build_filter(seccomp_rules((), ()))


def nr(name: str, arch: str) -> int:
    return SYSCALLS[name][ARCHES.index(arch)]


def test_table_agrees_with_libseccomp() -> None:
    names = {name for members in GROUPS.values() for name in members}
    names |= {"read", "write", "openat", "execve", "getppid", "clone", "ioctl"}
    for name in sorted(names):
        assert name in SYSCALLS, name
        for arch, number in zip(ARCHES, SYSCALLS[name], strict=True):
            expected = pyseccomp.resolve_syscall(LIBSECCOMP[arch], name)
            assert number == (expected if expected >= 0 else -1), (name, arch)


@pytest.mark.parametrize("arch", ARCHES)
def test_every_denied_syscall_gets_eperm(arch: str) -> None:
    plain = [
        n
        for g, members in GROUPS.items()
        if g not in ("namespaces", "personality", "tty")
        for n in members
    ]
    plain += ["setns", "unshare"]
    checked = 0
    for name in plain:
        number = nr(name, arch)
        if number >= 0:
            args = (0x10000000,) if name == "unshare" else ()
            assert run_bpf(DEFAULT, number, AUDIT[arch], args) == errno.EPERM, (name, arch)
            checked += 1
    assert checked > 30
    for name in ("read", "write", "execve", "getppid"):
        assert run_bpf(DEFAULT, nr(name, arch), AUDIT[arch]) == ALLOW


@pytest.mark.parametrize("arch", ARCHES)
def test_argument_rules(arch: str) -> None:
    a = AUDIT[arch]
    ioctl, clone, unshare = nr("ioctl", arch), nr("clone", arch), nr("unshare", arch)
    assert run_bpf(DEFAULT, ioctl, a, (0, 0x5412)) == errno.EPERM  # TIOCSTI
    assert run_bpf(DEFAULT, ioctl, a, (0, 0x1_0000_5412)) == errno.EPERM  # high bits ignored
    assert run_bpf(DEFAULT, ioctl, a, (0, 0x541C)) == errno.EPERM  # TIOCLINUX
    assert run_bpf(DEFAULT, ioctl, a, (0, 0x5413)) == ALLOW  # TIOCGWINSZ
    thread = 0x003D0F00  # what pthread_create passes
    assert run_bpf(DEFAULT, clone, a, (thread,)) == ALLOW
    assert run_bpf(DEFAULT, clone, a, (0x01200011,)) == ALLOW  # fork()
    for flag in (0x10000000, 0x20000000, 0x40000000, 0x00020000, 0x04000000, 0x08000000):
        assert run_bpf(DEFAULT, clone, a, (0x11 | flag,)) == errno.EPERM, hex(flag)
    assert run_bpf(DEFAULT, unshare, a, (0x00000080,)) == errno.EPERM  # CLONE_NEWTIME
    assert run_bpf(DEFAULT, unshare, a, (0x00000400,)) == ALLOW  # CLONE_FILES
    assert run_bpf(DEFAULT, nr("clone3", arch), a) == errno.ENOSYS
    personality = nr("personality", arch)
    assert run_bpf(DEFAULT, personality, a, (0xFFFFFFFF,)) == ALLOW
    assert run_bpf(DEFAULT, personality, a, (0x8,)) == ALLOW
    assert run_bpf(DEFAULT, personality, a, (0x0040000,)) == errno.EPERM  # ADDR_NO_RANDOMIZE


def test_x32_and_unknown_abis_get_enosys() -> None:
    assert run_bpf(DEFAULT, 0x40000000 | 1, AUDIT["x86_64"]) == errno.ENOSYS
    assert run_bpf(DEFAULT, 1, 0x40000028) == errno.ENOSYS  # 32-bit arm


def test_allow_relaxes_groups_and_single_syscalls() -> None:
    relaxed = build_filter(seccomp_rules(("ptrace", "tty", "bpf"), ()))
    a = AUDIT["x86_64"]
    for name in ("ptrace", "process_vm_readv", "bpf"):
        assert run_bpf(relaxed, nr(name, "x86_64"), a) == ALLOW
    assert run_bpf(relaxed, nr("ioctl", "x86_64"), a, (0, 0x5412)) == ALLOW
    assert run_bpf(relaxed, nr("keyctl", "x86_64"), a) == errno.EPERM
    one = build_filter(seccomp_rules(("pidfd_getfd",), ()))
    assert run_bpf(one, nr("pidfd_getfd", "x86_64"), a) == ALLOW
    assert run_bpf(one, nr("ptrace", "x86_64"), a) == errno.EPERM


def test_deny_adds_and_wins_over_allow() -> None:
    rules = seccomp_rules(("ptrace",), ("getppid", "ptrace", "ioctl"))
    program = build_filter(rules)
    a = AUDIT["aarch64"]
    assert run_bpf(program, nr("getppid", "aarch64"), a) == errno.EPERM
    assert run_bpf(program, nr("ptrace", "aarch64"), a) == errno.EPERM
    assert run_bpf(program, nr("ioctl", "aarch64"), a, (0, 0x5413)) == errno.EPERM  # all ioctl


def test_nested_userns_relaxes_namespaces_and_mounts() -> None:
    rules = seccomp_rules((), (), nested_userns=True)
    program = build_filter(rules)
    a = AUDIT["x86_64"]
    assert run_bpf(program, nr("clone", "x86_64"), a, (0x10000011,)) == ALLOW
    assert run_bpf(program, nr("mount", "x86_64"), a) == ALLOW
    assert run_bpf(program, nr("clone3", "x86_64"), a) == ALLOW
    assert run_bpf(program, nr("keyctl", "x86_64"), a) == errno.EPERM
    assert "namespaces" in rules.relaxed


def test_describe_names_every_rule() -> None:
    text = "\n".join(seccomp_rules(("ptrace",), ()).describe())
    assert "keyctl" in text
    assert "TIOCSTI" in text
    assert "clone3" in text
    assert "relaxed by the policy: ptrace" in text


def test_a_relaxation_denied_again_is_not_reported_as_relaxed() -> None:
    """The browser policy: nested_userns relaxes namespaces and mount; deny takes mount back."""
    rules = seccomp_rules((), ("mount",), nested_userns=True)
    assert rules.relaxed == ("namespaces",)
    assert "mount" in rules.denied
    assert "setns" not in rules.denied
    assert seccomp_rules((), (), nested_userns=True).relaxed == ("namespaces", "mount")

"""The syscall filter: a classic-BPF program for bwrap's ``--seccomp FD``, built here, purely.

What agents never need and attackers like fails with ``EPERM`` (not a kill: a tool that
probes for a feature falls back, the way it does without the privilege). The list, by group,
and why each is there: docs/seccomp.md. ``seccomp.allow`` relaxes groups or single syscalls;
``seccomp.deny`` adds syscalls. The program is a few hundred bytes built in tens of
microseconds, so it travels in the plan as a data file (a sealed memfd at launch, like the
generated ``/etc`` files) and the plan cache stores it with the rest.

Layout: dispatch on ``seccomp_data.arch`` to one section per known ABI (x86_64, i386 on
x86_64 hosts, aarch64); x32 syscalls and unknown ABIs get ``ENOSYS``. Within a section every
rule is ``jeq nr`` over a return, so no jump is ever out of range whatever the list holds.
Argument checks compare the low 32 bits of the argument: the kernel truncates these
arguments (``unsigned int cmd`` of ioctl, clone/unshare namespace flags, personality) to
32 bits, so a value with high bits set cannot slip past.
"""

from __future__ import annotations

import errno
import sys

from bwsandbox._record import record
from bwsandbox.policy import ARCHES, GROUPS, SYSCALLS

__all__ = ["GROUPS", "SeccompRules", "build_filter", "seccomp_rules"]

NESTING_GROUPS = ("namespaces", "mount")

_AUDIT_ARCH = {"x86_64": 0xC000003E, "i386": 0x40000003, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET; NEWTIME for unshare
_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
_NS_FLAGS |= 0x40000000
_NEWTIME = 0x00000080
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
#: PER_LINUX, PER_LINUX32, UNAME26 and both, and the query 0xffffffff (what Docker allows)
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

_LD_ABS, _JEQ, _JSET, _JGE, _JA, _RET = 0x20, 0x15, 0x45, 0x35, 0x05, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_EPERM = _ERRNO | errno.EPERM
_ENOSYS = _ERRNO | errno.ENOSYS
_NR, _ARCH = 0, 4


def _arg(index: int) -> int:
    """Offset of the low 32 bits of argument ``index`` (little-endian ABIs only)."""
    return 16 + 8 * index


@record
class SeccompRules:
    """What the filter denies: plain syscalls, and the argument-checked ones by name."""

    denied: tuple[str, ...]
    conditional: tuple[str, ...]  # of clone, unshare, ioctl, personality
    enosys: tuple[str, ...]  # clone3
    relaxed: tuple[str, ...]  # groups and syscalls the policy allowed again

    def describe(self) -> list[str]:
        """One line per rule, for ``explain``."""
        notes = {
            "clone": "clone with namespace flags",
            "unshare": "unshare with namespace flags",
            "ioctl": "ioctl TIOCSTI and TIOCLINUX",
            "personality": "personality other than PER_LINUX/PER_LINUX32/UNAME26",
        }
        lines = [f"EPERM: {', '.join(self.denied)}"] if self.denied else []
        lines += [f"EPERM: {notes[name]}" for name in self.conditional]
        lines += [f"ENOSYS: {name} (falls back to clone)" for name in self.enosys]
        if self.relaxed:
            lines.append(f"relaxed by the policy: {', '.join(self.relaxed)}")
        return lines


def seccomp_rules(
    allow: tuple[str, ...], deny: tuple[str, ...], *, nested_userns: bool = False
) -> SeccompRules:
    """The rules for ``seccomp.allow``/``deny`` (names already checked by the loader)."""
    relaxed = [*allow, *(NESTING_GROUPS if nested_userns else ())]
    off = {name for item in relaxed for name in GROUPS.get(item, (item,))}
    wanted = [name for members in GROUPS.values() for name in members if name not in off]
    wanted += [name for item in deny for name in GROUPS.get(item, (item,))]
    wanted = list(dict.fromkeys(wanted))
    special = ("clone", "unshare", "ioctl", "personality")
    explicit = {name for item in deny for name in GROUPS.get(item, (item,))}
    conditional = tuple(n for n in wanted if n in special and n not in explicit)
    enosys = tuple(n for n in wanted if n == "clone3" and n not in explicit)
    denied = tuple(n for n in wanted if n not in conditional and n not in enosys)
    # a relaxation that seccomp.deny takes back whole (the browser policy's mount) is no longer one
    still = [item for item in relaxed if not set(GROUPS.get(item, (item,))) <= explicit]
    return SeccompRules(denied, conditional, enosys, tuple(dict.fromkeys(still)))


class _Program:
    def __init__(self) -> None:
        self.code: list[tuple[int, int, int, int]] = []

    def op(self, code: int, k: int, jt: int = 0, jf: int = 0) -> None:
        self.code.append((code, jt, jf, k))

    def deny_if(self, value: int, ret: int) -> None:
        """``if A == value: return ret``."""
        self.op(_JEQ, value, 0, 1)
        self.op(_RET, ret)

    def bytes(self) -> bytes:
        # struct.pack("=HBBI", ...) without importing struct (the start-up path)
        order = sys.byteorder
        return b"".join(
            code.to_bytes(2, order) + bytes((jt, jf)) + k.to_bytes(4, order)
            for code, jt, jf, k in self.code
        )


def _section(program: _Program, column: int, rules: SeccompRules, *, x32: bool) -> None:
    """Rules for one ABI; expects nothing in A; every path returns."""
    program.op(_LD_ABS, _NR)
    if x32:
        program.op(_JGE, _X32_BIT, 0, 1)
        program.op(_RET, _ENOSYS)
    for name in rules.denied:
        number = SYSCALLS[name][column]
        if number >= 0:
            program.deny_if(number, _EPERM)
    for name in rules.enosys:
        number = SYSCALLS[name][column]
        if number >= 0:
            program.deny_if(number, _ENOSYS)
    for name in rules.conditional:
        number = SYSCALLS[name][column]
        if number < 0:
            continue
        body = _Program()
        if name in ("clone", "unshare"):
            flags = _NS_FLAGS | (_NEWTIME if name == "unshare" else 0)
            body.op(_LD_ABS, _arg(0))
            body.op(_JSET, flags, 0, 1)
            body.op(_RET, _EPERM)
        elif name == "ioctl":
            body.op(_LD_ABS, _arg(1))
            body.deny_if(_TIOCSTI, _EPERM)
            body.deny_if(_TIOCLINUX, _EPERM)
        else:  # personality: the ordinary values pass, any other fails
            body.op(_LD_ABS, _arg(0))
            for value in _PERSONALITIES:
                body.deny_if(value, _ALLOW)
            body.op(_RET, _EPERM)
        body.op(_RET, _ALLOW)
        program.op(_JEQ, number, 0, len(body.code))
        program.code += body.code
        program.op(_LD_ABS, _NR)  # unreachable (the body returns); keeps A = nr regardless
    program.op(_RET, _ALLOW)


def build_filter(rules: SeccompRules) -> bytes:
    """The BPF program (``struct sock_filter[]`` in host byte order) for ``rules``."""
    sections: list[tuple[str, _Program]] = []
    for column, arch in enumerate(ARCHES):
        section = _Program()
        _section(section, column, rules, x32=arch == "x86_64")
        sections.append((arch, section))
    program = _Program()
    program.op(_LD_ABS, _ARCH)
    # dispatch: jeq arch; ja section (ja takes a 32-bit offset, so any size fits)
    dispatch = 2 * len(sections) + 1
    offset = dispatch - 2  # from the first ja to the end of the dispatch block
    for arch, section in sections:
        program.op(_JEQ, _AUDIT_ARCH[arch], 0, 1)
        program.op(_JA, offset)
        offset += len(section.code) - 2
    program.op(_RET, _ENOSYS)
    for _, section in sections:
        program.code += section.code
    return program.bytes()

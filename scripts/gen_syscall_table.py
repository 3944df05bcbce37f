"""Regenerate bwsandbox/policy/_syscalls.py from libseccomp's tables (via pyseccomp).

/opt/bwsbx-venv/bin/python scripts/gen_syscall_table.py > bwsandbox/policy/_syscalls.py
/opt/bwsbx-venv/bin/ruff format bwsandbox/policy/_syscalls.py
"""

from __future__ import annotations

import pyseccomp

ARCHES = (
    ("x86_64", pyseccomp.Arch.X86_64),
    ("i386", pyseccomp.Arch.X86),
    ("aarch64", pyseccomp.Arch.AARCH64),
)


def table() -> dict[str, tuple[int, ...]]:
    names: set[str] = set()
    for _, arch in ARCHES:
        for number in range(1024):
            try:
                name = pyseccomp.resolve_syscall(arch, number)
            except (ValueError, OSError):
                continue
            if isinstance(name, bytes) and name:
                names.add(name.decode())
    out: dict[str, tuple[int, ...]] = {}
    for name in sorted(names):
        numbers = []
        for _, arch in ARCHES:
            number = pyseccomp.resolve_syscall(arch, name)
            numbers.append(number if isinstance(number, int) and number >= 0 else -1)
        out[name] = tuple(numbers)
    return out


def main() -> None:
    print('"""Syscall numbers per architecture, generated from libseccomp by')
    print('scripts/gen_syscall_table.py: do not edit. -1: not on that architecture."""')
    print()
    print("from __future__ import annotations")
    print()
    print('__all__ = ["ARCHES", "SYSCALLS"]')
    print()
    print("#: column order of :data:`SYSCALLS`")
    print("ARCHES = (" + ", ".join(f'"{name}"' for name, _ in ARCHES) + ")")
    print()
    print("SYSCALLS: dict[str, tuple[int, int, int]] = {")
    for name, numbers in table().items():
        print(f'    "{name}": ({", ".join(map(str, numbers))}),')
    print("}")


if __name__ == "__main__":
    main()

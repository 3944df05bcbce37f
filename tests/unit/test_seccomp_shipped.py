"""The stored syscall filters (``compile/_seccomp_shipped.py``) are current and are
``build_filter``'s programs; any other values are built as before.

The oracle is the builder itself: every stored program equals ``build_filter`` of its key's
rules (this host is little-endian, as the stored programs are). The control: values no
shipped policy has (``seccomp.deny = ["uname"]``) are not stored and are built.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bwsandbox.compile._limits import compile_seccomp, seccomp_program
from bwsandbox.compile._seccomp import build_filter, seccomp_rules
from bwsandbox.compile._seccomp_shipped import PROGRAMS
from bwsandbox.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_seccomp_programs.py"
NAMES = sorted(path.stem for path in (REPO / "policies").glob("*.toml"))

pytestmark = pytest.mark.skipif(sys.byteorder != "little", reason="stored little-endian")


@pytest.mark.parametrize("key", list(PROGRAMS), ids=repr)
def test_a_stored_program_is_build_filters(
    key: tuple[tuple[str, ...], tuple[str, ...], bool],
) -> None:
    allow, deny, nested = key
    assert PROGRAMS[key] == build_filter(seccomp_rules(allow, deny, nested_userns=nested))
    assert seccomp_program(allow, deny, nested_userns=nested) is PROGRAMS[key]


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_policy_has_its_program_stored(name: str) -> None:
    policy = load_policy([name])
    key = (policy.seccomp.allow, policy.seccomp.deny, policy.hardening.nested_userns)
    assert key in PROGRAMS


def test_control_other_values_are_built() -> None:
    key = ((), ("uname",), False)
    assert key not in PROGRAMS
    program = seccomp_program(*key[:2], nested_userns=key[2])
    assert program == compile_seccomp(*key[:2], nested_userns=key[2])[1]
    assert program not in PROGRAMS.values()


def test_a_start_with_a_shipped_policy_loads_no_builder_or_syscall_table() -> None:
    code = (
        "import sys\n"
        "from bwsandbox.compile._limits import seccomp_program\n"
        "seccomp_program((), (), nested_userns=False)\n"
        "print(sorted(m for m in ('bwsandbox.compile._seccomp', 'bwsandbox.policy._syscalls')"
        " if m in sys.modules))\n"
        "seccomp_program((), ('uname',), nested_userns=False)\n"  # control: built
        "print('bwsandbox.compile._seccomp' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.split("\n")
    assert out[:2] == ["[]", "True"]

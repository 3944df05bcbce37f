"""The /proc covers: which bwrap options each probed kind gives (pure, every combination)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bwsandbox._errors import DependencyError
from bwsandbox.compile import HostFacts, PathInfo, PathKind
from bwsandbox.compile._options import BindMount, DataBind, FdRef, RemountRo, TmpfsMount
from bwsandbox.compile._procfs import (
    OUR_MASKED,
    RUNTIME_MASKED,
    RUNTIME_READONLY,
    SYS_MASKED,
    proc_mounts,
    proc_paths_to_probe,
)
from bwsandbox.testing import fake_host_facts

KINDS = (PathKind.DIR, PathKind.FILE, PathKind.MISSING, PathKind.SYMLINK, PathKind.OTHER)
PATHS = proc_paths_to_probe()


def _combinations() -> list[dict[str, PathKind]]:
    """Every path with every kind (the rest present as on a full kernel), plus random mixes."""
    import random

    full = {
        path: PathKind.DIR if path.count("/") == 2 and "." not in path else PathKind.FILE
        for path in PATHS
    }
    cases = [{**full, path: kind} for path in PATHS for kind in KINDS]
    rng = random.Random(9)
    cases += [{path: rng.choice(KINDS) for path in PATHS} for _ in range(200)]
    return cases


def _facts(kinds: dict[str, PathKind]) -> HostFacts:
    paths = {
        path: PathInfo(kind, "x" if kind is PathKind.SYMLINK else "")
        for path, kind in kinds.items()
    }
    return fake_host_facts(root=True, paths=paths)


def test_the_lists_are_the_runtimes_defaults() -> None:
    assert set(RUNTIME_READONLY) == {
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    }
    for path in (
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/latency_stats",
        "/proc/acpi",
        "/proc/scsi",
        "/proc/interrupts",
    ):
        assert path in RUNTIME_MASKED
    assert "/proc/cmdline" in OUR_MASKED
    assert set(PATHS) == {*RUNTIME_READONLY, *RUNTIME_MASKED, *OUR_MASKED, *SYS_MASKED}


@pytest.mark.parametrize("sys_visible", [False, True])
def test_every_present_path_is_covered_and_no_absent_one(sys_visible: bool) -> None:
    for kinds in _combinations():
        _check(kinds, sys_visible)


def _check(kinds: dict[str, PathKind], sys_visible: bool) -> None:
    refs: list[str] = []

    def data_file(name: str, content: bytes) -> FdRef:
        assert content == b""
        refs.append(name)
        return FdRef(f"data:{name}")

    visible = ["/proc", "/sys"] if sys_visible else ["/proc"]
    facts = _facts(kinds)  # root
    if kinds["/proc/sys"] is not PathKind.DIR:
        facts = replace(facts, uid=1000, gid=1000)  # root fails closed there (test below)
    adds = list(proc_mounts(facts, visible, data_file))
    by_dest: dict[str, list[object]] = {}
    for option in adds:
        by_dest.setdefault(option.dest, []).append(option)
    assert len(refs) == len(set(refs))  # one fd per masked file
    for path, kind in kinds.items():
        options = by_dest.get(path, [])
        if path in SYS_MASKED and not sys_visible:
            assert options == []
        elif kind in (PathKind.MISSING, PathKind.SYMLINK):
            assert options == []  # bwrap cannot mount over what the kernel does not have
        elif path in RUNTIME_READONLY:
            assert options == [BindMount(path, path)]
        elif kind is PathKind.DIR:
            assert options == [TmpfsMount(path, perms="0555"), RemountRo(path)]
        else:
            assert len(options) == 1
            assert isinstance(options[0], DataBind)
            assert options[0].readonly
            assert options[0].perms == "0444"


def test_root_without_a_host_proc_sys_fails_closed() -> None:
    kinds = dict.fromkeys(PATHS, PathKind.FILE)
    kinds["/proc/sys"] = PathKind.MISSING

    def data_file(name: str, content: bytes) -> FdRef:
        return FdRef(name)

    with pytest.raises(DependencyError, match="/proc/sys"):
        list(proc_mounts(_facts(kinds), ["/proc"], data_file))
    user = replace(_facts(kinds), uid=1000, gid=1000)
    assert list(proc_mounts(user, ["/proc"], data_file))  # a user's sysctls stay its own

"""[limits] and [seccomp] in policies, the CLI flags, and how limits would be enforced."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bwsandbox import PolicyError
from bwsandbox._api import build_overlay
from bwsandbox.compile._limits import ResourceLimits, compile_limits
from bwsandbox.doctor import Status, limit_checks
from bwsandbox.policy import load_policy, policy_as_dict
from bwsandbox.policy._model_limits import LimitsPolicy, parse_duration, parse_size
from bwsandbox.runtime._limits import (
    CgroupSupport,
    Enforcement,
    _make_cgroups,
    enforcement,
    format_size,
)

if TYPE_CHECKING:
    from tests.conftest import Cli


@pytest.mark.parametrize(
    ("text", "size"),
    [("512M", 512 << 20), ("4G", 4 << 30), ("4g", 4 << 30), ("1024", 1024), ("2GiB", 2 << 30)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "4X", "-1G", "1.5G", "G"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size such as"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("45", 45), ("1.5s", 1.5)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "10x", "m", "-5s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration such as"):
        parse_duration(text)


def _load(layer: dict[str, object]) -> object:
    return load_policy(["base"], overlays=[("test", layer)])


def test_policy_sections_load_and_render() -> None:
    policy = load_policy(
        ["base"],
        overlays=[
            (
                "test",
                {
                    "limits": {"memory": "4G", "cpu": 1.5, "pids": 200, "timeout": "30m"},
                    "seccomp": {"allow": ["ptrace"], "deny": ["getppid"]},
                },
            )
        ],
    )
    assert policy.limits == LimitsPolicy(memory="4G", cpu=1.5, pids=200, timeout="30m")
    assert policy.seccomp.allow == ("ptrace",)
    assert policy.seccomp.enabled
    rendered = policy_as_dict(policy)
    assert rendered["limits"] == {
        "memory": "4G",
        "cpu": 1.5,
        "pids": 200,
        "timeout": "30m",
        "strict": True,
    }
    assert compile_limits(policy.limits) == ResourceLimits(
        memory=4 << 30, cpu=1.5, pids=200, timeout=1800.0
    )


@pytest.mark.parametrize(
    ("layer", "key", "message"),
    [
        ({"limits": {"memory": "4X"}}, "limits.memory", "expected a size"),
        ({"limits": {"memory": 4}}, "limits.memory", "expected a size"),
        ({"limits": {"pids": 0}}, "limits.pids", "positive integer"),
        ({"limits": {"pids": True}}, "limits.pids", "positive integer"),
        ({"limits": {"cpu": "2"}}, "limits.cpu", "CPU cores"),
        ({"limits": {"timeout": "soon"}}, "limits.timeout", "expected a duration"),
        ({"limits": {"memroy": "1G"}}, "limits.memroy", "unknown key"),
        ({"seccomp": {"allow": ["ptrac"]}}, "seccomp.allow[0]", "unknown syscall or group"),
        ({"seccomp": {"enabled": "no"}}, "seccomp.enabled", "boolean"),
    ],
)
def test_bad_values_name_the_key(layer: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        _load(layer)
    assert info.value.key == key
    assert message in str(info.value)


def test_unknown_syscall_hint() -> None:
    with pytest.raises(PolicyError) as info:
        _load({"seccomp": {"allow": ["ptrac"]}})
    assert info.value.hint == "did you mean 'ptrace'?"


def test_flags_make_the_command_line_layer() -> None:
    overlay = build_overlay(memory="1G", cpus="0.5", pids="64", timeout="90s")
    assert overlay == {"limits": {"memory": "1G", "cpu": 0.5, "pids": 64, "timeout": "90s"}}
    assert build_overlay() == {}
    with pytest.raises(PolicyError) as info:
        build_overlay(pids="many")
    assert info.value.key == "--pids"


CONTROLLERS = ("memory", "pids", "cpu")
ALL = ResourceLimits(memory=1 << 30, cpu=1.0, pids=100, fsize=1 << 20, nofile=64, timeout=60)
NONE = CgroupSupport(0, reason="no cgroup")
V1 = CgroupSupport(1, (("memory", "/m"), ("pids", "/p"), ("cpu", "/c")))


def _how(records: list[Enforcement]) -> dict[str, tuple[str, bool]]:
    return {r.limit: (r.how, r.enforced) for r in records}


def test_enforcement_without_cgroups_for_a_user() -> None:
    how = _how(enforcement(ALL, is_root=False, cgroups=NONE))
    assert how["memory"] == ("rlimit RLIMIT_DATA (per process, not the sandbox total)", True)
    assert how["pids"][0].startswith("rlimit RLIMIT_NPROC")
    assert how["pids"][1]
    assert how["cpu"][1] is False
    assert "not enforced" in how["cpu"][0]
    assert how["fsize"] == ("rlimit RLIMIT_FSIZE", True)
    assert how["nofile"] == ("rlimit RLIMIT_NOFILE", True)
    assert "124" in how["timeout"][0]


def test_enforcement_for_root() -> None:
    without = _how(enforcement(ALL, is_root=True, cgroups=NONE))
    assert without["pids"][1] is False
    assert "root" in without["pids"][0]
    with_v1 = _how(enforcement(ALL, is_root=True, cgroups=V1))
    for name in ("memory", "pids", "cpu"):
        assert with_v1[name] == (f"cgroup v1 {name} controller (the whole sandbox)", True)


def test_only_set_limits_are_listed() -> None:
    records = enforcement(ResourceLimits(nofile=10), is_root=False, cgroups=NONE)
    assert [r.limit for r in records] == ["nofile"]
    assert not ResourceLimits()
    assert ResourceLimits(timeout=1.0)


def test_format_size() -> None:
    assert [format_size(n) for n in (4 << 30, 512 << 20, 1000)] == ["4G", "512M", "1000"]


def test_doctor_limit_checks() -> None:
    weak = {c.name: c for c in limit_checks(cgroups=NONE, is_root=False, machine="x86_64")}
    assert weak["limit cpu"].status is Status.WARN
    assert weak["limit memory"].status is Status.WARN  # per process only
    assert weak["limit pids"].status is Status.OK
    assert weak["seccomp"].status is Status.OK
    strong = {c.name: c for c in limit_checks(cgroups=V1, is_root=True, machine="aarch64")}
    assert all(c.status is Status.OK for c in strong.values())
    odd = {c.name: c for c in limit_checks(cgroups=V1, is_root=True, machine="riscv64")}
    assert odd["seccomp"].status is Status.FAIL


def test_explain_says_how_limits_apply(cli: Cli) -> None:
    result = cli("explain", "--pids", "10", "--cpus", "1", "--timeout", "5m", "--", "true")
    assert result.returncode == 0, result.stderr
    assert "resource limits (how they are enforced on this host):" in result.stdout
    assert "pids = 10: " in result.stdout
    assert "timeout = 300s: supervisor" in result.stdout
    assert "EPERM: ioctl TIOCSTI and TIOCLINUX" in result.stdout
    assert "--seccomp" in result.stdout


@pytest.mark.parametrize("version", [1, 2])
def test_session_cgroup_files(tmp_path: Path, version: int) -> None:
    """The files written for each cgroup version (plain dirs stand in for cgroupfs)."""
    parents = {name: tmp_path / (name if version == 1 else "unified") for name in CONTROLLERS}
    for path in parents.values():
        path.mkdir(exist_ok=True)
    support = CgroupSupport(version, tuple((n, str(p)) for n, p in parents.items()))
    limits = ResourceLimits(memory=1 << 30, cpu=1.5, pids=64)
    made, covered = _make_cgroups(limits, support, 4242, "abc")
    assert covered == set(CONTROLLERS)
    assert len(made) == (3 if version == 1 else 1)

    def read(controller: str, name: str) -> str:
        return (parents[controller] / "bwsandbox-abc" / name).read_text()

    if version == 2:
        assert read("memory", "memory.max") == str(1 << 30)
        assert read("memory", "memory.swap.max") == "0"
        assert read("cpu", "cpu.max") == "150000 100000"
    else:
        assert read("memory", "memory.limit_in_bytes") == str(1 << 30)
        assert read("cpu", "cpu.cfs_quota_us") == "150000"
        assert read("cpu", "cpu.cfs_period_us") == "100000"
    assert read("pids", "pids.max") == "64"
    for controller in CONTROLLERS:
        assert read(controller, "cgroup.procs") == "4242"


def test_unenforceable_limits_are_refused_unless_not_strict() -> None:
    """Root with no pids cgroup (a container on cgroup v1 whose mount the probe could not
    place): RLIMIT_NPROC never applies to host uid 0, so --pids would pass silently."""
    from bwsandbox._errors import DependencyError
    from bwsandbox.runtime._limits import CgroupSupport, enforcement, refuse_unenforceable

    none = CgroupSupport(0, reason="no cgroup")
    limits = ResourceLimits(pids=40)
    records = enforcement(limits, is_root=True, cgroups=none)
    with pytest.raises(DependencyError, match="cannot enforce pids 40") as caught:
        refuse_unenforceable(limits, records)
    assert "strict = false" in str(caught.value)
    refuse_unenforceable(ResourceLimits(pids=40, strict=False), records)  # allowed: warned
    user = enforcement(limits, is_root=False, cgroups=none)
    refuse_unenforceable(limits, user)  # RLIMIT_NPROC applies to an ordinary user


@pytest.mark.parametrize(
    ("mount", "own", "expected"),
    [
        (("/sys/fs/cgroup/pids", "/"), "/user.slice", "/sys/fs/cgroup/pids/user.slice"),
        (("/sys/fs/cgroup/pids", "/"), "/", "/sys/fs/cgroup/pids"),
        # an engine bind-mounts the container's own cgroup (mountinfo root = that cgroup)
        (("/sys/fs/cgroup/pids", "/docker/abc"), "/docker/abc", "/sys/fs/cgroup/pids"),
        (("/sys/fs/cgroup/pids", "/docker/abc"), "/docker/abc/x", "/sys/fs/cgroup/pids/x"),
        (("/sys/fs/cgroup/pids", "/docker/abc"), "/docker/abcd", None),
        (("/sys/fs/cgroup/pids", "/docker/abc"), "/other", None),
    ],
)
def test_cgroup_dir_honours_the_mount_root(
    mount: tuple[str, str], own: str, expected: str | None
) -> None:
    from bwsandbox.runtime._limits import cgroup_dir

    assert cgroup_dir(mount, own) == expected


def test_probe_reads_the_mount_root_from_mountinfo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A container's v1 pids hierarchy: the probe must find the writable dir the mount
    shows, not ``mount + own path`` (which does not exist there)."""
    from bwsandbox.runtime import _limits

    pids = tmp_path / "pids"
    pids.mkdir()
    files = {
        "/proc/self/mountinfo": (
            f"30 25 0:26 /docker/abc {pids} rw,nosuid - cgroup cgroup rw,pids\n"
            "31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        ),
        "/proc/self/cgroup": "5:pids:/docker/abc\n0::/docker/abc\n",
    }
    monkeypatch.setattr(_limits, "_read", lambda path: files.get(path, ""))
    support = _limits.probe_cgroups()
    assert support.version == 1
    assert support.parent("pids") == str(pids)

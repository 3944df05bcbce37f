"""Finding the command inside the sandbox from the plan's mounts (no bwrap needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bwsandbox import CommandNotExecutableError, CommandNotFoundError
from bwsandbox.compile import (
    DataFile,
    MountEntry,
    MountKind,
    NetworkPlan,
    SandboxPlan,
    SandboxUser,
)
from bwsandbox.compile._options import DataBind, FdRef
from bwsandbox.policy._model import NetworkMode
from bwsandbox.runtime._resolve import Lookup, resolve_command, sandbox_lookup


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A fake host: usr/bin with tools, a project with scripts."""
    usr_bin = tmp_path / "usr" / "bin"
    usr_bin.mkdir(parents=True)
    for name, mode in (("tool", 0o755), ("data.txt", 0o644), ("python3.11", 0o755)):
        (usr_bin / name).write_text("#!/bin/sh\n")
        (usr_bin / name).chmod(mode)
    (usr_bin / "python3").symlink_to("python3.11")
    (usr_bin / "abs-link").symlink_to("/usr/bin/tool")  # absolute: resolved in the sandbox
    (usr_bin / "outside-link").symlink_to("/opt/elsewhere/tool")
    (usr_bin / "subdir").mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / "run.sh").write_text("#!/bin/sh\n")
    (project / "run.sh").chmod(0o755)
    (project / "notes.sh").write_text("#!/bin/sh\n")
    (project / "notes.sh").chmod(0o644)
    (tmp_path / "opt" / "elsewhere").mkdir(parents=True)
    (tmp_path / "opt" / "elsewhere" / "tool").write_text("")
    (tmp_path / "opt" / "elsewhere" / "tool").chmod(0o755)
    return tmp_path


def plan_for(host: Path, *extra: MountEntry, path: str = "/usr/bin:/bin") -> SandboxPlan:
    mounts = (
        MountEntry("/usr", MountKind.RO, str(host / "usr")),
        MountEntry("/bin", MountKind.SYMLINK, "usr/bin"),
        MountEntry("/proc", MountKind.PROC),
        MountEntry("/tmp", MountKind.TMPFS),
        MountEntry("/etc/script", MountKind.DATA),
        MountEntry("/etc/config", MountKind.DATA),
        MountEntry("/work/project", MountKind.RW, str(host / "project")),
        *extra,
    )
    script, config = FdRef("data:script"), FdRef("data:config")
    return SandboxPlan(
        bwrap="/usr/bin/bwrap",
        options=(DataBind(script, "/etc/script", perms="0755"), DataBind(config, "/etc/config")),
        command=(),
        env=(("PATH", path),),
        cwd="/work/project",
        user=SandboxUser("u", 1000, 1000, "/home/u"),
        network=NetworkPlan(NetworkMode.NONE),
        data=(DataFile(script, b"#!/bin/sh\n"), DataFile(config, b"x=1\n")),
        mounts=mounts,
    )


def test_path_search(host: Path) -> None:
    plan = plan_for(host)
    assert resolve_command(["tool"], plan) == "/usr/bin/tool"
    assert resolve_command(["python3"], plan) == "/usr/bin/python3"
    assert resolve_command(["abs-link"], plan) == "/usr/bin/abs-link"
    assert resolve_command(["/bin/tool"], plan) == "/bin/tool"  # through the /bin symlink


def test_not_found(host: Path) -> None:
    plan = plan_for(host)
    with pytest.raises(CommandNotFoundError, match="missing"):
        resolve_command(["missing"], plan)
    with pytest.raises(CommandNotFoundError):
        resolve_command(["outside-link"], plan)  # its target is not in the sandbox
    with pytest.raises(CommandNotFoundError):
        resolve_command(["/tmp/tool"], plan)  # a tmpfs starts empty
    with pytest.raises(CommandNotFoundError):
        resolve_command(["/opt/elsewhere/tool"], plan)  # exists on the host only
    with pytest.raises(CommandNotFoundError):
        resolve_command([""], plan)


def test_not_executable(host: Path) -> None:
    plan = plan_for(host)
    with pytest.raises(CommandNotExecutableError):
        resolve_command(["data.txt"], plan)
    with pytest.raises(CommandNotExecutableError):
        resolve_command(["./notes.sh"], plan)
    with pytest.raises(CommandNotExecutableError):
        resolve_command(["/usr/bin/subdir"], plan)
    with pytest.raises(CommandNotExecutableError):
        resolve_command(["/etc/config"], plan)  # a data file without x perms
    assert resolve_command(["/etc/script"], plan) == "/etc/script"


def test_relative_to_cwd(host: Path) -> None:
    plan = plan_for(host)
    assert resolve_command(["./run.sh"], plan) == "/work/project/./run.sh"
    assert resolve_command(["../project/run.sh"], plan) == "/work/project/../project/run.sh"


def test_later_mounts_cover_earlier_ones(host: Path) -> None:
    covered = plan_for(host, MountEntry("/usr/bin", MountKind.TMPFS))
    with pytest.raises(CommandNotFoundError):
        resolve_command(["tool"], covered)
    rebound = plan_for(
        host, MountEntry("/opt/elsewhere", MountKind.RO, str(host / "opt" / "elsewhere"))
    )
    assert resolve_command(["outside-link"], rebound) == "/usr/bin/outside-link"


def test_unknown_places_are_left_to_bwrap(host: Path) -> None:
    plan = plan_for(host, path="/proc/self:/usr/bin")
    assert resolve_command(["anything"], plan) is None
    assert sandbox_lookup(plan.mounts, "/proc/1/exe")[0] is Lookup.UNKNOWN


def test_mount_parents_exist(host: Path) -> None:
    plan = plan_for(host)
    assert sandbox_lookup(plan.mounts, "/work")[0] is Lookup.DIR
    assert sandbox_lookup(plan.mounts, "/")[0] is Lookup.DIR
    assert sandbox_lookup(plan.mounts, "/nothing")[0] is Lookup.MISSING

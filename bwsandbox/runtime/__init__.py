"""The runtime: from a compiled SandboxPlan to a running, supervised bwrap process.

::

    probe_host()            HostFacts: bwrap, ids, home, tmp/runtime dirs, environ, paths
    Sandbox(prepared, ...)  one session (bwsandbox.prepare): work dir, launch, network,
                            supervise, clean up; Sandbox(policy, project=...) prepares it
    create_workdir() / remove_workdir() / sweep_stale_workdirs()

This face is what other packages import (tests/unit/test_layers.py). Attributes load lazily,
so ``from bwsandbox.runtime import remove_tree`` (or ``create_workdir``) does not pay
for the compiler and the supervisor.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

__all__ = [
    "ROOT_LAYOUT",
    "TIMEOUT_STATUS",
    "BwrapProcess",
    "CgroupSupport",
    "Forwarder",
    "GitGuard",
    "LaunchSpec",
    "Prepared",
    "ProcessRef",
    "ProtectedPaths",
    "Sandbox",
    "SandboxState",
    "SessionRecord",
    "Stdio",
    "TermFilter",
    "Workdir",
    "create_workdir",
    "deliver_to_group",
    "diagnose",
    "enforcement",
    "exec_in_session",
    "exit_code",
    "exit_record",
    "find_bwrap",
    "find_session",
    "git_guard",
    "install_command",
    "is_host_root",
    "keep_workdir",
    "list_sessions",
    "new_session_id",
    "plan_workdir",
    "prepare_policy",
    "probe_cgroups",
    "probe_host",
    "probe_paths",
    "register",
    "remove_tree",
    "remove_workdir",
    "runtime_dir",
    "sandbox_lookup",
    "settle_git",
    "setup_error",
    "spawn",
    "spec_for",
    "start_record",
    "sweep_stale_workdirs",
    "unregister",
]

_LAZY: dict[str, str] = {
    "spawn": "bwsandbox.runtime._launcher",
    "setup_error": "bwsandbox.runtime._launcher",
    "exit_record": "bwsandbox.runtime._launcher",
    "exit_code": "bwsandbox.runtime._launcher",
    "diagnose": "bwsandbox.runtime._launcher",
    "deliver_to_group": "bwsandbox.runtime._launcher",
    "Stdio": "bwsandbox.runtime._launcher",
    "LaunchSpec": "bwsandbox.runtime._launcher",
    "Forwarder": "bwsandbox.runtime._launcher",
    "BwrapProcess": "bwsandbox.runtime._launcher",
    "start_record": "bwsandbox.runtime._launcher",
    "spec_for": "bwsandbox.runtime._launch",
    "new_session_id": "bwsandbox.runtime._prepared",
    "plan_workdir": "bwsandbox.runtime._prepared",
    "prepare_policy": "bwsandbox.runtime._prepared",
    "Prepared": "bwsandbox.runtime._prepared",
    "ROOT_LAYOUT": "bwsandbox.runtime._probe",
    "find_bwrap": "bwsandbox.runtime._probe",
    "install_command": "bwsandbox.runtime._probe",
    "probe_host": "bwsandbox.runtime._probe",
    "probe_paths": "bwsandbox.runtime._probe",
    "TIMEOUT_STATUS": "bwsandbox.runtime._sandbox",
    "Sandbox": "bwsandbox.runtime._sandbox",
    "SandboxState": "bwsandbox.runtime._sandbox",
    "Workdir": "bwsandbox.runtime._workdir",
    "create_workdir": "bwsandbox.runtime._workdir",
    "keep_workdir": "bwsandbox.runtime._workdir",
    "remove_workdir": "bwsandbox.runtime._workdir",
    "sweep_stale_workdirs": "bwsandbox.runtime._workdir",
    "remove_tree": "bwsandbox.runtime._rmtree",
    "CgroupSupport": "bwsandbox.runtime._limits",
    "enforcement": "bwsandbox.runtime._limits",
    "is_host_root": "bwsandbox.runtime._limits",
    "probe_cgroups": "bwsandbox.runtime._limits",
    "find_session": "bwsandbox.runtime._registry",
    "list_sessions": "bwsandbox.runtime._registry",
    "register": "bwsandbox.runtime._registry",
    "runtime_dir": "bwsandbox.runtime._registry",
    "unregister": "bwsandbox.runtime._registry",
    "ProcessRef": "bwsandbox.runtime._registry_record",
    "SessionRecord": "bwsandbox.runtime._registry_record",
    "exec_in_session": "bwsandbox.runtime._exec",
    "sandbox_lookup": "bwsandbox.runtime._resolve",
    "TermFilter": "bwsandbox.runtime._termfilter",
    "ProtectedPaths": "bwsandbox.runtime._protect",
    "GitGuard": "bwsandbox.runtime._githistory",
    "git_guard": "bwsandbox.runtime._githistory",
    "settle_git": "bwsandbox.runtime._githistory",
}

if TYPE_CHECKING:
    from bwsandbox.runtime._exec import exec_in_session
    from bwsandbox.runtime._githistory import GitGuard, git_guard, settle_git
    from bwsandbox.runtime._launch import spec_for
    from bwsandbox.runtime._launcher import (
        BwrapProcess,
        Forwarder,
        LaunchSpec,
        Stdio,
        deliver_to_group,
        diagnose,
        exit_code,
        exit_record,
        setup_error,
        spawn,
        start_record,
    )
    from bwsandbox.runtime._limits import CgroupSupport, enforcement, is_host_root, probe_cgroups
    from bwsandbox.runtime._prepared import Prepared, new_session_id, plan_workdir, prepare_policy
    from bwsandbox.runtime._probe import (
        ROOT_LAYOUT,
        find_bwrap,
        install_command,
        probe_host,
        probe_paths,
    )
    from bwsandbox.runtime._protect import ProtectedPaths
    from bwsandbox.runtime._registry import (
        find_session,
        list_sessions,
        register,
        runtime_dir,
        unregister,
    )
    from bwsandbox.runtime._registry_record import ProcessRef, SessionRecord
    from bwsandbox.runtime._resolve import sandbox_lookup
    from bwsandbox.runtime._rmtree import remove_tree
    from bwsandbox.runtime._sandbox import TIMEOUT_STATUS, Sandbox, SandboxState
    from bwsandbox.runtime._termfilter import TermFilter
    from bwsandbox.runtime._workdir import (
        Workdir,
        create_workdir,
        keep_workdir,
        remove_workdir,
        sweep_stale_workdirs,
    )


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

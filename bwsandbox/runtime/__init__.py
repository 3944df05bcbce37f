"""The runtime: from a compiled SandboxPlan to a running, supervised bwrap process.

::

    probe_host()            HostFacts: bwrap, ids, home, tmp/runtime dirs, environ, paths
    Sandbox(prepared, ...)  one session (bwsandbox.prepare): work dir, launch, network,
                            supervise, clean up; Sandbox(policy, project=...) prepares it
    create_workdir() / remove_workdir() / sweep_stale_workdirs()

Attributes load lazily, so ``import bwsandbox.runtime._rmtree`` (or ``_workdir``) does not pay
for the compiler and the supervisor.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: this package is on the start-up path

__all__ = [
    "ROOT_LAYOUT",
    "Sandbox",
    "SandboxState",
    "Workdir",
    "create_workdir",
    "probe_host",
    "probe_paths",
    "remove_workdir",
    "sweep_stale_workdirs",
]

_LAZY: dict[str, str] = {
    "ROOT_LAYOUT": "bwsandbox.runtime._probe",
    "probe_host": "bwsandbox.runtime._probe",
    "probe_paths": "bwsandbox.runtime._probe",
    "Sandbox": "bwsandbox.runtime._sandbox",
    "SandboxState": "bwsandbox.runtime._sandbox",
    "Workdir": "bwsandbox.runtime._workdir",
    "create_workdir": "bwsandbox.runtime._workdir",
    "remove_workdir": "bwsandbox.runtime._workdir",
    "sweep_stale_workdirs": "bwsandbox.runtime._workdir",
}

if TYPE_CHECKING:
    from bwsandbox.runtime._probe import ROOT_LAYOUT, probe_host, probe_paths
    from bwsandbox.runtime._sandbox import Sandbox, SandboxState
    from bwsandbox.runtime._workdir import (
        Workdir,
        create_workdir,
        remove_workdir,
        sweep_stale_workdirs,
    )


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

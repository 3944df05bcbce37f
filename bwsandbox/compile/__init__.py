"""The pure core: (Policy, HostFacts, Workspace) -> SandboxPlan. No I/O here.

Attributes load lazily: ``from bwsandbox.compile import SandboxPlan`` (as the launcher does)
does not pay for the compiler. This face is what other packages import (tests/unit/test_layers.py).
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

__all__ = [
    "CA_BUNDLE_FD",
    "INJECT_DOMAIN",
    "BindMount",
    "DataBind",
    "DataFile",
    "Fd",
    "FdRef",
    "GitFacts",
    "GpuFacts",
    "HostFacts",
    "MountEntry",
    "MountKind",
    "NetworkPlan",
    "PathInfo",
    "PathKind",
    "ResourceLimits",
    "SandboxPlan",
    "SandboxUser",
    "SecretUse",
    "SshPlan",
    "Workspace",
    "compile_plan",
    "compile_seccomp",
    "endpoint_for",
    "explain_secrets",
    "paths_to_probe",
    "refusal",
    "sandbox_user",
    "secret_dests",
]

_LAZY: dict[str, str] = {
    "CA_BUNDLE_FD": "bwsandbox.compile._inspect",
    "compile_plan": "bwsandbox.compile._compiler",
    "paths_to_probe": "bwsandbox.compile._compiler",
    "sandbox_user": "bwsandbox.compile._compiler",
    "GitFacts": "bwsandbox.compile._facts",
    "GpuFacts": "bwsandbox.compile._facts",
    "HostFacts": "bwsandbox.compile._facts",
    "PathInfo": "bwsandbox.compile._facts",
    "PathKind": "bwsandbox.compile._facts",
    "Workspace": "bwsandbox.compile._facts",
    "DataFile": "bwsandbox.compile._plan",
    "MountEntry": "bwsandbox.compile._plan",
    "MountKind": "bwsandbox.compile._plan",
    "NetworkPlan": "bwsandbox.compile._plan",
    "SandboxPlan": "bwsandbox.compile._plan",
    "SandboxUser": "bwsandbox.compile._plan",
    "BindMount": "bwsandbox.compile._options",
    "DataBind": "bwsandbox.compile._options",
    "Fd": "bwsandbox.compile._options",
    "FdRef": "bwsandbox.compile._options",
    "ResourceLimits": "bwsandbox.compile._limits",
    "compile_seccomp": "bwsandbox.compile._limits",
    "INJECT_DOMAIN": "bwsandbox.compile._secrets",
    "SecretUse": "bwsandbox.compile._secrets",
    "SshPlan": "bwsandbox.compile._secrets",
    "endpoint_for": "bwsandbox.compile._secrets",
    "explain_secrets": "bwsandbox.compile._secrets",
    "secret_dests": "bwsandbox.compile._secrets",
    "refusal": "bwsandbox.compile._git",
}

if TYPE_CHECKING:
    from bwsandbox.compile._compiler import compile_plan, paths_to_probe, sandbox_user
    from bwsandbox.compile._facts import (
        GitFacts,
        GpuFacts,
        HostFacts,
        PathInfo,
        PathKind,
        Workspace,
    )
    from bwsandbox.compile._git import refusal
    from bwsandbox.compile._inspect import CA_BUNDLE_FD
    from bwsandbox.compile._limits import ResourceLimits, compile_seccomp
    from bwsandbox.compile._options import BindMount, DataBind, Fd, FdRef
    from bwsandbox.compile._plan import (
        DataFile,
        MountEntry,
        MountKind,
        NetworkPlan,
        SandboxPlan,
        SandboxUser,
    )
    from bwsandbox.compile._secrets import (
        INJECT_DOMAIN,
        SecretUse,
        SshPlan,
        endpoint_for,
        explain_secrets,
        secret_dests,
    )


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

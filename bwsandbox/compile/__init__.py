"""The pure core: (Policy, HostFacts, Workspace) -> SandboxPlan. No I/O here."""

from __future__ import annotations

from bwsandbox.compile._compiler import compile_plan, paths_to_probe, sandbox_user
from bwsandbox.compile._facts import HostFacts, PathInfo, PathKind, Workspace
from bwsandbox.compile._plan import (
    DataFile,
    MountEntry,
    MountKind,
    NetworkPlan,
    SandboxPlan,
    SandboxUser,
)

__all__ = [
    "DataFile",
    "HostFacts",
    "MountEntry",
    "MountKind",
    "NetworkPlan",
    "PathInfo",
    "PathKind",
    "SandboxPlan",
    "SandboxUser",
    "Workspace",
    "compile_plan",
    "paths_to_probe",
    "sandbox_user",
]

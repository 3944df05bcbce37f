"""compile_plan: (Policy, HostFacts, Workspace) -> SandboxPlan. Pure: no I/O."""

from __future__ import annotations

from bwsandbox.compile._facts import HostFacts, Workspace
from bwsandbox.compile._plan import SandboxPlan
from bwsandbox.policy._model import Policy

__all__ = ["compile_plan"]


def compile_plan(policy: Policy, facts: HostFacts, workspace: Workspace) -> SandboxPlan:
    raise NotImplementedError

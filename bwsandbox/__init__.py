"""bwsandbox: run commands and AI coding agents in unprivileged bubblewrap sandboxes.

The public API is exactly ``__all__``. Attributes load lazily so that ``agent-sandbox run``
pays only for what it uses.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs ~2.5 ms on the start-up path

__version__ = "0.1.0"

__all__ = [
    "CommandNotExecutableError",
    "CommandNotFoundError",
    "Decision",
    "DependencyError",
    "HostFacts",
    "LaunchError",
    "NetworkError",
    "NetworkMode",
    "Policy",
    "PolicyError",
    "Prepared",
    "ProxyError",
    "Question",
    "RunResult",
    "Sandbox",
    "SandboxError",
    "SandboxPlan",
    "SecretError",
    "Watch",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "allow",
    "compile_plan",
    "deny",
    "load_policy",
    "prepare",
    "probe_host",
    "run",
    "watch",
]

_LAZY: dict[str, str] = {
    "CommandNotExecutableError": "bwsandbox._errors",
    "CommandNotFoundError": "bwsandbox._errors",
    "DependencyError": "bwsandbox._errors",
    "LaunchError": "bwsandbox._errors",
    "NetworkError": "bwsandbox._errors",
    "PolicyError": "bwsandbox._errors",
    "ProxyError": "bwsandbox._errors",
    "SandboxError": "bwsandbox._errors",
    "SecretError": "bwsandbox._errors",
    "WorkspaceError": "bwsandbox._errors",
    "NetworkMode": "bwsandbox.policy",
    "Policy": "bwsandbox.policy",
    "load_policy": "bwsandbox.policy",
    "HostFacts": "bwsandbox.compile",
    "Workspace": "bwsandbox.compile",
    "SandboxPlan": "bwsandbox.compile",
    "compile_plan": "bwsandbox.compile",
    "probe_host": "bwsandbox.runtime",
    "Sandbox": "bwsandbox.runtime",
    "Prepared": "bwsandbox.runtime",
    "prepare": "bwsandbox._prepare",
    "RunResult": "bwsandbox._api",
    "run": "bwsandbox._api",
    "allow": "bwsandbox._live",
    "deny": "bwsandbox._live",
    "watch": "bwsandbox._live",
    "Watch": "bwsandbox._live",
    "Decision": "bwsandbox.net",
    "Question": "bwsandbox.net",
}

if TYPE_CHECKING:
    from bwsandbox._api import RunResult, run
    from bwsandbox._errors import (
        CommandNotExecutableError,
        CommandNotFoundError,
        DependencyError,
        LaunchError,
        NetworkError,
        PolicyError,
        ProxyError,
        SandboxError,
        SecretError,
        WorkspaceError,
    )
    from bwsandbox._live import Watch, allow, deny, watch
    from bwsandbox._prepare import prepare
    from bwsandbox.compile._compiler import compile_plan
    from bwsandbox.compile._facts import HostFacts, Workspace
    from bwsandbox.compile._plan import SandboxPlan
    from bwsandbox.net import Decision, Question
    from bwsandbox.policy import load_policy
    from bwsandbox.policy._model import NetworkMode, Policy
    from bwsandbox.runtime import Prepared, Sandbox, probe_host


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

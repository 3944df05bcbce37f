"""The public surface of ``bwsandbox`` is exactly the curated ``__all__``, and every name in it
resolves (lazily) to a real object."""

from __future__ import annotations

import pytest

import bwsandbox

CURATED = {
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
}


def test_all_is_exactly_the_curated_list() -> None:
    assert set(bwsandbox.__all__) == CURATED
    assert len(bwsandbox.__all__) == len(CURATED), "no duplicates"
    assert sorted(dir(bwsandbox)) == sorted(CURATED)


@pytest.mark.parametrize("name", sorted(CURATED))
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(bwsandbox, name)
    assert value is not None
    if name != "__version__":
        assert getattr(value, "__module__", "").startswith("bwsandbox"), name


def test_errors_share_one_root() -> None:
    for name in CURATED:
        if name.endswith("Error"):
            assert issubclass(getattr(bwsandbox, name), bwsandbox.SandboxError), name


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        _ = bwsandbox.no_such_name

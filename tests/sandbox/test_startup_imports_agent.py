"""The real ``agent-sandbox claude`` (stub agent, key injected by the proxy) against the real
``run --network filtered``: the agent profile adds only bwsandbox modules of its own, no
standard-library module (``python -X importtime``, the plan cache off). No timing is asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.sandbox.test_startup_imports import NEVER, imported, loaded

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

#: also not before a first request: the proxy's HTTP side of key injection
NOT_AGENT = (
    *NEVER,
    "bwsandbox.agents._clients",
    "bwsandbox.runtime._ssh",
    "bwsandbox.net._inject_http",
)


def _traced(cli: Cli, *args: str, env: dict[str, str] | None = None) -> set[str]:
    cli.env["PYTHONPROFILEIMPORTTIME"] = "1"
    cli.env["AGENT_SANDBOX_PLAN_CACHE"] = "0"
    cli.env.pop("PYTHONDONTWRITEBYTECODE", None)
    result = cli(*args, env=env) if env else cli(*args)
    assert result.returncode == 0, result.describe()
    return imported(result.stderr)


def test_the_agent_profile_adds_only_its_own_modules(cli: Cli, tmp_path: Path) -> None:
    stub = tmp_path / "bin" / "claude"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    env = {"BWSANDBOX_AGENT_BIN_CLAUDE": str(stub), "ANTHROPIC_API_KEY": "sk-ant-fake-key"}
    agent = _traced(cli, "claude", env=env)
    filtered = _traced(cli, "run", "--network", "filtered", "--allow", "example.com", "--", "true")
    added = agent - filtered
    # control: the difference is seen (the agent code and the key injection ran)
    assert {
        "bwsandbox.agents._specs",
        "bwsandbox.runtime._secrets",
        "bwsandbox.net._inject",
    } <= added
    assert sorted(n for n in added if not n.startswith("bwsandbox.")) == []
    assert loaded(agent, NOT_AGENT) == []

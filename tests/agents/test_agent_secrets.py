"""``agent-sandbox claude`` with ANTHROPIC_API_KEY: the proxy injects it by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bwsandbox.agents import KNOWN_AGENTS, AgentLaunch, prepare_agent
from bwsandbox.compile import compile_plan
from bwsandbox.policy import load_policy
from tests.unit.test_compiler import facts, workspace

from .conftest import FakeHost

KEY = "sk-ant-agent-test-0123456789"


@pytest.fixture
def host(fake_host: FakeHost) -> FakeHost:
    for name in KNOWN_AGENTS:
        fake_host.executable(fake_host.home / ".local" / "bin" / name, "\x7fELF")
    return fake_host


def _prepare(host: FakeHost, tmp_path: Path) -> tuple[dict[str, Any], AgentLaunch]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    launch = prepare_agent(
        "claude", client="acme", project=str(project), environ=host.environ, agent_args=[]
    )
    [(_, layer)] = launch.overlays
    return layer, launch


def test_claude_api_key_is_injected_by_the_proxy(host: FakeHost, tmp_path: Path) -> None:
    host.extra["ANTHROPIC_API_KEY"] = KEY
    layer, launch = _prepare(host, tmp_path)
    assert "ANTHROPIC_API_KEY" not in layer.get("env", {}).get("set", {})
    secrets = layer["secrets"]
    assert secrets == {
        "anthropic_api_key": {
            "source": "env:ANTHROPIC_API_KEY",
            "deliver": "proxy",
            "host": "api.anthropic.com",
            "header": "x-api-key",
            "template": "{secret}",
            "env": "ANTHROPIC_API_KEY",
            "base_url_env": "ANTHROPIC_BASE_URL",
        }
    }
    assert KEY not in repr(launch)
    policy = load_policy(("claude",), overlays=launch.overlays)
    plan = compile_plan(policy, facts(), workspace())
    env = dict(plan.env)
    assert env["ANTHROPIC_API_KEY"] == "bwsandbox-placeholder-anthropic_api_key"
    assert env["ANTHROPIC_BASE_URL"] == "http://api.anthropic.com.proxy.internal"
    assert KEY not in repr(plan)


def test_a_custom_base_url_keeps_the_key_in_the_environment(host: FakeHost, tmp_path: Path) -> None:
    host.extra.update(ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL="http://api.fake.test:1234")
    layer, _ = _prepare(host, tmp_path)
    assert "secrets" not in layer
    assert layer["env"]["set"]["ANTHROPIC_API_KEY"] == KEY

"""Agents behind an API gateway (docs/howto/agents.md), through the CLI, with the REAL agents.

The gateway (a fake Anthropic / OpenAI API standing in for LiteLLM, Portkey, a corporate
gateway...) listens on the host's loopback, as such gateways usually do on a workstation.
The sandbox reaches it as ``host.agent-sandbox.internal:PORT``, the one port the session
allows; the agents are pointed at it with ``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``. The
control runs the same without the ``--allow``: nothing reaches the gateway, and the exit
summary names the rule that would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwsandbox._netconst import HOST_LOOPBACK_NAME
from tests.agents.test_e2e import _agent_bins
from tests.conftest import Cli, CliResult
from tests.fakes import FakeAnthropic, FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

REPLY = "hello through the gateway 4417"


@pytest.fixture
def agents() -> Path:
    bindir, why = _agent_bins()
    if bindir is None:
        pytest.skip(f"real agents unavailable: {why}")
    return bindir


@pytest.fixture
def gateway() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(reply=REPLY) as api:
        yield api


def _claude(cli: Cli, agents: Path, port: int, *allow: str) -> CliResult:
    options = [arg for rule in allow for arg in ("--allow", rule)]
    return cli(
        "claude", "--client", "gw", "--no-tty", *options, "--", "-p", "say hi",
        env={
            "BWSANDBOX_AGENT_BIN_CLAUDE": str(agents / "claude"),
            "ANTHROPIC_API_KEY": "sk-gateway-key",
            "ANTHROPIC_BASE_URL": f"http://{HOST_LOOPBACK_NAME}:{port}",
        },
        timeout=120,
    )  # fmt: skip


def test_claude_code_through_a_gateway_on_the_host_loopback(
    cli: Cli, agents: Path, gateway: FakeAnthropic
) -> None:
    result = _claude(cli, agents, gateway.port, f"{HOST_LOOPBACK_NAME}:{gateway.port}")
    assert result.returncode == 0, result.describe()
    assert REPLY in result.stdout, result.describe()
    asked = [r for r in gateway.requests if r.path.startswith("/v1/messages")]
    assert asked, result.describe()
    assert any("say hi" in json.dumps(r.body) for r in asked)
    # the gateway gets the key the user set for it (the gateway is what checks it)
    keys = {v for r in asked for k, v in r.headers.items() if k.lower() == "x-api-key"}
    assert keys == {"sk-gateway-key"}


def test_control_without_the_allow_nothing_reaches_the_gateway(
    cli: Cli, agents: Path, gateway: FakeAnthropic
) -> None:
    result = _claude(cli, agents, gateway.port)
    assert result.returncode != 0, result.describe()
    assert REPLY not in result.stdout
    assert gateway.requests == []
    assert f"--allow {HOST_LOOPBACK_NAME}" in result.stderr, result.describe()


def test_codex_through_a_gateway_on_the_host_loopback(cli: Cli, agents: Path) -> None:
    with FakeOpenAI(reply=REPLY) as api:
        result = cli(
            "codex", "--client", "gw", "--no-tty",
            "--allow", f"{HOST_LOOPBACK_NAME}:{api.port}",
            "--", "exec", "--skip-git-repo-check", "say hi",
            env={
                "BWSANDBOX_AGENT_BIN_CODEX": str(agents / "codex"),
                "OPENAI_API_KEY": "sk-gateway-key",
                "OPENAI_BASE_URL": f"http://{HOST_LOOPBACK_NAME}:{api.port}/v1",
            },
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.describe()
        assert REPLY in result.stdout, result.describe()
        assert any("say hi" in json.dumps(body) for body in api.response_requests())

"""The REAL Claude Code with its API key injected by the proxy: it holds only a placeholder.

``agent-sandbox claude`` with ANTHROPIC_API_KEY set (and no ANTHROPIC_BASE_URL) delivers the
key by proxy injection for api.anthropic.com. Here a later layer points that secret at the
fake Anthropic API on the host's loopback (plain HTTP, the test knob), everything else as the
CLI does it. The fake must see the real key; the client's compartment must not hold it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import pytest

from bwsandbox import _paths
from bwsandbox._api import COMMAND_LINE, build_overlay
from bwsandbox.agents import AgentLaunch, prepare_agent
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox
from tests.fakes import FakeAnthropic, FakeOpenAI

from .test_e2e import _environ, agent_bin

pytestmark = [pytest.mark.slow, pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

__all__ = ["agent_bin"]

HOST = "api.fake-anthropic.test"
REPLY = "Hi from the fake API, inject-7731."


def _run_to_fake(
    launch: AgentLaunch,
    command: tuple[str, ...],
    project: Path,
    environ: dict[str, str],
    to_fake: Mapping[str, object],
    host: str,
    port: int,
) -> str:
    """Run the agent with the layer ``to_fake`` pointing its secret at a loopback fake."""
    cli = build_overlay(allow=[f"{host}:{port}"], add_hosts={host: "127.0.0.1"})
    overlays = [*launch.overlays, ("test", to_fake), (COMMAND_LINE, cli)]
    policy = load_policy(launch.policy_refs, overlays=overlays)
    with Sandbox(
        policy,
        project=project,
        command=command,
        client="inject",
        environ=environ,
        capture_output=True,
        input=b"",
    ) as box:
        code = box.wait(120)
    out = (box.stdout_data or b"").decode(errors="replace")
    err = (box.stderr_data or b"").decode(errors="replace")
    assert code == 0, out + err
    return out


def test_claude_code_with_an_injected_key(agent_bin: Path, project: Path) -> None:
    key = "sk-ant-e2e-" + secrets.token_hex(16)
    environ = _environ(BWSANDBOX_AGENT_BIN_CLAUDE=str(agent_bin / "claude"), ANTHROPIC_API_KEY=key)
    launch = prepare_agent(
        "claude", client="inject", project=str(project), environ=environ, agent_args=["-p", "hi"]
    )
    assert any("injected by the proxy" in note for note in launch.notes)
    with FakeAnthropic(reply=REPLY) as fake:
        to_fake = {
            "secrets": {
                "anthropic_api_key": {
                    "source": "env:ANTHROPIC_API_KEY",
                    "host": HOST,
                    "port": fake.port,
                    "tls": False,
                    "header": "x-api-key",
                    "env": "ANTHROPIC_API_KEY",
                    "base_url_env": "ANTHROPIC_BASE_URL",
                }
            }
        }
        out = _run_to_fake(launch, launch.command, project, environ, to_fake, HOST, fake.port)
        assert REPLY in out
        messages = [r for r in fake.requests if r.path.startswith("/v1/messages")]
        assert messages
        assert all(r.headers.get("x-api-key") == key for r in messages)
    home = Path(_paths.client_dir("inject"))
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert key.encode() not in path.read_bytes(), path
    assert os.environ.get("ANTHROPIC_API_KEY") != key


OPENAI = "api.fake-openai.test"


def test_codex_with_an_injected_key(agent_bin: Path, project: Path) -> None:
    """Codex takes its base URL only from config: -c openai_base_url points at the endpoint."""
    key = "sk-proj-e2e-" + secrets.token_hex(16)
    environ = _environ(BWSANDBOX_AGENT_BIN_CODEX=str(agent_bin / "codex"), OPENAI_API_KEY=key)
    launch = prepare_agent(
        "codex",
        client="inject",
        project=str(project),
        environ=environ,
        agent_args=["exec", "--skip-git-repo-check", "say hi"],
    )
    assert any("injected by the proxy" in note for note in launch.notes)
    real = 'openai_base_url="http://api.openai.com.proxy.internal/v1"'
    assert real in launch.command
    with FakeOpenAI(reply=REPLY) as fake:
        to_fake = {
            "secrets": {
                "openai_api_key": {
                    "source": "env:OPENAI_API_KEY",
                    "host": OPENAI,
                    "port": fake.port,
                    "tls": False,
                    "header": "Authorization",
                    "template": "Bearer {secret}",
                    "env": "OPENAI_API_KEY",
                }
            }
        }
        command = tuple(
            f'openai_base_url="http://{OPENAI}.proxy.internal/v1"' if word == real else word
            for word in launch.command
        )
        out = _run_to_fake(launch, command, project, environ, to_fake, OPENAI, fake.port)
        assert REPLY in out
        calls = [r for r in fake.requests if r.path.split("?")[0].endswith("/responses")]
        assert calls
        auth = [{k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in calls]
        assert auth == [f"Bearer {key}"] * len(calls)
    home = Path(_paths.client_dir("inject"))
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert key.encode() not in path.read_bytes(), path

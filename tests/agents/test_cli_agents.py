"""``agent-sandbox claude|codex|...`` through the real CLI: the wiring of bwsandbox.agents.

The end-to-end runs use the real Claude Code (cached by scripts/install-agents.sh) against the
fake Anthropic API on loopback, reached by a made-up name through the filtered network.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwsandbox import _paths
from tests.agents.test_e2e import ANTHROPIC_HOST, EVIL_HOST, _agent_bins
from tests.conftest import Cli
from tests.fakes import FakeAnthropic

REPLY = "cli wiring reply 7731"


@pytest.fixture
def claude_bin() -> Path:
    bindir, why = _agent_bins()
    if bindir is None:
        pytest.skip(f"real agents unavailable: {why}")
    return bindir / "claude"


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(reply=REPLY) as api:
        yield api


def _env(claude_bin: Path, port: int) -> dict[str, str]:
    return {
        "BWSANDBOX_AGENT_BIN_CLAUDE": str(claude_bin),
        "ANTHROPIC_API_KEY": "sk-cli-test",
        "ANTHROPIC_BASE_URL": f"http://{ANTHROPIC_HOST}:{port}",
    }


def _claude(cli: Cli, claude_bin: Path, port: int, *args: str, client: str = "acme") -> object:
    return cli(
        "claude",
        "--client",
        client,
        "--no-tty",
        "--add-host",
        f"{ANTHROPIC_HOST}=127.0.0.1",
        "--allow",
        f"{ANTHROPIC_HOST}:{port}",
        "--",
        *args,
        env=_env(claude_bin, port),
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.bwrap
@pytest.mark.netns
def test_claude_command_runs_the_real_agent_in_its_compartment(
    cli: Cli, claude_bin: Path, anthropic: FakeAnthropic
) -> None:
    result = cli(
        "claude",
        "--client",
        "acme",
        "--no-tty",
        "--add-host",
        f"{ANTHROPIC_HOST}=127.0.0.1",
        "--add-host",
        f"{EVIL_HOST}=127.0.0.1",
        "--allow",
        f"{ANTHROPIC_HOST}:{anthropic.port}",
        "--",
        "-p",
        "say hi",
        env=_env(claude_bin, anthropic.port),
        timeout=120,
    )
    assert result.returncode == 0, result.describe()
    assert REPLY in result.stdout
    assert "agent-sandbox: login: ANTHROPIC_API_KEY" in result.stderr
    state = Path(_paths.client_dir("acme")) / "agents" / "claude"
    assert any(p.is_file() for p in state.rglob("*")), "state persists in the compartment"
    assert not Path(_paths.client_dir("other")).exists()
    # the audit log of that session names the allowed API host
    events = [json.loads(line) for line in cli("logs", "--client", "acme").stdout.splitlines()]
    net = [e for e in events if e["event"] == "net"]
    assert any(e["host"] == ANTHROPIC_HOST and e["decision"] == "allow" for e in net)


def test_resume_is_for_agents_only(cli: Cli) -> None:
    result = cli("run", "--resume", "--", "true")
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1
    assert "--resume" in result.error_lines[0]


def test_unknown_agent_is_one_error_line(cli: Cli) -> None:
    result = cli("copilot", "--", "-p", "hi")
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1


def test_missing_agent_binary_says_how_to_install(cli: Cli, tmp_path: Path) -> None:
    # gemini is never installed by scripts/install-agents.sh, so no cache provides it
    result = cli("gemini", "--no-tty", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1
    assert "npm" in result.error_lines[0]


def test_clients_list_and_rm(cli: Cli) -> None:
    client = Path(_paths.client_dir("gone"))
    (client / "agents" / "claude" / "home").mkdir(parents=True)
    listed = cli("clients", "list")
    assert listed.returncode == 0, listed.describe()
    assert "gone" in listed.stdout
    removed = cli("clients", "rm", "gone")
    assert removed.returncode == 0, removed.describe()
    assert not client.exists()
    again = cli("clients", "rm", "gone")
    assert again.returncode == 125

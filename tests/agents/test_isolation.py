"""Attacks from inside an agent sandbox: the login mount, other clients, the host's state.

Real bwrap; the "agent" is a stand-in binary, the command a shell doing what a steered agent
would try. Network "none": these tests are about files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bwsandbox import _paths
from bwsandbox.agents import AgentLaunch, prepare_agent

from ._run import run_launch
from .conftest import FakeHost

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

TOKEN = '{"claudeAiOauth": {"accessToken": "host-oauth-token-0451"}}'


@pytest.fixture
def host(fake_host: FakeHost) -> FakeHost:
    fake_host.executable(fake_host.home / ".local" / "bin" / "claude", "#!/bin/sh\necho agent\n")
    return fake_host


def _launch(host: FakeHost, project: Path, client: str) -> AgentLaunch:
    return prepare_agent(
        "claude", client=client, project=str(project), environ=host.environ, agent_args=[]
    )


def _sh(launch: AgentLaunch, project: Path, client: str, script: str) -> str:
    ran = run_launch(
        launch, project=str(project), client=client, command=["sh", "-c", script], network="none"
    )
    assert ran.returncode == 0, ran.describe()
    return ran.stdout


def test_the_agent_runs_from_its_read_only_binding(host: FakeHost, project: Path) -> None:
    launch = _launch(host, project, "acme")
    ran = run_launch(launch, project=str(project), client="acme", network="none")
    assert ran.returncode == 0, ran.describe()
    assert ran.stdout == "agent\n"
    out = _sh(launch, project, "acme", "echo x > $(command -v claude) && echo WROTE; true")
    assert "WROTE" not in out


def test_host_oauth_login_is_read_only(host: FakeHost, project: Path) -> None:
    credentials = host.home / ".claude" / ".credentials.json"
    credentials.parent.mkdir()
    credentials.write_text(TOKEN)
    (host.home / ".claude" / "history.jsonl").write_text("host-history-secret\n")
    launch = _launch(host, project, "acme")
    out = _sh(
        launch,
        project,
        "acme",
        "cat ~/.claude/.credentials.json; echo;"
        "echo evil >> ~/.claude/.credentials.json && echo APPENDED;"
        "echo evil > ~/.claude/.credentials.json && echo TRUNCATED;"
        "rm -f ~/.claude/.credentials.json && echo REMOVED;"
        "mv ~/.claude/.credentials.json ~/.claude/x 2>/dev/null && echo MOVED;"
        "chmod 666 ~/.claude/.credentials.json 2>/dev/null && echo CHMODDED;"
        "ls -A ~/.claude; cat ~/.claude/history.jsonl 2>/dev/null; true",
    )
    assert "host-oauth-token-0451" in out  # the login is usable...
    for verb in ("APPENDED", "TRUNCATED", "REMOVED", "MOVED", "CHMODDED"):
        assert verb not in out  # ...but not writable
    assert "host-history-secret" not in out  # and nothing else of the host's ~/.claude
    assert credentials.read_text() == TOKEN
    placeholder = Path(_paths.client_dir("acme")) / "agents/claude/home/.claude/.credentials.json"
    assert placeholder.read_text() == ""


def test_client_cannot_see_another_clients_state(host: FakeHost, project: Path) -> None:
    b = _launch(host, project, "globex")
    b_state = Path(_paths.client_dir("globex")) / "agents" / "claude" / "home"
    (b_state / ".claude" / "globex-secret.jsonl").write_text("globex-secret-7731\n")
    (b_state / ".claude.json").write_text('{"globex": "globex-secret-7731"}')
    a = _launch(host, project, "acme")
    out = _sh(
        a,
        project,
        "acme",
        f"ls -A ~/.claude; cat ~/.claude.json; "
        f"cat {b_state}/.claude.json 2>&1; ls {_paths.data_dir()} 2>&1; "
        "grep -rs globex-secret ~ /tmp /run 2>/dev/null; true",
    )
    assert "globex-secret" not in out
    assert "globex" not in out.replace(str(b_state), "")
    # and B's sandbox sees its own state
    assert "globex-secret-7731" in _sh(b, project, "globex", "cat ~/.claude.json")


def test_state_written_inside_lands_in_the_clients_compartment(
    host: FakeHost, project: Path
) -> None:
    a = _launch(host, project, "acme")
    _sh(a, project, "acme", "echo remembered > ~/.claude/memory.md; echo stray > ~/stray")
    a_home = Path(_paths.client_dir("acme")) / "agents" / "claude" / "home"
    assert (a_home / ".claude" / "memory.md").read_text() == "remembered\n"
    assert not (a_home / "stray").exists()  # the rest of the home is per session
    b = _launch(host, project, "globex")
    assert "remembered" not in _sh(b, project, "globex", "cat ~/.claude/memory.md 2>&1; true")
    assert "remembered" in _sh(a, project, "acme", "cat ~/.claude/memory.md")


def test_planted_symlink_in_state_does_not_leak_host_files(
    host: FakeHost, project: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("host-secret-9928")
    secret.chmod(0o600)
    a = _launch(host, project, "acme")
    # the sandbox plants a link; on the next start the launcher must not follow it
    _sh(a, project, "acme", f"ln -sf {secret} ~/.claude/.credentials.json")
    a = _launch(host, project, "acme")
    out = _sh(a, project, "acme", "cat ~/.claude/.credentials.json 2>&1; true")
    assert "host-secret-9928" not in out
    assert secret.read_text() == "host-secret-9928"
    assert secret.stat().st_mode & 0o777 == 0o600

"""After an interactive agent session: the ``agent-sandbox`` command that continues it.

The agent's own hint (``claude --resume <id>``) would run it on the host, outside the sandbox
and its client's compartment. A stand-in agent prints such a hint; the agent's output stays
as it was, and our line follows on stderr once the sandbox is gone.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bwsandbox.cli._resume import resume_hint, session_argv

if TYPE_CHECKING:
    from tests.conftest import Cli

AGENT_HINT = "claude --resume 0f3c-fake-id"


@pytest.fixture
def fake_claude(tmp_path: Path) -> dict[str, str]:
    binary = tmp_path / "bin" / "claude"
    binary.parent.mkdir()
    binary.write_text(f"#!/bin/sh\necho 'Resume this session with:'\necho '{AGENT_HINT}'\n")
    binary.chmod(0o755)
    return {"BWSANDBOX_AGENT_BIN_CLAUDE": str(binary)}


@pytest.mark.bwrap
@pytest.mark.userns
def test_an_interactive_agent_session_ends_with_the_sandbox_resume_command(
    cli: Cli, fake_claude: dict[str, str]
) -> None:
    result = cli("claude", "--client", "acme", "--network", "none", "--tty", env=fake_claude)
    assert result.returncode == 0, result.describe()
    assert AGENT_HINT in result.stdout, "the agent's own output is untouched"
    last = result.stderr.splitlines()[-1]
    assert last.startswith("agent-sandbox: continue in the sandbox with: "), result.describe()
    assert "agent-sandbox claude --client acme --network none --tty --resume" in last
    assert "agent-sandbox claude --client acme --network none --tty -- --resume <id>" in last
    # Control: no terminal session (claude -p ...), no hint
    batch = cli("claude", "--client", "acme", "--network", "none", "--no-tty", env=fake_claude)
    assert batch.returncode == 0, batch.describe()
    assert "continue in the sandbox" not in batch.stderr, batch.describe()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["claude"], "agent-sandbox claude --resume"),
        (
            ["claude", "--client", "acme", "--", "-p", "hi"],
            "agent-sandbox claude --client acme --resume",
        ),
        (["claude", "--resume", "--client=acme"], "agent-sandbox claude --client=acme --resume"),
        (
            ["codex", "--worktree", "a b", "exec", "x"],
            "agent-sandbox codex --worktree 'a b' --resume",
        ),
        (
            ["pi", "--allow", "--odd", "--client", "c"],
            "agent-sandbox pi --allow --odd --client c --resume",
        ),
    ],
)
def test_the_hint_keeps_the_sessions_options(argv: list[str], expected: str) -> None:
    hint = resume_hint(argv[0], argv)
    assert hint is not None
    first = hint.split(" (or ")[0]
    assert first == f"agent-sandbox: continue in the sandbox with: {expected}"
    shlex.split(first.split(": ", 2)[2])  # a command line the shell reads back


def test_by_id_forms_and_agents_without_resume() -> None:
    codex = resume_hint("codex", ["codex", "--client", "x"])
    assert codex is not None
    assert codex.endswith("agent-sandbox codex --client x -- resume <id>)")
    assert resume_hint("shell", ["shell"]) is None
    assert resume_hint("claude", session_argv("claude", ["pytest", "-q"], {"client": "acme"})) == (
        "agent-sandbox: continue in the sandbox with: agent-sandbox claude --client acme --resume"
        " (or the conversation claude named: agent-sandbox claude --client acme -- --resume <id>)"
    )

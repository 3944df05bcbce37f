"""``agent-sandbox --version`` and shell completion, through the installed console script."""

from __future__ import annotations

import pytest

from bwsandbox import __version__
from tests.conftest import Cli


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.returncode == 0, result.describe()
    assert result.stdout == f"agent-sandbox {__version__}\n"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_code_for_the_shell(cli: Cli, shell: str) -> None:
    result = cli("--show-completion", shell)
    assert result.returncode == 0, result.describe()
    assert "_AGENT_SANDBOX_COMPLETE" in result.stdout
    assert "agent-sandbox" in result.stdout


def _complete(cli: Cli, words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    result = cli(
        env={
            "_AGENT_SANDBOX_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        }
    )
    assert result.returncode == 0, result.describe()
    return result.stdout.split()


def test_completes_commands(cli: Cli) -> None:
    found = _complete(cli, "agent-sandbox ex")
    assert "explain" in found
    assert all(word.startswith("ex") for word in found)
    assert _complete(cli, "agent-sandbox policy ") == ["check", "list", "show"]


def test_completes_option_names_and_choices(cli: Cli) -> None:
    assert "--network" in _complete(cli, "agent-sandbox run --net")
    assert _complete(cli, "agent-sandbox run --network ") == ["none", "filtered", "host"]

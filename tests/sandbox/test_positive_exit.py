"""Positive controls: exit statuses follow the contract, and bad policies or command lines end
with one ``error:`` line, status 125, nothing started and nothing left behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Cli, CliResult

    from .conftest import SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

EXIT_TOOL_FAILED = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


@pytest.mark.parametrize(
    ("script", "status"),
    [
        ("exit 0", 0),
        ("exit 3", 3),
        ("exit 255", 255),
        ("kill -TERM $$", 128 + 15),
        ("kill -KILL $$", 128 + 9),
        ("kill -INT $$", 128 + 2),
    ],
)
def test_exit_status_and_signals_propagate(sbx: SandboxRunner, script: str, status: int) -> None:
    result = sbx.sh(script)
    assert result.returncode == status, result.describe()
    assert result.error_lines == [], result.describe()


def test_command_not_found_is_127(sbx: SandboxRunner, cli: Cli) -> None:
    result = sbx.run("bwsbx-no-such-command")
    assert result.returncode == EXIT_NOT_FOUND, result.describe()
    assert cli.leftovers() == []


def test_command_not_executable_is_126(sbx: SandboxRunner, project: Path, cli: Cli) -> None:
    script = project / "script.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o644)
    result = sbx.run("./script.sh")
    assert result.returncode == EXIT_NOT_EXECUTABLE, result.describe()
    assert "ran" not in result.stdout
    assert cli.leftovers() == []


def _assert_tool_failure(result: CliResult, cli: Cli, *, mentions: str = "") -> None:
    assert result.returncode == EXIT_TOOL_FAILED, result.describe()
    assert len(result.error_lines) == 1, result.describe()
    assert result.stdout == "", result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    if mentions:
        assert mentions in result.error_lines[0], result.describe()
    assert cli.leftovers() == [], "nothing is left behind"


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ('extends = ["base"]\n[filesystem]\nrw_binds = ["/x"]\n', "rw_binds"),
        ('extends = ["base"]\n[network]\nmode = "bogus"\n', "network.mode"),
        ('extends = ["base"]\n[hardening]\nnested_userns = "yes"\n', "nested_userns"),
        ('extends = ["no-such-policy"]\n', "no-such-policy"),
        ("this is [not toml\n", ""),
    ],
)
def test_bad_policy_is_one_error_line_and_125(
    sbx: SandboxRunner, cli: Cli, tmp_path: Path, text: str, mentions: str
) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text(text)
    marker = tmp_path / "ran"
    result = sbx.sh(f"touch {marker}", "--policy", str(policy))
    _assert_tool_failure(result, cli, mentions=mentions)
    assert "bad.toml" in result.error_lines[0], result.describe()
    assert not marker.exists(), "the command must not run"


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--no-such-option", "--", "true"),
        ("run", "--network", "bogus", "--", "true"),
        ("run", "--project", "/nonexistent/bwsbx-project", "--", "true"),
        ("run", "--policy", "no-such-policy-name", "--", "true"),
        ("run", "--client", "../escape", "--", "true"),
        ("no-such-subcommand",),
    ],
)
def test_bad_command_line_is_one_error_line_and_125(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args)
    _assert_tool_failure(result, cli)


def test_policy_check_reports_a_bad_file(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('extends = ["base"]\ndescription = "fine"\n')
    ok = cli("policy", "check", str(good))
    assert ok.returncode == 0, ok.describe()
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = ["base"]\n[filesystem]\nro = [1]\n')
    result = cli("policy", "check", str(bad))
    _assert_tool_failure(result, cli, mentions="filesystem.ro")

"""Option values the typer layer validates are refused in the CLI's own words.

typer validates typed parameters (enums, numbers) with pydantic, whose messages read
"Value error, ..." and "Input should be ...". Every such parameter of every command, found by
walking the command tree, gets a bad value: one ``error: --opt: expected ..., got '...'``
line and exit 125, nothing else. Also ``shell-hook SHELL`` (positional) and ``--shell``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from bwsandbox.cli._app import build_app
from bwsandbox.cli._dispatch import dispatch
from bwsandbox.cli._hook import Shell, agent_sandbox_argv, hook_code

BAD = "bogus@value"
_PLAIN = (str, list[str], list[Path])


def _typed_parameters() -> Iterator[tuple[list[str], str, list[str]]]:
    """(command path, parameter, a command line giving it BAD) for typed parameters."""
    root = typer.main.get_command(build_app())

    def walk(command: object, path: list[str]) -> Iterator[tuple[list[str], str, list[str]]]:
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])
        params = list(getattr(command, "params", ()))
        for param in params:
            annotation = param.type_descriptor.annotation
            if getattr(param, "is_flag", False) or annotation in _PLAIN:
                continue
            others = [
                "x"
                for other in params
                if other is not param and other.required and not other.opts[0].startswith("-")
            ]
            if param.opts[0].startswith("-"):
                yield path, param.opts[0], [*path, param.opts[0], BAD, *others]
            else:
                yield path, param.opts[0], [*path, BAD, *others]

    yield from walk(root, [])


PARAMETERS = list(_typed_parameters())


def test_the_walk_finds_the_typed_parameters() -> None:
    found = {(" ".join(path), name) for path, name, _ in PARAMETERS}
    for expected in (("run", "--network"), ("stop", "--timeout"), ("shell-hook", "--shell")):
        assert expected in found


@pytest.mark.parametrize(
    ("argv"), [argv for _, _, argv in PARAMETERS], ids=[" ".join(a) for _, _, a in PARAMETERS]
)
def test_typed_option_errors_use_cli_wording(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert dispatch(argv) == 125
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: "), lines
    assert f"got '{BAD}'" in lines[0], lines
    for pydantic in ("Value error", "Input should", "Invalid value for", "validation error"):
        assert pydantic not in lines[0], lines
    assert captured.out == ""


def test_network_choice_wording(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["run", "--network", "filterd", "--", "true"]) == 125
    assert capsys.readouterr().err == (
        "error: --network: expected none, filtered or host, got 'filterd' "
        "(see 'agent-sandbox run --help')\n"
    )


@pytest.mark.parametrize("shell", list(Shell))
def test_shell_hook_takes_the_shell_positionally(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dispatch(["shell-hook", shell.value]) == 0
    positional = capsys.readouterr().out
    assert dispatch(["shell-hook", "--shell", shell.value]) == 0
    option = capsys.readouterr().out
    assert positional == option == hook_code(shell, agent_sandbox_argv())
    assert dispatch(["shell-hook", shell.value, "--shell", shell.value]) == 0
    capsys.readouterr()


def test_shell_hook_refuses_two_different_shells(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["shell-hook", "zsh", "--shell", "fish"]) == 125
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("error:") == 1
    assert "zsh" in captured.err
    assert "fish" in captured.err

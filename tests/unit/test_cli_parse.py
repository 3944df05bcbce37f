"""The fast parser and the typer app read one option table and agree on every command line."""

from __future__ import annotations

import pytest

from bwsandbox.cli import _runcmd
from bwsandbox.cli._app import build_app, run_app
from bwsandbox.cli._dispatch import dispatch
from bwsandbox.cli._fastparse import parse_run
from bwsandbox.cli._spec import AGENT_COMMANDS, RUN_OPTIONS, defaults

Captured = list[tuple[str, dict[str, object], tuple[str, ...]]]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    """Replace the sandbox start with a recorder: (command, values, words)."""
    calls: Captured = []

    def fake(name: str, values: dict[str, object], words: tuple[str, ...]) -> int:
        calls.append((name, values, words))
        return 0

    monkeypatch.setattr(_runcmd, "run_command", fake)
    return calls


WELL_FORMED: list[list[str]] = [
    ["--", "true"],
    ["true"],
    [],
    ["python3", "-c", "print(1)", "--policy", "x"],
    ["--policy", "a", "--policy=b", "--", "sh", "-c", "exit 3"],
    ["--network", "host", "--ro", "/usr/share", "--rw=/srv/x", "--env", "FOO", "--env=B=1", "true"],
    ["--allow", "example.com:443", "--allow", "*.pypi.org", "--add-host", "db=10.0.0.1", "curl"],
    ["--client", "c1", "--keep-workdir", "--no-tty", "--", "-weird", "--help"],
    ["--tty", "--project", "/p", "--", "--", "x"],
    ["--project=", "true"],
    ["-", "x"],
    ["--network=none", "--network", "filtered", "sh"],
    ["make", "-j4", "--keep-going"],
]


@pytest.mark.parametrize("args", WELL_FORMED, ids=lambda a: " ".join(a) or "(empty)")
@pytest.mark.parametrize("command", sorted(AGENT_COMMANDS))
def test_fast_parser_matches_typer(command: str, args: list[str], captured: Captured) -> None:
    fast = parse_run(args)
    assert fast is not None, "well-formed command lines take the fast path"
    assert run_app([command, *args]) == 0
    [(name, values, words)] = captured
    assert name == command
    assert (values, words) == fast


def test_options_keep_their_order_and_last_value_wins() -> None:
    parsed = parse_run(["--policy", "a", "--policy", "b", "--client", "x", "--client", "y", "t"])
    assert parsed is not None
    values, words = parsed
    assert values["policy"] == ("a", "b")
    assert values["client"] == "y"
    assert words == ("t",)


def test_nothing_given_means_defaults() -> None:
    assert parse_run([]) == (defaults(), ())


UNUSUAL: list[list[str]] = [
    ["--help"],
    ["-h", "true"],
    ["--bogus", "true"],
    ["-x", "true"],
    ["--network", "bad", "true"],
    ["--network"],
    ["--policy", "-x", "true"],
    ["--keep-workdir=1", "true"],
    ["--tty=yes", "true"],
    ["--no-tty=1"],
]


@pytest.mark.parametrize("args", UNUSUAL, ids=" ".join)
def test_fast_parser_defers_anything_unusual(args: list[str]) -> None:
    assert parse_run(args) is None


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--bogus", "--", "true"],
        ["run", "--network", "bad", "true"],
        ["run", "--policy"],
        ["run", "--keep-workdir=1", "true"],
        ["shell", "--frob"],
        ["frobnicate"],
        ["policy", "check"],
        ["logs", "a", "b"],
    ],
    ids=" ".join,
)
def test_bad_command_lines_are_one_error_line_and_125(
    args: list[str], captured: Captured, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dispatch(args) == 125
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "--help" in lines[0]
    assert out == ""
    assert captured == [], "nothing is started"


def test_help_is_not_an_error(captured: Captured, capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatch(["run", "--help"]) == 0
    out, _ = capsys.readouterr()
    for spec in RUN_OPTIONS:
        for name in spec.names:
            assert name in out
    assert "125" in out, "exit statuses are documented in --help"
    assert captured == []


def test_typer_options_are_derived_from_the_table() -> None:
    import typer

    group = typer.main.get_command(build_app())
    commands = group.commands  # type: ignore[attr-defined]
    for name in ("run", "shell", "explain"):
        declared = {opt for p in commands[name].params for opt in (*p.opts, *p.secondary_opts)}
        for spec in RUN_OPTIONS:
            assert set(spec.names) <= declared, (name, spec)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from bwsandbox import __version__

    assert dispatch(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"agent-sandbox {__version__}"


@pytest.mark.parametrize("args", [[], ["policy"]], ids=["(nothing)", "policy"])
def test_missing_command_shows_help_and_one_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert dispatch(args) == 125
    out, err = capsys.readouterr()
    assert "Usage" in out
    assert err.splitlines() == [err.strip()]
    assert err.startswith("error: missing command")

"""The ``agent-sandbox`` command line contract, through the installed console script."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from tests.conftest import Cli, CliResult

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

EXIT_TOOL_FAILED = 125


def assert_failed_cleanly(result: CliResult, cli: Cli, *, mentions: str = "") -> None:
    """125, exactly one ``error:`` line, nothing on stdout, nothing started or left behind."""
    assert result.returncode == EXIT_TOOL_FAILED, result.describe()
    assert len(result.error_lines) == 1, result.describe()
    assert len(result.stderr.splitlines()) == 1, result.describe()
    assert result.stdout == "", result.describe()
    if mentions:
        assert mentions in result.error_lines[0], result.describe()
    assert cli.leftovers() == [], "no work dir"
    sessions = Path(cli.env["AGENT_SANDBOX_DATA_DIR"]) / "clients"
    assert not sessions.exists(), "no session was started"


@pytest.mark.parametrize(
    ("args", "mentions", "usage"),
    [
        (["run", "--bogus", "--", "true"], "--bogus", True),
        (["run", "--network", "sideways", "--", "true"], "sideways", True),
        (["run", "--policy"], "--policy", True),
        (["run", "--keep-workdir=yes", "true"], "keep-workdir", True),
        (["frobnicate"], "frobnicate", True),
        (["run", "--policy", "no-such-policy", "--", "true"], "no-such-policy", False),
        (["run", "--project", "/nonexistent/bwsbx", "--", "true"], "/nonexistent/bwsbx", False),
        (["run", "--ro", "/nonexistent/bwsbx", "--", "true"], "/nonexistent/bwsbx", False),
        (["run", "--env", "=x", "--", "true"], "--env", False),
        (["run"], "no command", False),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else "",
)
def test_bad_command_lines(cli: Cli, args: list[str], mentions: str, usage: bool) -> None:
    result = cli(*args)
    assert_failed_cleanly(result, cli, mentions=mentions)
    assert ("--help" in result.error_lines[0]) is usage, "usage errors point to --help"


def test_bad_policy_file_is_one_line_with_file_and_key(cli: Cli, tmp_path: Path) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text('extends = ["base"]\n[filesystem]\nrw_binds = ["/x"]\n')
    result = cli("run", "--policy", str(policy), "--", "true")
    assert_failed_cleanly(result, cli, mentions="rw_binds")
    assert str(policy) in result.error_lines[0]


def test_command_options_reach_the_command(cli: Cli) -> None:
    result = cli("run", "--", "sh", "-c", 'echo "$0 $1"', "--policy", "-c")
    assert result.returncode == 0, result.describe()
    assert result.stdout == "--policy -c\n"
    unseparated = cli("run", "sh", "-c", "echo $0", "--help")
    assert unseparated.stdout == "--help\n", unseparated.describe()


def test_run_options(cli: Cli, project: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "f").write_text("read me\n")
    rw = tmp_path / "rw"
    rw.mkdir()
    script = (
        f"cat {ro}/f; echo w > {rw}/g; echo $BWSBX_A $BWSBX_B; touch {ro}/x 2>/dev/null || echo ro"
    )
    result = cli(
        "run",
        "--ro",
        str(ro),
        "--rw",
        str(rw),
        "--env",
        "BWSBX_A",
        "--env",
        "BWSBX_B=set",
        "--client",
        "c1",
        "--no-tty",
        "--",
        "sh",
        "-c",
        script,
        env={"BWSBX_A": "passed"},
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout == "read me\npassed set\nro\n"
    assert (rw / "g").read_text() == "w\n"
    logs = Path(cli.env["AGENT_SANDBOX_DATA_DIR"]) / "clients" / "c1" / "sessions"
    assert len(list(logs.iterdir())) == 1


def test_shell_profile_passes_arguments_to_bash(cli: Cli) -> None:
    result = cli("shell", "--", "-c", 'echo "$BASH_VERSION" | cut -c1; echo $SHELL')
    assert result.returncode == 0, result.describe()
    assert result.stdout.splitlines()[-1] == "/bin/bash"


def test_help_and_version(cli: Cli) -> None:
    help_text = cli("--help")
    assert help_text.returncode == 0
    for command in ("run", "shell", "explain", "policy", "doctor", "logs"):
        assert command in help_text.stdout
    assert "125" in help_text.stdout
    run_help = cli("run", "--help")
    assert run_help.returncode == 0
    assert "--add-host" in run_help.stdout
    version = cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("agent-sandbox ")


def test_policy_commands(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('extends = ["base"]\n[env.set]\nX = "1"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text("[network]\nmode = 'sometimes'\n")
    check = cli("policy", "check", str(good), str(bad))
    assert check.returncode == EXIT_TOOL_FAILED
    assert check.stdout == f"ok: {good}\n"
    assert len(check.error_lines) == 1
    assert str(bad) in check.error_lines[0]
    assert "network.mode" in check.error_lines[0]
    assert cli("policy", "check", str(good)).returncode == 0
    listing = cli("policy", "list")
    assert listing.returncode == 0
    names = [line.split()[0] for line in listing.stdout.splitlines()]
    assert {"base", "shell"} <= set(names)
    show = cli("policy", "show", "shell")
    assert show.returncode == 0
    assert tomllib.loads(show.stdout)["command"]["argv"] == ["/bin/bash", "-i"]
    as_json = json.loads(cli("policy", "show", "--json", "base").stdout)
    assert as_json["name"] == "base"


def test_explain(cli: Cli, project: Path) -> None:
    result = cli("explain", "--env", "MY_API_TOKEN=s3cr3t-value", "--", "make", "test")
    assert result.returncode == 0, result.describe()
    out = result.stdout
    assert "s3cr3t-value" not in out
    assert "MY_API_TOKEN=<redacted>" in out
    lines = out.splitlines()
    argv = lines[lines.index(next(line for line in lines if line.startswith("bwrap argv"))) + 1 :]
    assert argv[0].endswith("bwrap")
    assert argv[-3:] == ["--", "make", "test"]
    assert "--unshare-net" in argv
    assert ["--bind", str(project), str(project)] == argv[argv.index(str(project)) - 1 :][:3]
    assert "{workdir}/tmp" in argv
    assert "network: none" in out
    assert "command line" in out, "the layers are listed"
    assert not (Path(cli.env["AGENT_SANDBOX_DATA_DIR"]) / "clients").exists(), "nothing ran"


def test_explain_host_network_is_loud(cli: Cli) -> None:
    result = cli("explain", "--network", "host", "--", "true")
    assert result.returncode == 0, result.describe()
    assert any(line.startswith("WARNING: ") for line in result.stdout.splitlines())
    assert "WARNING" in result.stderr
    document = json.loads(cli("explain", "--json", "--network", "host", "--", "true").stdout)
    assert document["network"]["mode"] == "host"
    assert "--share-net" in document["argv"]


def test_doctor_on_this_host(cli: Cli) -> None:
    result = cli("doctor")
    assert result.returncode == 0, result.describe()
    assert "Sandboxes work on this host" in result.stdout
    assert "bubblewrap 0.8" in result.stdout


def test_logs(cli: Cli) -> None:
    missing = cli("logs")
    assert_failed_cleanly(missing, cli, mentions="no sessions")
    assert cli("run", "--", "sh", "-c", "exit 3").returncode == 3
    result = cli("logs")
    assert result.returncode == 0, result.describe()
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["start", "exit"]
    assert events[-1]["returncode"] == 3
    session = events[0]["session"]
    assert cli("logs", session).stdout == result.stdout
    assert cli("logs", "--client", "other").returncode == EXIT_TOOL_FAILED
    bad = cli("logs", "../../etc")
    assert bad.returncode == EXIT_TOOL_FAILED
    assert len(bad.error_lines) == 1


def test_a_start_that_fails_after_the_spawn_leaves_no_sandbox_holding_stdout(cli: Cli) -> None:
    """The command is looked up while bwrap sets up (spawned, not released): when it is not
    found, bwrap's monitor and the sandbox's pid 1 are both killed, even before bwrap told
    the pid. Killed alone, early, the monitor left pid 1 waiting forever with the CLI's
    stdout, and a reader of that pipe (``cli`` here, which reads to EOF) hung: about one
    start in six on the development machine, so the start is repeated."""
    for _ in range(12):
        result = cli("run", "--", "bwsbx-no-such-command", timeout=15)
        assert result.returncode == 127, result.describe()
    assert cli.leftovers() == []


def test_not_found_and_not_executable(cli: Cli, project: Path) -> None:
    assert cli("run", "--", "bwsbx-no-such-command").returncode == 127
    script = project / "s.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o644)  # noqa: PTH101
    assert cli("run", "--", "./s.sh").returncode == 126

"""The ``agent-sandbox mcp`` contract: options, errors, exit status, stdio, no tty, hang-up."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

EXIT_TOOL_FAILED = 125


def test_help_lists_run_options_without_terminal_ones(cli: Cli) -> None:
    result = cli("mcp", "--help")
    assert result.returncode == 0, result.describe()
    for option in ("--allow", "--ro", "--rw", "--project", "--policy", "--network", "--env"):
        assert option in result.stdout
    for option in ("--tty", "--record", "--worktree", "--resume"):
        assert option not in result.stdout


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["mcp", "--tty", "--", "true"], "--tty"),
        (["mcp", "--record", "--", "true"], "--record"),
        (["mcp"], "no MCP server command"),
        (["mcp", "--network", "sideways", "--", "true"], "sideways"),
        (["mcp", "--policy", "no-such-policy", "--", "true"], "no-such-policy"),
    ],
    ids=" ".join,
)
def test_bad_command_lines_fail_cleanly(cli: Cli, args: list[str], mentions: str) -> None:
    result = cli(*args)
    assert result.returncode == EXIT_TOOL_FAILED, result.describe()
    assert result.stdout == "", result.describe()
    assert len(result.error_lines) == 1, result.describe()
    assert mentions in result.error_lines[0], result.describe()


def test_exit_status_is_the_servers(cli: Cli) -> None:
    assert cli("mcp", "--", "sh", "-c", "exit 7").returncode == 7
    missing = cli("mcp", "--", "no-such-mcp-server")
    assert missing.returncode == 127, missing.describe()
    assert missing.stdout == ""


def test_stdin_and_stdout_pass_through_unchanged(cli: Cli) -> None:
    payload = b"".join(
        json.dumps({"jsonrpc": "2.0", "id": i, "method": "x" * i}).encode() + b"\n"
        for i in range(200)
    )
    result = cli("mcp", "--keep-workdir", "--", "cat", input=payload)
    assert result.returncode == 0, result.describe()
    assert result.stdout.encode() == payload
    assert "kept the work dir" in result.stderr  # our note: stderr only


def test_policy_defaults_project_read_only_no_network(cli: Cli, project: Path) -> None:
    result = cli("explain", "--json", "--policy", "mcp", "--", "true")
    assert result.returncode == 0, result.describe()
    plan = json.loads(result.stdout)
    text = json.dumps(plan)
    assert '"none"' in text
    probe = cli("mcp", "--", "sh", "-c", "touch x 2>/dev/null && echo wrote; cat /proc/net/dev")
    assert probe.returncode == 0, probe.describe()
    assert "wrote" not in probe.stdout
    assert not (project / "x").exists()
    interfaces = [line.split(":")[0].strip() for line in probe.stdout.splitlines()[2:]]
    assert interfaces == ["lo"], probe.stdout
    # control: run binds the project read-write
    assert "wrote" in cli("run", "--", "sh", "-c", "touch x && echo wrote").stdout
    # and mcp --rw . does too, through the policy's own {project} bind
    assert "wrote" in cli("mcp", "--rw", ".", "--", "sh", "-c", "touch y && echo wrote").stdout


def test_shipped_policy_is_conservative() -> None:
    from bwsandbox._paths import shipped_policies_dir

    raw = tomllib.loads((Path(shipped_policies_dir()) / "mcp.toml").read_text())
    assert raw["network"]["mode"] == "none"
    assert raw["filesystem"]["ro"] == ["{project}"]
    assert raw["filesystem"]["remove"] == ["{project}"]


def test_never_a_terminal_even_on_one(cli: Cli) -> None:
    """stdin and stdout are a terminal: run would open a private pty, mcp passes them on."""
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [*cli.command, "mcp", "--", "sh", "-c", "echo ready"],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=cli.env,
            cwd=cli.cwd,
            timeout=60,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 0, done.stderr
    logs = cli("logs")
    start = next(json.loads(line) for line in logs.stdout.splitlines() if '"start"' in line)
    assert start["interactive"] is False, start
    assert start["policy"] == "mcp"


def _ends_after_hangup(cli: Cli, stdin: int, hang_up: object) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.Popen(
        [*cli.command, "mcp", "--", "sh", "-c", "echo up; exec sleep 600"],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
        cwd=cli.cwd,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"up\n"
    assert callable(hang_up)
    hang_up()
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("the server outlived its client's stdin") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_closing_a_stdin_pipe_ends_a_server_that_ignores_it(cli: Cli) -> None:
    read, write = os.pipe()
    try:
        done = _ends_after_hangup(cli, read, lambda: os.close(write))
    finally:
        os.close(read)
    assert done.returncode == 128 + 15, done.stderr
    assert done.stdout == b""
    assert b"closed stdin and the server did not exit: terminated" in done.stderr


def test_shutting_down_a_stdin_socket_ends_it_too(cli: Cli) -> None:
    """Node clients (libuv) give servers a socketpair and end it with shutdown(SHUT_WR)."""
    ours, theirs = socket.socketpair()
    try:
        done = _ends_after_hangup(cli, theirs.fileno(), lambda: ours.shutdown(socket.SHUT_WR))
    finally:
        ours.close()
        theirs.close()
    assert done.returncode == 128 + 15, done.stderr

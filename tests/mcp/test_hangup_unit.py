"""Pure parts: the hang-up poll and watch (fake terminate), the --rw PROJECT layer."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from bwsandbox.cli._mcp import project_rw_overlay
from bwsandbox.mcp import HangupWatch, stdin_hung_up


def test_pipe_hangup_is_seen_without_consuming_data() -> None:
    read, write = os.pipe()
    try:
        os.write(write, b'{"jsonrpc":"2.0"}\n')
        assert not stdin_hung_up(read)  # pending data is not a hang-up
        os.close(write)
        assert stdin_hung_up(read)
        assert os.read(read, 100) == b'{"jsonrpc":"2.0"}\n'  # still there for the server
    finally:
        os.close(read)


def test_socket_shutdown_is_a_hangup() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not stdin_hung_up(theirs.fileno())
        ours.shutdown(socket.SHUT_WR)
        assert stdin_hung_up(theirs.fileno())


def test_closed_fd_is_an_error_not_a_spin() -> None:
    read, write = os.pipe()
    os.close(read)
    os.close(write)
    with pytest.raises(OSError):
        stdin_hung_up(read, timeout=None)


def test_watch_terminates_after_grace_until_stopped() -> None:
    read, write = os.pipe()
    calls = threading.Semaphore(0)
    watch = HangupWatch(read, grace=0.01, terminate=calls.release).start()
    try:
        assert not watch.hung_up.wait(0.05)
        os.close(write)
        assert watch.hung_up.wait(10)
        assert calls.acquire(timeout=10)
        assert calls.acquire(timeout=10)
        assert watch.terminated.is_set()
    finally:
        watch.stop()
        os.close(read)


def test_watch_stopped_before_grace_never_terminates() -> None:
    read, write = os.pipe()
    calls: list[int] = []
    watch = HangupWatch(read, grace=3600, terminate=lambda: calls.append(1)).start()
    os.close(write)
    assert watch.hung_up.wait(10)
    watch.stop()
    os.close(read)
    assert calls == []
    assert not watch.terminated.is_set()


def test_rw_project_becomes_the_policy_project_bind(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    values: dict[str, object] = {"project": str(tmp_path), "rw": (str(other), f"{tmp_path}/.")}
    rest, extra = project_rw_overlay(values)
    assert rest["rw"] == (str(other),)
    assert extra == (("--rw project", {"filesystem": {"rw": ["{project}"]}}),)
    unchanged, none = project_rw_overlay({"project": str(tmp_path), "rw": (str(other),)})
    assert none == ()
    assert unchanged["rw"] == (str(other),)


MCP_LINES: list[list[str]] = [
    ["--", "srv"],
    ["srv", "--stdio"],
    [],
    ["--project", "/p", "--ro", "/opt/mcp", "--rw=/p", "--allow", "api.example.com", "srv"],
    ["--policy", "browser", "--env", "TOKEN", "--env=A=1", "--network", "filtered", "--", "x"],
    ["--client", "c", "--keep-workdir", "--pids", "40", "--timeout", "1h", "--", "--help"],
]


@pytest.mark.parametrize("args", MCP_LINES, ids=lambda a: " ".join(a) or "(empty)")
def test_mcp_fast_parser_matches_typer(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bwsandbox.cli import _mcp
    from bwsandbox.cli._app import run_app
    from bwsandbox.cli._fastparse import parse_run
    from bwsandbox.cli._spec import MCP_OPTIONS

    calls: list[tuple[dict[str, object], tuple[str, ...]]] = []

    def fake(values: dict[str, object], words: tuple[str, ...]) -> int:
        calls.append((values, words))
        return 0

    monkeypatch.setattr(_mcp, "mcp_command", fake)
    fast = parse_run(args, MCP_OPTIONS)
    assert fast is not None
    assert run_app(["mcp", *args]) == 0
    assert calls == [fast]


@pytest.mark.parametrize("option", ["--tty", "--no-tty", "--record", "--worktree", "--resume"])
def test_mcp_fast_parser_defers_terminal_options(option: str) -> None:
    from bwsandbox.cli._fastparse import parse_run
    from bwsandbox.cli._spec import MCP_OPTIONS

    assert parse_run([option, "x", "srv"], MCP_OPTIONS) is None

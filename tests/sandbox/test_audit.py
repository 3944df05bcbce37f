"""The session audit log end to end: the schema of every event real sessions write, the policy
digest, the cached fast path, ``logs --event`` and ``logs --follow`` on a running session."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

import bwsandbox
from bwsandbox._events import problems
from bwsandbox._paths import session_dir
from bwsandbox.policy import load_policy, policy_digest
from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]


def _sessions(cli: Cli, client: str = "default") -> list[list[dict[str, object]]]:
    root = Path(cli.env["AGENT_SANDBOX_DATA_DIR"]) / "clients" / client / "sessions"
    logs = sorted(root.glob("*/audit.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    return [[json.loads(line) for line in log.read_text().splitlines()] for log in logs]


def _check_schema(events: list[dict[str, object]]) -> None:
    for event in events:
        assert problems(event) == [], event
    assert len({e["session"] for e in events}) == 1


def test_a_run_logs_start_and_exit_with_the_policy_digest(project: Path, host_tmp: Path) -> None:
    result = bwsandbox.run(["sh", "-c", "kill -TERM $$"], project=project, client="acme")
    path = Path(session_dir("acme", result.session_id)) / "audit.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    _check_schema(events)
    assert [e["event"] for e in events] == ["start", "exit"]
    start, end = events
    assert start["policy_digest"] == policy_digest(load_policy(["base"]))
    assert start["client"] == "acme"
    assert start["project"] == str(project.resolve())
    assert "{fd:info}" in start["argv"], "fds are symbolic"
    assert end["returncode"] == 143
    assert end["signal"] == "SIGTERM"
    assert isinstance(end["duration"], float | int)
    assert end["duration"] >= 0


def test_the_digest_changes_with_the_policy(cli: Cli) -> None:
    runs = [
        cli("run", "--", "true"),
        cli("run", "--", "true"),
        cli("run", "--env", "BWSBX_X=1", "--", "true"),
        cli("run", "--policy", "shell", "--", "true"),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], "\n".join(r.describe() for r in runs)
    sessions = _sessions(cli)
    for events in sessions:
        _check_schema(events)
        assert [e["event"] for e in events] == ["start", "exit"]
    digests = [events[0]["policy_digest"] for events in sessions]
    assert digests[0] == digests[1], "the same policy, the same digest (also on a cache hit)"
    assert len(set(digests[1:])) == 3, "every change of the policy changes it"


def test_every_event_of_a_session_with_warnings_follows_the_schema(cli: Cli) -> None:
    (cli.cwd / ".git").mkdir()
    (cli.cwd / "real-config").write_text("[core]\n")
    (cli.cwd / ".git" / "config").symlink_to("../real-config")
    attack = "rm -f .git/config && echo evil > .git/config; exit 4"
    result = cli("run", "--", "sh", "-c", attack)
    assert result.returncode == 4, result.describe()
    [events] = _sessions(cli)
    _check_schema(events)
    names = [e["event"] for e in events]
    assert names[:2] == ["start", "exit"]
    assert "protected-path" in names[2:], names


def test_logs_event_filter(cli: Cli) -> None:
    cli("run", "--", "true")
    result = cli("logs", "--event", "exit", "--event", "start")
    assert result.returncode == 0, result.describe()
    assert [json.loads(x)["event"] for x in result.stdout.splitlines()] == ["start", "exit"]


def test_logs_follow_tails_a_running_session(cli: Cli, project: Path) -> None:
    gate = project / "gate"
    session = subprocess.Popen(
        [*cli.command, "run", "--", "sh", "-c", "while [ ! -e gate ]; do sleep 0.05; done"],
        env=cli.env,
        cwd=project,
        stdin=subprocess.DEVNULL,
    )
    try:
        root = Path(cli.env["AGENT_SANDBOX_DATA_DIR"]) / "clients" / "default" / "sessions"
        deadline = time.monotonic() + 30
        while not list(root.glob("*/audit.jsonl")):
            assert time.monotonic() < deadline, "the session never started"
            time.sleep(0.05)
        follow = subprocess.Popen(
            [*cli.command, "logs", "--follow"],
            env=cli.env,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert follow.stdout is not None
        first = json.loads(follow.stdout.readline())
        assert first["event"] == "start"
        assert follow.poll() is None, "still following: the session runs"
        gate.touch()
        rest, _ = follow.communicate(timeout=30)
        assert follow.returncode == 0
        events = [first, *(json.loads(x) for x in rest.splitlines())]
        assert [e["event"] for e in events] == ["start", "exit"]
    finally:
        gate.touch()
        session.wait(timeout=30)


def test_secrets_and_limits_follow_the_schema_and_no_value_is_logged(
    cli: Cli, tmp_path: Path
) -> None:
    value = "bwsbx-secret-" + "7" * 24
    policy = tmp_path / "audit-extras.toml"
    policy.write_text(
        '[secrets.token]\nsource = "env:BWSBX_AUDIT_TOKEN"\ndeliver = "env"\nenv = "TOKEN"\n'
        "[limits]\npids = 200\nnofile = 256\n"
    )
    result = cli(
        "run", "--policy", str(policy), "--", "sh", "-c", 'test -n "$TOKEN"',
        env={"BWSBX_AUDIT_TOKEN": value},
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    [events] = _sessions(cli)
    _check_schema(events)
    names = [e["event"] for e in events]
    assert {"start", "secrets", "limits", "exit"} <= set(names), names
    # "start" first: the secrets event is made before bwrap is spawned, written after it
    assert names[:2] == ["start", "secrets"], names
    assert names[-1] == "exit", names
    [secrets] = [e for e in events if e["event"] == "secrets"]
    assert secrets["delivered"] == [
        {"name": "token", "deliver": "env", "source": "env:BWSBX_AUDIT_TOKEN"}
    ]
    log = next(iter((Path(cli.env["AGENT_SANDBOX_DATA_DIR"]) / "clients").rglob("audit.jsonl")))
    assert value not in log.read_text()

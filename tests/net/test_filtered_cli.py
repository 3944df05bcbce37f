"""``agent-sandbox run --network filtered`` end to end: the runtime drives the session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]


def _net_events(cli: Cli) -> list[dict[str, Any]]:
    logs = cli("logs")
    assert logs.returncode == 0, logs.describe()
    events = [json.loads(line) for line in logs.stdout.splitlines() if line.strip()]
    return [e for e in events if e.get("event") == "net"]


def test_cli_allows_named_hosts_and_logs_denials(cli: Cli, http_port: int) -> None:
    script = (
        f"curl -sS -m 10 http://web.test:{http_port}/cli; "
        f"curl -sS -m 10 --noproxy '*' http://web.test:{http_port}/cli-transparent; "
        "curl -sS -m 10 -o /dev/null -w '%{http_code}\\n' http://evil.test/; "
        "getent hosts evil.test || echo no-such-host"
    )
    result = cli(
        "run", "--network", "filtered", "--allow", "web.test",
        "--add-host", "web.test=127.0.0.1", "--", "sh", "-c", script,
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert "path=/cli\n" in result.stdout, result.describe()
    assert "path=/cli-transparent" in result.stdout, result.describe()
    assert "403" in result.stdout, result.describe()
    assert "no-such-host" in result.stdout, result.describe()
    events = _net_events(cli)
    assert any(e["host"] == "web.test" and e["decision"] == "allow" for e in events)
    assert any(e["host"] == "evil.test" and e["decision"] == "deny" for e in events)


def test_cli_network_setup_does_not_leak_into_mode_none(cli: Cli, http_port: int) -> None:
    script = f"curl -sS -m 5 --noproxy '*' http://127.0.0.1:{http_port}/ || echo unreachable"
    result = cli("run", "--network", "none", "--", "sh", "-c", script)
    assert "unreachable" in result.stdout, result.describe()


def test_library_run_with_filtered_network(tmp_path: Path, http_port: int) -> None:
    import bwsandbox

    script = (
        f"curl -sS -m 10 --noproxy '*' http://web.test:{http_port}/lib; "
        "curl -sSf -m 5 --noproxy '*' http://10.0.0.1/ 2>/dev/null || echo private-refused"
    )
    result = bwsandbox.run(
        ["sh", "-c", script],
        project=tmp_path,
        network="filtered",
        allow=["web.test"],
        add_hosts={"web.test": "127.0.0.1"},
        capture_output=True,
        timeout=60,
    )
    out = (result.stdout or b"").decode()
    assert "path=/lib" in out, out
    assert "private-refused" in out, out

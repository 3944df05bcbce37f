"""An enforced ``network.deny`` holds in a real filtered sandbox started by the CLI, and the
agent reads why in the 403 body. Root only: the enforced file must be root's (see
tests/sandbox/test_enforced.py for the user side)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bwsandbox.policy._enforced import EXTRA_VAR
from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns, pytest.mark.root]


def test_an_enforced_deny_holds_under_a_wider_user_allow(
    cli: Cli, http_port: int, tmp_path: Path
) -> None:
    directory = tmp_path / "enf"
    directory.mkdir(mode=0o755)
    enforced = directory / "enforced.toml"
    enforced.write_text('[network]\ndeny = ["web.test"]\n')
    enforced.chmod(0o644)
    script = f"curl -sS -m 10 http://web.test:{http_port}/x"  # through the explicit proxy
    args = ("run", "--allow", "*.test", "--add-host", "web.test=127.0.0.1", "--", "sh", "-c")
    result = cli(*args, script, env={EXTRA_VAR: str(enforced)})
    assert "hello" not in result.stdout, result.describe()
    assert f"blocked web.test:{http_port}: denied name" in result.stdout, result.describe()
    assert "It matches the deny rule 'web.test' (network.deny)" in result.stdout
    # the summary at exit does not suggest an --allow that would not help
    assert "not fixable by --allow" in result.stderr, result.describe()
    assert "--allow web.test " not in result.stderr
    # the narrower --allow of the very name is a conflict, said before anything starts
    refused = cli("run", "--allow", "web.test", "--", "true", env={EXTRA_VAR: str(enforced)})
    assert refused.returncode == 125, refused.describe()
    assert f'{enforced}: network.deny "web.test" is enforced; --allow web.test' in refused.stderr
    # control: without the enforced layer the same sandbox reaches the server
    control = cli(*args, script)
    assert "hello host=web.test" in control.stdout, control.describe()

"""Attack: reading host environment variables (tokens, agent sockets, loader tricks).

The sandbox environment starts empty: only the base policy's pass-through allowlist and the
variables it sets get in, and nothing leaks through another process's ``/proc/PID/environ``
(bwrap itself runs inside the PID namespace as pid 1 or 2).
"""

from __future__ import annotations

import fnmatch
import secrets
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bwsandbox._paths import shipped_policies_dir
from bwsandbox.net._constants import OFFLINE_ENV

if TYPE_CHECKING:
    from .conftest import SandboxRunner

pytestmark = [
    pytest.mark.bwrap,
    pytest.mark.userns,
    pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True),
]

DUMP = "env; echo ---; for f in /proc/[0-9]*/environ; do cat $f 2>/dev/null | tr '\\0' '\\n'; done"


#: agent-sandbox's own host-side settings: paths on the host, not for the sandbox.
HOST_ONLY = {"AGENT_SANDBOX_DATA_DIR", "AGENT_SANDBOX_CONFIG_DIR"}


def _secrets_env() -> dict[str, str]:
    token = secrets.token_hex(8)
    return {
        "BWSBX_CANARY_TOKEN": f"canary-{token}",
        "AWS_SECRET_ACCESS_KEY": f"aws-{token}",
        "GITHUB_TOKEN": f"ghp-{token}",
        "ANTHROPIC_API_KEY": f"sk-ant-{token}",
        "SSH_AUTH_SOCK": f"/tmp/ssh-{token}/agent.1",
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path=/run/user/1/bus-{token}",
        "LD_PRELOAD": f"/tmp/evil-{token}.so",
        "PYTHONPATH": f"/tmp/evil-{token}",
        "BASH_ENV": f"/tmp/evil-{token}.sh",
    }


def test_host_environment_does_not_leak(sbx: SandboxRunner) -> None:
    env = _secrets_env()
    attack = sbx.sh(DUMP, env=env)
    assert attack.returncode == 0, attack.describe()
    for name, value in env.items():
        assert value not in attack.stdout, f"{name} leaked\n{attack.describe()}"
    # Control: an explicit --env passes exactly that variable, and the dump would show it.
    granted = sbx.sh(DUMP, "--env", "BWSBX_CANARY_TOKEN", env=env)
    assert env["BWSBX_CANARY_TOKEN"] in granted.stdout, granted.describe()
    assert env["GITHUB_TOKEN"] not in granted.stdout, granted.describe()


def _base_allowlist() -> tuple[list[str], set[str]]:
    with (Path(shipped_policies_dir()) / "base.toml").open("rb") as fh:
        base = tomllib.load(fh)
    env = base.get("env", {})
    return list(env.get("passthrough", [])), set(env.get("set", {}))


def test_only_allowlisted_variables_are_inside(sbx: SandboxRunner) -> None:
    passthrough, set_names = _base_allowlist()
    shell_own = {"PWD", "SHLVL", "_", "OLDPWD"}
    offline = dict(OFFLINE_ENV)  # fixed values for --network none (no retries), not the host's
    result = sbx.run("env", "-0", env={**_secrets_env(), "LANG": "C.UTF-8", "LC_ALL": "C"})
    assert result.returncode == 0, result.describe()
    names = {item.partition("=")[0] for item in result.stdout.split("\0") if item}
    unexpected = {
        name
        for name in names - set_names - shell_own - set(offline)
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in passthrough)
        and not (name.startswith("AGENT_SANDBOX_") and name not in HOST_ONLY)
    }
    assert not unexpected, f"not allowlisted: {sorted(unexpected)}\n{result.describe()}"
    assert "LANG" in names, "control: an allowlisted variable passes"
    for name, value in offline.items():
        assert f"{name}={value}\0" in result.stdout, result.describe()

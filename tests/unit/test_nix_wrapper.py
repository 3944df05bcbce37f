"""nix/agent-wrapper.sh: the AGENT_SANDBOX switch of the Nix agent devshells, and their PATH.

The Nix devshells put a script ahead of the real agent on PATH that runs this wrapper (the
generated script itself is checked offline by scripts/check-nix.sh). These tests run the
wrapper with bash and fake binaries, and once with the real agent-sandbox and bwrap.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import Cli, agent_sandbox_command

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "nix" / "agent-wrapper.sh"
BASH = "/bin/bash"


def _fake(path: Path, name: str) -> Path:
    """An executable that prints its name, its arguments and two variables, one a line."""
    path.mkdir(parents=True, exist_ok=True)
    exe = path / name
    exe.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "ran:{name}" "$@" "bin:$BWSANDBOX_AGENT_BIN_CLAUDE"\n',
        encoding="utf-8",
    )
    exe.chmod(0o755)
    return exe


@pytest.fixture
def fakes(tmp_path: Path) -> tuple[Path, Path]:
    return _fake(tmp_path / "agent", "claude"), _fake(tmp_path / "tool", "agent-sandbox")


def _wrap(
    args: list[str], *, env: dict[str, str], path: str = "/usr/bin:/bin"
) -> subprocess.CompletedProcess[str]:
    full = {"PATH": path, "USER": "alice", **env}
    return subprocess.run(
        [BASH, str(WRAPPER), *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=30,
        check=False,
    )


def _run_agent(
    fakes: tuple[Path, Path], mode: str, switch: str | None, **extra: str
) -> subprocess.CompletedProcess[str]:
    real, tool = fakes
    env = dict(extra)
    if switch is not None:
        env["AGENT_SANDBOX"] = switch
    return _wrap(["claude", str(real), mode, str(tool), "--model", "x y"], env=env)


@pytest.mark.parametrize(
    ("mode", "switch", "sandboxed"),
    [
        ("opt-in", None, False),
        ("opt-in", "", False),
        ("opt-in", "true", True),
        ("opt-in", "1", True),
        ("opt-in", "false", False),
        ("opt-out", None, True),
        ("opt-out", "true", True),
        ("opt-out", "false", False),
        ("opt-out", "0", False),
    ],
)
def test_agent_sandbox_switch(
    fakes: tuple[Path, Path], mode: str, switch: str | None, sandboxed: bool
) -> None:
    result = _run_agent(fakes, mode, switch)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    if sandboxed:
        real = fakes[0]
        assert lines[0] == "ran:agent-sandbox"
        assert lines[1:3] == ["claude", "--env"]
        assert lines[3].startswith("PATH=")
        assert lines[4:7] == ["--", "--model", "x y"]  # agent args unchanged, after --
        assert lines[7] == f"bin:{real}"  # the profile runs exactly the devshell's binary
        assert result.stderr == ""
    else:
        assert lines == ["ran:claude", "--model", "x y", "bin:"]
        if switch:  # the escape hatch is said out loud
            assert "WITHOUT the sandbox" in result.stderr
        else:
            assert result.stderr == ""


def test_inside_a_sandbox_the_agent_runs_directly(fakes: tuple[Path, Path]) -> None:
    result = _run_agent(fakes, "opt-out", "true", AGENT_SANDBOX_ACTIVE="1")
    assert result.stdout.splitlines()[0] == "ran:claude"


def test_an_unknown_switch_fails_closed(fakes: tuple[Path, Path]) -> None:
    result = _run_agent(fakes, "opt-in", "maybe")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "ran:agent-sandbox"
    assert "AGENT_SANDBOX=maybe is neither true nor false" in result.stderr


def test_agent_sandbox_args_go_before_the_separator(fakes: tuple[Path, Path]) -> None:
    result = _run_agent(fakes, "opt-in", "true", AGENT_SANDBOX_ARGS=" --client acme  --rw /x ")
    lines = result.stdout.splitlines()
    assert lines[1:3] == ["claude", "--env"]
    assert lines[4:11] == ["--client", "acme", "--rw", "/x", "--", "--model", "x y"]


def test_a_bad_mode_fails(fakes: tuple[Path, Path]) -> None:
    result = _run_agent(fakes, "sometimes", "true")
    assert result.returncode == 125
    assert result.stdout == ""


def _standard_path(user: str) -> str:
    policy = tomllib.loads((REPO / "policies" / "claude.toml").read_text(encoding="utf-8"))
    return str(policy["env"]["set"]["PATH"]).replace("{user}", user)


def test_sandbox_path_keeps_store_entries_only(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "aaa-tool" / "bin").mkdir(parents=True)
    (store / "bbb-env" / "bin").mkdir(parents=True)
    (tmp_path / "home" / "bin").mkdir(parents=True)
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "bin").symlink_to(store / "bbb-env" / "bin")
    path = ":".join(
        [
            f"{store}/aaa-tool/bin",
            f"{tmp_path}/home/bin",  # outside the store: never passed
            f"{profile}/bin",  # a profile link into the store: passed as the store path
            f"{store}/aaa-tool/bin",  # duplicate
            "relative/bin",
            "",
            f"{store}/missing/bin",
            f"{store}/*",  # not a glob: kept literally, and not a directory
            "/usr/bin",  # on the standard PATH anyway
        ]
    )
    env = {"AGENT_SANDBOX_NIX_STORE": str(store)}
    result = _wrap(["--sandbox-path"], env=env, path=path)
    assert result.returncode == 0, result.stderr
    expected = f"{store}/aaa-tool/bin:{store}/bbb-env/bin:" + _standard_path("alice")
    assert result.stdout.strip() == expected
    dropped = _wrap(["--dropped"], env=env, path=path).stdout.splitlines()
    assert dropped == [
        f"{tmp_path}/home/bin",
        "relative/bin",
        f"{store}/missing/bin",
        f"{store}/*",
    ]
    status = _wrap(["--status", "opt-in", "claude"], env=env, path=path)
    assert "WITHOUT a sandbox" in status.stderr
    assert f"{tmp_path}/home/bin" in status.stderr


def test_standard_path_matches_every_agent_policy() -> None:
    """The wrapper replaces the policy's PATH: it must be the same list (plus store dirs)."""
    result = _wrap(["--sandbox-path"], env={}, path="")
    for name in ("claude", "codex", "opencode"):
        policy = tomllib.loads((REPO / "policies" / f"{name}.toml").read_text(encoding="utf-8"))
        assert result.stdout.strip() == str(policy["env"]["set"]["PATH"]).replace("{user}", "alice")


@pytest.mark.bwrap
@pytest.mark.userns
def test_devshell_path_in_a_real_sandbox(cli: Cli, tmp_path: Path) -> None:
    """A tool on the devshell PATH outside /nix/store is neither on the sandbox PATH nor
    reachable by name in the sandbox; the store entries arrive in order."""
    store = tmp_path / "store"
    (store / "aaa-tool" / "bin").mkdir(parents=True)
    _fake(tmp_path / "outside" / "bin", "leaky-tool")
    tool = agent_sandbox_command()
    assert len(tool) == 1, "needs the agent-sandbox console script"
    path = f"{store}/aaa-tool/bin:{tmp_path}/outside/bin:/usr/bin:/bin"
    env = {
        **cli.env,
        "PATH": path,
        "AGENT_SANDBOX": "true",
        "AGENT_SANDBOX_NIX_STORE": str(store),
    }
    script = 'printf "%s\\n" "$PATH"; command -v leaky-tool || echo no-leaky-tool'
    result = subprocess.run(
        [BASH, str(WRAPPER), "run", "/bin/true", "opt-in", tool[0], "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=cli.cwd,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sandbox_path, found = result.stdout.splitlines()
    assert sandbox_path.split(":")[0] == f"{store}/aaa-tool/bin"
    assert f"{tmp_path}/outside/bin" not in sandbox_path.split(":")
    assert found == "no-leaky-tool"
    # positive control: on the host the same PATH does find it
    host = subprocess.run(
        ["sh", "-c", "command -v leaky-tool"],
        capture_output=True,
        text=True,
        env={"PATH": path},
        check=False,
    )
    assert host.stdout.strip() == f"{tmp_path}/outside/bin/leaky-tool"

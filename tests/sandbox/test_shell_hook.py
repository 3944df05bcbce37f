"""The opt-in wrapper end to end: ``eval "$(agent-sandbox shell-hook)"`` in a real bash, zsh
and fish, with a fake ``claude`` on PATH that says where it runs (the sandbox's hostname is
``sandbox`` and its environment has ``AGENT_SANDBOX_ACTIVE=1``)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

FAKE = '#!/bin/sh\necho "fake-claude active=${AGENT_SANDBOX_ACTIVE:-no} host=$(uname -n) args=$*"\n'
INSIDE = "fake-claude active=1 host=sandbox"
BYPASS = "agent-sandbox: AGENT_SANDBOX=false: running claude WITHOUT the sandbox"

SHELLS = ["bash", *(pytest.param(s, marks=pytest.mark.tools(s)) for s in ("zsh", "fish"))]


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    bindir = tmp_path / "fake-bin"
    bindir.mkdir()
    claude = bindir / "claude"
    claude.write_text(FAKE)
    claude.chmod(0o755)
    return bindir


def _shell(
    cli: Cli, fake_bin: Path, shell: str, script: str, **env: str
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed (apt-get install {shell})")
    full = {k: v for k, v in cli.env.items() if not k.startswith("AGENT_SANDBOX_ARGS")}
    for name in ("AGENT_SANDBOX", "AGENT_SANDBOX_ACTIVE"):
        full.pop(name, None)
    full["PATH"] = f"{fake_bin}:{full.get('PATH', '/usr/bin:/bin')}"
    full["HOME"] = str(cli.host_tmp)  # no rc files of the real user
    full.update(env)
    hook = shlex.join([*cli.command, "shell-hook", "--shell", shell])
    load = f"{hook} | source" if shell == "fish" else f'eval "$({hook})"'
    args = [binary, "--no-config", "-c"] if shell == "fish" else [binary, "-c"]
    if shell == "zsh":
        args = [binary, "-f", "-c"]
    return subprocess.run(
        [*args, f"{load}; {script}"],
        cwd=cli.cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _status(shell: str) -> str:
    return "$status" if shell == "fish" else "$?"


@pytest.mark.netns
@pytest.mark.parametrize("shell", SHELLS)
def test_true_runs_the_agent_in_the_sandbox(cli: Cli, fake_bin: Path, shell: str) -> None:
    done = _shell(cli, fake_bin, shell, "AGENT_SANDBOX=true claude --version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{INSIDE} args=--version", done.stderr
    assert "WITHOUT" not in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_args_variable_goes_before_the_agent_arguments(
    cli: Cli, fake_bin: Path, shell: str
) -> None:
    done = _shell(
        cli,
        fake_bin,
        shell,
        f"AGENT_SANDBOX=true claude -p 'two words'; echo status={_status(shell)}",
        AGENT_SANDBOX_ARGS="--network none  --client hooked",
    )
    assert done.stdout.splitlines() == [f"{INSIDE} args=-p two words", "status=0"], done.stderr
    assert "client 'hooked'" in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_false_runs_outside_and_says_so_once(cli: Cli, fake_bin: Path, shell: str) -> None:
    done = _shell(cli, fake_bin, shell, "AGENT_SANDBOX=false claude x")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("fake-claude active=no host=")
    assert "host=sandbox" not in done.stdout
    assert done.stderr.splitlines() == [BYPASS]


@pytest.mark.parametrize("shell", SHELLS)
def test_unset_runs_outside_silently(cli: Cli, fake_bin: Path, shell: str) -> None:
    done = _shell(cli, fake_bin, shell, f"claude y; echo status={_status(shell)}")
    assert done.stdout.splitlines()[-1] == "status=0"
    assert done.stdout.startswith("fake-claude active=no host=")
    assert "host=sandbox" not in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("shell", ["bash", pytest.param("zsh", marks=pytest.mark.tools("zsh"))])
def test_exit_status_of_the_real_command_is_kept(cli: Cli, fake_bin: Path, shell: str) -> None:
    (fake_bin / "claude").write_text("#!/bin/sh\nexit 7\n")
    done = _shell(cli, fake_bin, shell, "claude; echo a=$?; AGENT_SANDBOX=false claude; echo b=$?")
    assert done.stdout.split() == ["a=7", "b=7"]


@pytest.mark.parametrize("shell", ["bash", pytest.param("zsh", marks=pytest.mark.tools("zsh"))])
def test_no_recursion_inside_a_sandbox(cli: Cli, fake_bin: Path, shell: str) -> None:
    """The hook loaded inside a sandbox (say from /etc/bash.bashrc) runs the real command."""
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed (apt-get install {shell})")
    hook = subprocess.run(
        [*cli.command, "shell-hook", "--shell", shell],
        capture_output=True,
        text=True,
        check=True,
        env=cli.env,
        timeout=30,
    ).stdout
    (cli.cwd / "hook.sh").write_text(hook)
    done = cli(
        "run",
        "--ro",
        str(fake_bin),
        "--env",
        f"PATH={fake_bin}:/usr/bin:/bin",
        "--env",
        "AGENT_SANDBOX=true",
        "--",
        binary,
        "-c",
        ". ./hook.sh; claude inner",
    )
    assert done.returncode == 0, done.describe()
    assert done.stdout.strip() == f"{INSIDE} args=inner", done.describe()

"""``agent-sandbox shell-hook``: the generated code (pure), and choosing the shell."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bwsandbox.cli._hook import Shell, agent_sandbox_argv, detect_shell, hook_code
from bwsandbox.cli._spec import AGENTS


@pytest.mark.parametrize("shell", list(Shell))
def test_every_agent_is_wrapped(shell: Shell) -> None:
    code = hook_code(shell, ["/opt/x y/agent-sandbox"])
    for name in AGENTS:
        assert f"__agent_sandbox_wrap {name}" in code
    assert "AGENT_SANDBOX_ACTIVE" in code
    assert "WITHOUT the sandbox" in code


def test_agent_sandbox_path_is_quoted() -> None:
    bash = hook_code(Shell.BASH, ["/opt/x y/agent-sandbox"])
    assert "'/opt/x y/agent-sandbox' \"$__as_name\"" in bash
    fish = hook_code(Shell.FISH, ["/opt/x y/it's"])
    assert "'/opt/x y/it\\'s' $name" in fish


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/bin/zsh", Shell.ZSH),
        ("/usr/bin/fish", Shell.FISH),
        ("/bin/bash", Shell.BASH),
        ("/bin/dash", Shell.BASH),
        ("", Shell.BASH),
    ],
)
def test_detect_shell(value: str, expected: Shell) -> None:
    assert detect_shell({"SHELL": value}) is expected


def test_agent_sandbox_argv_is_absolute() -> None:
    argv = agent_sandbox_argv()
    assert argv[0].startswith("/")


@pytest.mark.parametrize("shell", ["bash", pytest.param("zsh", marks=pytest.mark.tools("zsh"))])
def test_generated_code_parses(shell: str) -> None:
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed (apt-get install {shell})")
    done = subprocess.run(
        [binary, "-n", "-c", hook_code(Shell(shell), ["/usr/bin/agent-sandbox"])],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr

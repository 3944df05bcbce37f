"""The README's test command on a fresh machine: what the suite runs, and who installs it.

``scripts/test.sh`` installs the ``[run]`` and ``[dev]`` packages of
``scripts/system-packages.txt`` (as root; an ordinary user is told the command). Every other
program a test runs is optional: the test carries a ``tools`` marker and skips naming the
package when it is missing, never errors. CI proves it by running the README's command on a
fresh machine before it installs the ``[ci]`` extras (``.ci/run``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import TOOL_PACKAGES, missing_tools, require_tools

ROOT = Path(__file__).resolve().parents[2]


def _sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in (ROOT / "scripts" / "system-packages.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def _marked_tools() -> set[str]:
    """Every tool named in a ``tools`` marker anywhere in the suite."""
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "tools"
            ):
                names |= {
                    a.value
                    for a in node.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, str)
                }
    return names


def test_every_marked_tool_has_a_package_in_dev_or_ci() -> None:
    sections = _sections()
    listed = set(sections["dev"]) | set(sections["ci"])
    for tool in _marked_tools() | {"zsh", "fish"}:  # the shells are passed as a variable
        assert tool in TOOL_PACKAGES, f"add {tool} to TOOL_PACKAGES in tests/conftest.py"
        assert TOOL_PACKAGES[tool] in listed, f"{TOOL_PACKAGES[tool]} is not in [dev] or [ci]"


def test_what_the_core_tests_run_is_installed_by_the_readme_command() -> None:
    """These run in plain tests (no marker): scripts/test.sh must install them as [dev]."""
    dev = set(_sections()["dev"])
    for package in ("make", "openssh-client", "curl", "git", "gcc", "vim-tiny", "util-linux"):
        assert package in dev


def test_no_daemon_package_is_installed_by_the_readme_command() -> None:
    """openssh-server starts a listening sshd on install: a developer's machine opts in."""
    sections = _sections()
    assert "openssh-server" not in sections["dev"] + sections["run"]
    assert "openssh-server" in sections["ci"]


def test_a_missing_tool_skips_with_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BWSBX_REQUIRE_TOOLS", raising=False)
    empty = str(tmp_path)  # a PATH with nothing on it: a fresh machine, for these names
    assert missing_tools(["no-such-tool-x", "asciinema"], path=empty) == [
        "no-such-tool-x",
        "asciinema",
    ]
    with pytest.raises(pytest.skip.Exception, match=r"needs no-such-tool-x \(apt-get install"):
        require_tools("no-such-tool-x", path=empty)
    with pytest.raises(pytest.skip.Exception, match=r"needs asciinema \(apt-get install asciinema"):
        require_tools("asciinema", path=empty)


def test_a_missing_tool_fails_when_ci_requires_every_tool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BWSBX_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="no-such-tool-x"):
        require_tools("no-such-tool-x", path=str(tmp_path))


def test_a_present_tool_does_not_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BWSBX_REQUIRE_TOOLS", "1")
    require_tools("sh", path="/usr/bin:/bin")


def test_ci_runs_the_readme_command_before_installing_anything() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme
    first_test = ci.index("run_tests bash scripts/test.sh")
    for installer in ("apt-get install", "system_packages run dev ci", "dev-setup.sh"):
        if installer in ci:
            assert ci.index(installer) > first_test, f"{installer!r} runs before the README test"
    assert re.search(r"BWSBX_REQUIRE_TOOLS=1", ci)

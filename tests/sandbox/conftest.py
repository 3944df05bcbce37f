"""Fixtures for tests that run real bwrap sandboxes through the ``agent-sandbox`` CLI.

``sbx.sh(script, *options)`` runs ``agent-sandbox run --project P [options] -- sh -c script``;
``sbx.py(code, *options)`` does the same with ``python3 -c code`` (the host's /usr/bin/python3,
seen read-only inside). ``canary`` writes a file with unique content that an attack must not
be able to read or change.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli, CliResult


@dataclass(frozen=True, slots=True)
class SandboxRunner:
    """Runs commands in the default sandbox on ``project``.

    ``warm``: run every command twice and return the second result, so that the attack also
    goes through the CLI's start-up fast path (a launch from the cache of compiled plans).
    Both runs happen, so host-side checks after the call cover both.
    """

    cli: Cli
    project: Path
    warm: bool = False

    def run(
        self,
        *argv: str,
        options: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        input: str | None = None,  # noqa: A002 - mirrors subprocess.run
    ) -> CliResult:
        args = ("run", "--project", str(self.project), *options, "--", *argv)
        if self.warm:
            self.cli(*args, env=env, input=input)
        return self.cli(*args, env=env, input=input)

    def sh(
        self,
        script: str,
        *options: str,
        env: Mapping[str, str] | None = None,
        input: str | None = None,  # noqa: A002
    ) -> CliResult:
        return self.run("sh", "-c", script, options=options, env=env, input=input)

    def py(self, code: str, *options: str, env: Mapping[str, str] | None = None) -> CliResult:
        return self.run("python3", "-c", code, options=options, env=env)


@pytest.fixture
def sbx(request: pytest.FixtureRequest, cli: Cli, project: Path) -> SandboxRunner:
    """``pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True)`` on a module runs
    each of its tests on a cold and on a warm plan cache."""
    return SandboxRunner(cli=cli, project=project, warm=getattr(request, "param", "") == "warm")


Canary = Callable[..., str]


@pytest.fixture
def canary() -> Iterator[Canary]:
    """``canary(path)`` writes a unique secret to ``path`` and returns it.

    Files created outside pytest's tmp dirs (the real home, the host /tmp) are removed at
    teardown.
    """
    created: list[Path] = []

    def make(path: Path, *, mode: int = 0o600) -> str:
        value = f"bwsbx-canary-{secrets.token_hex(12)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
        path.chmod(mode)
        created.append(path)
        return value

    yield make
    for path in created:
        path.unlink(missing_ok=True)


PolicyFile = Callable[[str], Path]


@pytest.fixture
def policy_file(tmp_path: Path) -> PolicyFile:
    """``policy_file(toml_text)`` writes a policy file outside the project, returns its path.

    Used by positive controls that lift one defence (``[hardening] share_pid = true``...)
    to show the attack then succeeds.
    """
    counter = iter(range(1_000_000))

    def make(text: str) -> Path:
        path = tmp_path / f"policy-{next(counter)}.toml"
        path.write_text(text)
        return path

    return make


@pytest.fixture
def host_sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A host process the sandbox must neither see nor signal."""
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def git_project(project: Path) -> Path:
    """The project as a git repository with a hook, config and editor settings committed."""
    git = shutil.which("git")
    assert git is not None, "git is needed (apt-get install git)"
    subprocess.run([git, "init", "-q", str(project)], check=True)
    subprocess.run(
        [git, "-C", str(project), "config", "user.email", "test@example.invalid"], check=True
    )
    subprocess.run([git, "-C", str(project), "config", "user.name", "test"], check=True)
    hook = project / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0 # benign\n")
    hook.chmod(0o755)
    (project / ".envrc").write_text("# benign\n")
    (project / ".vscode").mkdir()
    (project / ".vscode" / "settings.json").write_text("{}\n")
    (project / ".idea").mkdir()
    (project / ".idea" / "workspace.xml").write_text("<project/>\n")
    (project / "README").write_text("hello\n")
    subprocess.run([git, "-C", str(project), "add", "-A"], check=True)
    subprocess.run([git, "-C", str(project), "commit", "-qm", "initial"], check=True)
    return project

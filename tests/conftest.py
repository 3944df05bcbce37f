"""Fixtures shared by every test.

- Every test gets its own ``AGENT_SANDBOX_DATA_DIR`` and ``AGENT_SANDBOX_CONFIG_DIR`` (autouse),
  so nothing reads or writes the real home's agent-sandbox state.
- ``cli`` runs the installed ``agent-sandbox`` (the console script next to ``sys.executable``,
  or ``python -m bwsandbox.cli``) as a subprocess, with a timeout, capturing its output.
  Its ``TMPDIR`` (``host_tmp``) and ``XDG_RUNTIME_DIR`` are per-test directories, so tests
  see the session work dirs the runtime creates and can check that they are gone afterwards.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0

#: the Debian package of each tool a test runs on the host or in a sandbox
#: (scripts/system-packages.txt: [dev] ones scripts/test.sh installs, [ci] ones are optional)
TOOL_PACKAGES = {
    "asciinema": "asciinema",
    "curl": "curl",
    "fish": "fish",
    "gcc": "gcc",
    "git": "git",
    "make": "make",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "sshd": "openssh-server",
    "strace": "strace",
    "tmux": "tmux",
    "zsh": "zsh",
}
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"  # sshd lives there; not on an ordinary user's PATH


def missing_tools(names: Sequence[str], path: str | None = None) -> list[str]:
    """Those of ``names`` found neither on ``path`` (default: ``PATH``) nor in the sbin dirs."""
    search = f"{os.environ.get('PATH', '') if path is None else path}:{_SBIN}"
    return [name for name in names if shutil.which(name, path=search) is None]


def require_tools(*names: str, path: str | None = None) -> None:
    """Skip, saying which package to install, when a tool is missing.

    With ``BWSBX_REQUIRE_TOOLS=1`` (CI, after installing the ``[ci]`` packages) a missing tool
    fails the test instead: there, a skip would hide a test that never ran.
    """
    missing = missing_tools(names, path)
    if not missing:
        return
    packages = " ".join(sorted({TOOL_PACKAGES.get(name, name) for name in missing}))
    problem = f"needs {', '.join(missing)} (apt-get install {packages})"
    if os.environ.get("BWSBX_REQUIRE_TOOLS") == "1":
        pytest.fail(f"BWSBX_REQUIRE_TOOLS=1 and a tool is missing: {problem}", pytrace=False)
    pytest.skip(problem)


def agent_sandbox_command() -> list[str]:
    """How to start the installed CLI: the console script beside the interpreter if present."""
    script = Path(sys.executable).parent / "agent-sandbox"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "bwsandbox.cli"]


@dataclass(frozen=True, slots=True)
class CliResult:
    """What one ``agent-sandbox`` invocation produced."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """The ``error:`` lines on stderr (the contract says: exactly one on failure)."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def describe(self) -> str:
        return (
            f"agent-sandbox {' '.join(self.args)}\n-> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


@dataclass(slots=True)
class Cli:
    """Runs ``agent-sandbox`` with a controlled environment.

    ``env`` starts as a copy of the test process environment (which carries the per-test
    AGENT_SANDBOX_* dirs) with ``TMPDIR`` pointing at the per-test ``host_tmp``.
    """

    env: dict[str, str]
    cwd: Path
    host_tmp: Path
    runtime_dir: Path
    timeout: float = 60.0

    def __call__(
        self,
        *args: str,
        input: str | bytes | None = None,  # noqa: A002 - mirrors subprocess.run
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
    ) -> CliResult:
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [*agent_sandbox_command(), *args],
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            env=full_env,
            cwd=cwd or self.cwd,
            timeout=timeout or self.timeout,
            check=False,
        )
        return CliResult(
            args=tuple(args),
            returncode=proc.returncode,
            stdout=proc.stdout.decode(errors="replace"),
            stderr=proc.stderr.decode(errors="replace"),
        )

    @property
    def command(self) -> list[str]:
        """argv prefix that starts the CLI (for tests that need Popen)."""
        return agent_sandbox_command()

    def leftovers(self) -> list[Path]:
        """What the runtime left behind (should be nothing once a session has ended).

        Everything in the per-test TMPDIR (work dirs) and in the per-test runtime dir, except
        the runtime dir's ``agent-sandbox`` state dir and its cache of compiled plans.
        """
        state = self.runtime_dir / "agent-sandbox"
        found = list(self.host_tmp.iterdir())
        for path in self.runtime_dir.rglob("*"):
            if path == state or path.is_relative_to(state / "plans"):
                continue
            found.append(path)
        return sorted(found)


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-test agent-sandbox config and data dirs: never the real home's."""
    state = tmp_path_factory.mktemp("agent-sandbox-state")
    config = state / "config"
    data = state / "data"
    config.mkdir()
    data.mkdir()
    monkeypatch.setenv("AGENT_SANDBOX_CONFIG_DIR", str(config))
    monkeypatch.setenv("AGENT_SANDBOX_DATA_DIR", str(data))


@pytest.fixture
def host_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private TMPDIR for the CLI: session work dirs are created here."""
    return tmp_path_factory.mktemp("host-tmp")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory (``tmp_path/project``); siblings may be made beside it."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def cli(project: Path, host_tmp: Path, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """Run the installed ``agent-sandbox`` CLI; cwd is the ``project`` fixture.

    TMPDIR and XDG_RUNTIME_DIR are per-test dirs, so work dirs and runtime state (such as the
    plan cache) never touch the real ones.
    """
    runtime_dir = tmp_path_factory.mktemp("xdg-runtime")
    runtime_dir.chmod(0o700)
    env = dict(os.environ)
    env["TMPDIR"] = str(host_tmp)
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    return Cli(env=env, cwd=project, host_tmp=host_tmp, runtime_dir=runtime_dir)


def run_host(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a command on the host (outside any sandbox), for positive controls."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)


@functools.cache
def _userns_problem() -> str | None:
    """Why bwrap cannot create a user namespace here, or None when it can."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed (apt-get install bubblewrap)"
    probe = run_host([bwrap, "--unshare-user", "--ro-bind", "/", "/", "true"])
    if probe.returncode != 0:
        return f"bwrap cannot create a user namespace: {probe.stderr.strip()}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip tests whose host requirement is truly missing; in CI (CI=true) fail instead.

    ``root``/``nonroot`` tests skip everywhere: CI runs the suite once as each.
    """
    if item.get_closest_marker("root") and not IS_ROOT:
        pytest.skip("needs to run as root (CI runs the suite as root too)")
    if item.get_closest_marker("nonroot") and IS_ROOT:
        pytest.skip("needs an ordinary user (CI runs the suite as one too)")
    for marker in item.iter_markers("tools"):
        require_tools(*marker.args)
    problem = None
    if item.get_closest_marker("bwrap") and shutil.which("bwrap") is None:
        problem = "bwrap is not installed (apt-get install bubblewrap)"
    elif item.get_closest_marker("userns") or item.get_closest_marker("netns"):
        problem = _userns_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI host lacks a requirement: {problem}", pytrace=False)
    pytest.skip(problem)

"""The opencode, pi and gemini profiles against the REAL CLIs from npm, when installed.

These CLIs are not in scripts/install-agents.sh's default set (CI time), so every test here
skips, with the reason, when its CLI is not found. To run them::

    npm install --prefix /tmp/agents-extra opencode-ai @google/gemini-cli \\
        @mariozechner/pi-coding-agent
    BWSANDBOX_EXTRA_AGENTS=/tmp/agents-extra/node_modules/.bin pytest tests/agents -q

(or have them on PATH, or set ``BWSANDBOX_AGENT_BIN_<NAME>``). The prompts go to the fake
APIs in tests/fakes on host loopback, reached by a made-up name (``add_hosts``) that the
filtered network allows, as in test_e2e.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from bwsandbox import _paths
from bwsandbox._errors import DependencyError
from bwsandbox.agents import AgentLaunch, prepare_agent
from bwsandbox.agents._discover import find_agent
from bwsandbox.agents._specs import AGENT_SPECS
from tests.fakes import FakeAnthropic, FakeOpenAI

from ._run import run_launch
from .conftest import FakeHost

EXTRA = ("opencode", "pi", "gemini")
REPLY = "Hi from the fake API, extra-7731."
ANTHROPIC_HOST = "api.fake-anthropic.test"
OPENAI_HOST = "api.fake-openai.test"
GEMINI_HOST = "api.fake-gemini.test"

F = TypeVar("F", bound=Callable[..., None])


def _real(test: F) -> F:
    """Marks for a test that runs a real CLI in a filtered sandbox."""
    for mark in (pytest.mark.slow, pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns):
        test = mark(test)
    return test


def _override(name: str) -> str:
    return "BWSANDBOX_AGENT_BIN_" + name.upper()


def _installed(name: str) -> str | None:
    """The CLI's path: ``BWSANDBOX_AGENT_BIN_<NAME>``, ``$BWSANDBOX_EXTRA_AGENTS/<bin>``, or
    wherever the launcher's own discovery finds it."""
    spec = AGENT_SPECS[name]
    extra = os.environ.get("BWSANDBOX_EXTRA_AGENTS", "")
    if extra and os.access(Path(extra) / spec.binary, os.X_OK):
        return str(Path(extra) / spec.binary)
    try:
        return find_agent(spec, os.environ).found
    except DependencyError:
        return None


@pytest.fixture
def cli_path(request: pytest.FixtureRequest) -> str:
    name = request.param
    path = _installed(name)
    if path is None:
        spec = AGENT_SPECS[name]
        pytest.skip(
            f"{name} is not installed (npm install --prefix DIR {spec.package}; then set "
            f"BWSANDBOX_EXTRA_AGENTS=DIR/node_modules/.bin)"
        )
    return path


def _environ(name: str, path: str, **extra: str) -> dict[str, str]:
    """The host environment without real credentials or base URLs, plus ``extra``."""
    drop = ("ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_", "OPENCODE_", "PI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env[_override(name)] = path
    env.update(extra)
    return env


def _launch(name: str, path: str, project: Path, *args: str, **kw: object) -> AgentLaunch:
    resume = bool(kw.pop("resume", False))
    environ = _environ(name, path, **{k: str(v) for k, v in kw.items()})
    return prepare_agent(
        name, client="c1", project=str(project), environ=environ, agent_args=args, resume=resume
    )


def _home(name: str) -> Path:
    return Path(_paths.client_dir("c1")) / "agents" / name / "home"


@pytest.mark.parametrize("cli_path", EXTRA, indirect=True)
@_real
def test_version_runs_in_the_profile(
    request: pytest.FixtureRequest, cli_path: str, project: Path
) -> None:
    """The binary, its interpreter and its packages are all bound: ``--version`` works."""
    name = request.node.callspec.params["cli_path"]
    launch = _launch(name, cli_path, project, "--version")
    ran = run_launch(launch, project=str(project), client="c1", network="none")
    assert ran.returncode == 0, ran.describe()
    version = (ran.stdout + ran.stderr).strip()  # pi prints it on stderr
    assert version[:1].isdigit(), ran.describe()


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(reply=REPLY) as api:
        yield api


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply=REPLY) as api:
        yield api


def _bodies(api: FakeAnthropic | FakeOpenAI, start: int = 0) -> list[str]:
    return [json.dumps(r.body) for r in api.requests[start:]]


@pytest.mark.parametrize("cli_path", ["opencode"], indirect=True)
@_real
def test_opencode_prompt_and_continue(
    cli_path: str, project: Path, anthropic: FakeAnthropic
) -> None:
    """ANTHROPIC_BASE_URL reaches opencode (the AI SDK wants the /v1 in it); the session is
    kept in the compartment's XDG dirs and ``--resume`` continues it after ``run``."""
    hosts = {ANTHROPIC_HOST: "127.0.0.1"}
    url = f"http://{ANTHROPIC_HOST}:{anthropic.port}/v1"
    model = ("-m", "anthropic/claude-sonnet-4-5")
    launch = _launch(
        "opencode", cli_path, project, "run", *model, "say hi",
        ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=url,
    )  # fmt: skip
    ran = run_launch(
        launch, project=str(project), client="c1", allow=[ANTHROPIC_HOST], add_hosts=hosts
    )
    assert ran.returncode == 0, ran.describe()
    assert REPLY in ran.stdout, ran.describe()
    assert (_home("opencode") / ".local/share/opencode/opencode.db").is_file()

    resumed = _launch(
        "opencode", cli_path, project, "run", *model, "and again",
        ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=url, resume=True,
    )  # fmt: skip
    assert resumed.command[1:3] == ("run", "--continue")
    before = len(anthropic.requests)
    ran = run_launch(
        resumed, project=str(project), client="c1", allow=[ANTHROPIC_HOST], add_hosts=hosts
    )
    assert ran.returncode == 0, ran.describe()
    assert any("say hi" in b and "and again" in b for b in _bodies(anthropic, before))


@pytest.mark.parametrize("cli_path", ["opencode"], indirect=True)
@_real
def test_opencode_openai_base_url(cli_path: str, project: Path, openai: FakeOpenAI) -> None:
    hosts = {OPENAI_HOST: "127.0.0.1"}
    launch = _launch(
        "opencode", cli_path, project, "run", "-m", "openai/gpt-5", "say hi",
        OPENAI_API_KEY="test", OPENAI_BASE_URL=f"http://{OPENAI_HOST}:{openai.port}/v1",
    )  # fmt: skip
    ran = run_launch(
        launch, project=str(project), client="c1", allow=[OPENAI_HOST], add_hosts=hosts
    )
    assert ran.returncode == 0, ran.describe()
    assert REPLY in ran.stdout, ran.describe()


@pytest.mark.parametrize("cli_path", ["pi"], indirect=True)
@_real
def test_pi_prompt_and_continue(cli_path: str, project: Path, anthropic: FakeAnthropic) -> None:
    """pi takes no base-URL variable: the fake goes in ~/.pi/agent/models.json (in the
    compartment); sessions land in ~/.pi/agent/sessions and ``--continue`` resumes."""
    hosts = {ANTHROPIC_HOST: "127.0.0.1"}
    first = _launch("pi", cli_path, project, "-p", "say hi", ANTHROPIC_API_KEY="test")
    models = _home("pi") / ".pi" / "agent" / "models.json"
    models.parent.mkdir(parents=True, exist_ok=True)
    base = f"http://{ANTHROPIC_HOST}:{anthropic.port}"
    models.write_text(json.dumps({"providers": {"anthropic": {"baseUrl": base}}}))
    ran = run_launch(
        first, project=str(project), client="c1", allow=[ANTHROPIC_HOST], add_hosts=hosts
    )
    assert ran.returncode == 0, ran.describe()
    assert REPLY in ran.stdout, ran.describe()
    sessions = list((_home("pi") / ".pi" / "agent" / "sessions").rglob("*.jsonl"))
    assert any("say hi" in p.read_text() for p in sessions), sessions

    resumed = _launch(
        "pi", cli_path, project, "-p", "and again", ANTHROPIC_API_KEY="test", resume=True
    )
    assert resumed.command[1] == "--continue"
    before = len(anthropic.requests)
    ran = run_launch(
        resumed, project=str(project), client="c1", allow=[ANTHROPIC_HOST], add_hosts=hosts
    )
    assert ran.returncode == 0, ran.describe()
    assert any("say hi" in b and "and again" in b for b in _bodies(anthropic, before))


@pytest.mark.parametrize("cli_path", ["gemini"], indirect=True)
@_real
def test_gemini_base_url_reaches_the_fake(
    cli_path: str, project: Path, anthropic: FakeAnthropic
) -> None:
    """No fake Gemini API here: this checks only that GOOGLE_GEMINI_BASE_URL is passed and
    that the prompt goes to it (the fake answers 404 to generateContent)."""
    hosts = {GEMINI_HOST: "127.0.0.1"}
    launch = _launch(
        "gemini", cli_path, project, "--skip-trust", "-p", "say hi",
        GEMINI_API_KEY="test", GOOGLE_GEMINI_BASE_URL=f"http://{GEMINI_HOST}:{anthropic.port}",
    )  # fmt: skip
    settings = _home("gemini") / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    # headless gemini refuses a key it was not told to use: "Invalid auth method selected."
    settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    ran = run_launch(
        launch, project=str(project), client="c1", allow=[GEMINI_HOST], add_hosts=hosts
    )
    paths = [r.path for r in anthropic.requests]
    assert any("generateContent" in p for p in paths), ran.describe()
    assert any("say hi" in b for b in _bodies(anthropic)), ran.describe()
    assert (_home("gemini") / ".gemini" / "projects.json").is_file()


def test_too_many_dependencies_bind_the_node_modules_not_the_scope(fake_host: FakeHost) -> None:
    """pi (``@mariozechner/pi-coding-agent``) has more dependencies than are bound one by one:
    the fallback must be the ``node_modules`` dir, not the ``@mariozechner`` scope dir."""
    modules = fake_host.root / "prefix" / "node_modules"
    deps = {f"dep{i}": "1" for i in range(70)}
    fake_host.npm_package(
        modules, "@mariozechner/pi-coding-agent", bin_name="pi", dependencies=deps
    )
    for name in deps:
        (modules / name).mkdir()
        (modules / name / "package.json").write_text(json.dumps({"name": name}))
    node = fake_host.executable(fake_host.root / "nodebin" / "node", "\x7fELF")
    fake_host.path_dirs += [modules / ".bin", node.parent]
    agent = find_agent(AGENT_SPECS["pi"], fake_host.environ)
    assert set(agent.binds) == {str(modules), str(node)}

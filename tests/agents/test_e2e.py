"""End to end: the REAL Claude Code and Codex CLIs in a filtered sandbox, on fake APIs.

The agents come from npm through scripts/install-agents.sh (cached between runs: the cache
dir is reused when present). The fake APIs serve on host loopback; the sandbox reaches them
by a made-up name (``add_hosts``) that the filtered network allows. Skipped only when the
agents are not cached and cannot be installed (no npm, no registry).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwsandbox import _paths
from bwsandbox.agents import AgentLaunch, prepare_agent
from tests.fakes import FakeAnthropic, FakeOpenAI

from ._run import Ran, run_launch

pytestmark = [pytest.mark.slow, pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

REPO = Path(__file__).resolve().parents[2]
REPLY = "Hi from the fake API, e2e-5521."
ANTHROPIC_HOST = "api.fake-anthropic.test"
OPENAI_HOST = "api.fake-openai.test"
EVIL_HOST = "api.not-allowed.test"


def _cache_candidates() -> list[Path]:
    dirs = [os.environ.get("BWSANDBOX_AGENTS_CACHE", "")]
    dirs.append("/var/cache/bwsandbox/agents")
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    dirs.append(str(Path(cache_home) / "bwsandbox" / "agents"))
    return [Path(d) / "node_modules" / ".bin" for d in dirs if d]


@functools.cache
def _agent_bins() -> tuple[Path | None, str]:
    """The bin dir holding claude and codex, installing them when needed; or why not."""
    for bindir in _cache_candidates():
        if all(os.access(bindir / name, os.X_OK) for name in ("claude", "codex")):
            return bindir, ""
    if shutil.which("npm") is None:
        return None, "the agents are not cached and npm is not installed"
    script = REPO / "scripts" / "install-agents.sh"
    try:
        done = subprocess.run(
            ["bash", str(script), "claude", "codex"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "scripts/install-agents.sh timed out (npm registry unreachable?)"
    if done.returncode != 0:
        return None, f"scripts/install-agents.sh failed: {done.stderr.strip()[-500:]}"
    return Path(done.stdout.strip().splitlines()[-1]), ""


@pytest.fixture
def agent_bin(request: pytest.FixtureRequest) -> Path:
    bindir, why = _agent_bins()
    if bindir is None:
        pytest.skip(f"real agents unavailable: {why}")
    return bindir


def _environ(**extra: str) -> dict[str, str]:
    """The host environment without any real credentials or base URLs, plus ``extra``."""
    drop = ("ANTHROPIC_", "OPENAI_", "CLAUDE_", "CODEX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def _claude(
    agent_bin: Path,
    project: Path,
    client: str,
    port: int,
    *args: str,
    host: str = ANTHROPIC_HOST,
    resume: bool = False,
) -> AgentLaunch:
    environ = _environ(
        BWSANDBOX_AGENT_BIN_CLAUDE=str(agent_bin / "claude"),
        ANTHROPIC_API_KEY="test",
        ANTHROPIC_BASE_URL=f"http://{host}:{port}",
    )
    return prepare_agent(
        "claude",
        client=client,
        project=str(project),
        environ=environ,
        agent_args=list(args),
        resume=resume,
    )


def _compartment_files(client: str, agent: str) -> list[Path]:
    home = Path(_paths.client_dir(client)) / "agents" / agent / "home"
    return [p for p in home.rglob("*") if p.is_file()] if home.exists() else []


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(reply=REPLY) as api:
        yield api


@pytest.fixture
def evil() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(reply="you should never see this") as api:
        yield api


def _run_filtered(
    launch: AgentLaunch, project: Path, client: str, host: str, hosts: dict[str, str], **kw: object
) -> Ran:
    return run_launch(
        launch,
        project=str(project),
        client=client,
        allow=[host],
        add_hosts=hosts,
        **kw,  # type: ignore[arg-type]
    )


def test_claude_code_end_to_end(
    agent_bin: Path, project: Path, anthropic: FakeAnthropic, evil: FakeAnthropic
) -> None:
    hosts = {ANTHROPIC_HOST: "127.0.0.1", EVIL_HOST: "127.0.0.1"}
    launch = _claude(agent_bin, project, "client-a", anthropic.port, "-p", "say hi")
    ran = _run_filtered(launch, project, "client-a", ANTHROPIC_HOST, hosts)
    assert ran.returncode == 0, ran.describe()
    assert REPLY in ran.stdout
    prompts = anthropic.message_requests()
    assert any("say hi" in json.dumps(body) for body in prompts)

    # the conversation is stored in client A's compartment...
    a_files = _compartment_files("client-a", "claude")
    transcripts = [p for p in a_files if p.suffix == ".jsonl" and "projects" in p.parts]
    assert transcripts, a_files
    assert any("say hi" in p.read_text() for p in transcripts)

    # ...and --resume continues it: the earlier prompt is sent again
    resumed = _claude(
        agent_bin, project, "client-a", anthropic.port, "-p", "and again", resume=True
    )
    assert "--continue" in resumed.command
    before = len(anthropic.message_requests())
    ran = _run_filtered(resumed, project, "client-a", ANTHROPIC_HOST, hosts)
    assert ran.returncode == 0, ran.describe()
    later = anthropic.message_requests()[before:]
    assert any("say hi" in json.dumps(b) and "and again" in json.dumps(b) for b in later)

    # client B sees none of it, from inside its sandbox and on the host
    b_launch = _claude(agent_bin, project, "client-b", anthropic.port, "-p", "x")
    a_home = Path(_paths.client_dir("client-a"))
    ran = _run_filtered(
        b_launch,
        project,
        "client-b",
        ANTHROPIC_HOST,
        hosts,
        command=[
            "sh",
            "-c",
            (
                f"ls -RA ~/.claude; cat ~/.claude.json; ls -R {a_home} 2>&1; "
                "grep -rls 'say hi' ~ /tmp 2>/dev/null; true"
            ),
        ],
    )
    assert ran.returncode == 0, ran.describe()
    assert "say hi" not in ran.stdout
    assert ".jsonl" not in ran.stdout
    assert not any(p.suffix == ".jsonl" for p in _compartment_files("client-b", "claude"))

    # the agent's sandbox cannot reach a host the profile does not allow
    evil_url = f"http://{EVIL_HOST}:{evil.port}/v1/messages"
    ran = _run_filtered(
        launch,
        project,
        "client-a",
        ANTHROPIC_HOST,
        hosts,
        command=[
            "python3",
            "-c",
            (
                "import urllib.request, sys\n"
                f"try: urllib.request.urlopen({evil_url!r}, timeout=10)\n"
                "except Exception as exc: print('blocked', type(exc).__name__); sys.exit(0)\n"
                "print('REACHED')"
            ),
        ],
    )
    assert "blocked" in ran.stdout, ran.describe()
    # and Claude Code pointed at it gets nowhere either
    misdirected = _claude(
        agent_bin, project, "client-a", evil.port, "-p", "leak this", host=EVIL_HOST
    )
    ran = _run_filtered(misdirected, project, "client-a", ANTHROPIC_HOST, hosts, timeout=60)
    assert ran.returncode != 0
    assert REPLY not in ran.stdout
    assert evil.requests == []


def test_codex_end_to_end(agent_bin: Path, project: Path, evil: FakeAnthropic) -> None:
    hosts = {OPENAI_HOST: "127.0.0.1", EVIL_HOST: "127.0.0.1"}
    with FakeOpenAI(reply=REPLY) as api:
        environ = _environ(
            BWSANDBOX_AGENT_BIN_CODEX=str(agent_bin / "codex"),
            OPENAI_API_KEY="test",
            OPENAI_BASE_URL=f"http://{OPENAI_HOST}:{api.port}/v1",
        )

        def launch(client: str, *args: str) -> AgentLaunch:
            return prepare_agent(
                "codex", client=client, project=str(project), environ=environ, agent_args=args
            )

        a = launch("client-a", "exec", "--skip-git-repo-check", "say hi")
        ran = _run_filtered(a, project, "client-a", OPENAI_HOST, hosts)
        assert ran.returncode == 0, ran.describe()
        assert REPLY in ran.stdout
        assert any("say hi" in json.dumps(body) for body in api.response_requests())

        # the session is in client A's compartment, and exec --resume continues it
        sessions = [p for p in _compartment_files("client-a", "codex") if "sessions" in p.parts]
        assert any("say hi" in p.read_text(errors="replace") for p in sessions), sessions
        again = prepare_agent(
            "codex",
            client="client-a",
            project=str(project),
            environ=environ,
            agent_args=["exec", "--skip-git-repo-check", "and again"],
            resume=True,
        )
        before = len(api.response_requests())
        ran = _run_filtered(again, project, "client-a", OPENAI_HOST, hosts)
        assert ran.returncode == 0, ran.describe()
        later = [json.dumps(body) for body in api.response_requests()[before:]]
        assert any("say hi" in body and "and again" in body for body in later), later

    assert not [p for p in _compartment_files("client-b", "codex") if "sessions" in p.parts]
    b = launch("client-b", "--version")
    ran = _run_filtered(
        b,
        project,
        "client-b",
        OPENAI_HOST,
        hosts,
        command=["sh", "-c", "ls -RA ~/.codex; grep -rls 'say hi' ~ /tmp 2>/dev/null; true"],
    )
    assert "say hi" not in ran.stdout
    assert "rollout" not in ran.stdout


def test_claude_code_uses_the_host_login_read_only(
    agent_bin: Path, project: Path, tmp_path: Path, anthropic: FakeAnthropic
) -> None:
    """No API key: the host's OAuth login file is mounted read-only and Claude Code uses it."""
    home = tmp_path / "host-home"
    (home / ".claude").mkdir(parents=True)
    credentials = home / ".claude" / ".credentials.json"
    login = {
        "claudeAiOauth": {
            "accessToken": "sk-ant-oat01-fake-e2e",
            "refreshToken": "sk-ant-ort01-fake-e2e",
            "expiresAt": 4102444800000,
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        }
    }
    credentials.write_text(json.dumps(login))
    credentials.chmod(0o600)
    environ = _environ(
        HOME=str(home),
        BWSANDBOX_AGENT_BIN_CLAUDE=str(agent_bin / "claude"),
        ANTHROPIC_BASE_URL=f"http://{ANTHROPIC_HOST}:{anthropic.port}",
    )
    launch = prepare_agent(
        "claude",
        client="client-a",
        project=str(project),
        environ=environ,
        agent_args=["-p", "say hi"],
    )
    assert any("read-only" in note for note in launch.notes)
    ran = _run_filtered(launch, project, "client-a", ANTHROPIC_HOST, {ANTHROPIC_HOST: "127.0.0.1"})
    assert ran.returncode == 0, ran.describe()
    assert REPLY in ran.stdout
    auth = {r.headers.get("Authorization") for r in anthropic.requests}
    assert auth == {"Bearer sk-ant-oat01-fake-e2e"}
    assert json.loads(credentials.read_text()) == login
    placeholder = (
        Path(_paths.client_dir("client-a")) / "agents/claude/home/.claude/.credentials.json"
    )
    assert placeholder.read_text() == ""

"""prepare_agent: compartments, login modes, resume, errors, and the policy it yields."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from bwsandbox import _paths
from bwsandbox._errors import PolicyError, WorkspaceError
from bwsandbox.agents import KNOWN_AGENTS, AgentLaunch, prepare_agent
from bwsandbox.agents._specs import SANDBOX_BIN
from bwsandbox.policy import load_policy

from .conftest import FakeHost


@pytest.fixture
def host(fake_host: FakeHost) -> FakeHost:
    """A host with every known agent installed as a native binary in ~/.local/bin."""
    for name in KNOWN_AGENTS:
        fake_host.executable(fake_host.home / ".local" / "bin" / name, "\x7fELF")
    return fake_host


@pytest.fixture
def project(tmp_path: Path) -> str:
    path = tmp_path / "project"
    path.mkdir()
    return str(path)


def _prepare(host: FakeHost, project: str, client: str = "acme", **kw: Any) -> AgentLaunch:
    agent = kw.pop("agent", "claude")
    args = kw.pop("agent_args", ["-p", "hi"])
    return prepare_agent(
        agent, client=client, project=project, environ=host.environ, agent_args=args, **kw
    )


def _layer(launch: AgentLaunch) -> dict[str, Any]:
    assert len(launch.overlays) == 1
    return launch.overlays[0][1]


def _binds(launch: AgentLaunch, kind: str) -> dict[str, str]:
    return {b["dest"]: b["src"] for b in _layer(launch)["filesystem"][kind]}


def _env(launch: AgentLaunch) -> dict[str, str]:
    env: dict[str, str] = _layer(launch).get("env", {}).get("set", {})
    return env


def test_unknown_agent_lists_the_known_ones(host: FakeHost, project: str) -> None:
    with pytest.raises(PolicyError) as info:
        _prepare(host, project, agent="clod")
    for name in KNOWN_AGENTS:
        assert name in str(info.value)


def test_known_agents_have_shipped_profiles() -> None:
    for name in KNOWN_AGENTS:
        policy = load_policy((name,))
        assert policy.network.mode.value == "filtered", name
        assert policy.network.allow, name
        path = dict(policy.env.set)["PATH"]
        assert path.endswith(":" + SANDBOX_BIN), name
        assert path.startswith(dict(load_policy(("base",)).env.set)["PATH"]), name


def test_launch_for_claude(host: FakeHost, project: str) -> None:
    launch = _prepare(host, project)
    assert launch.policy_refs == ("claude",)
    assert launch.command == (f"{SANDBOX_BIN}/claude", "-p", "hi")
    root = Path(_paths.client_dir("acme")) / "agents" / "claude"
    assert _binds(launch, "rw") == {
        "{home}/.claude": str(root / "home" / ".claude"),
        "{home}/.claude.json": str(root / "home" / ".claude.json"),
    }
    ro = _binds(launch, "ro")
    assert ro[SANDBOX_BIN] == str(root / "bin")
    binary = str(host.home / ".local" / "bin" / "claude")
    assert ro[binary] == binary
    assert str((root / "bin" / "claude").readlink()) == binary
    # .claude.json is a file created with {}; directories are private
    assert (root / "home" / ".claude.json").read_text() == "{}\n"
    for path in (root, root / "home", root / "home" / ".claude", root / "bin"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    # the layer is a valid policy layer on top of the profile
    policy = load_policy(launch.policy_refs, overlays=launch.overlays)
    assert any(b.target == "{home}/.claude" for b in policy.filesystem.rw)


def test_compartment_persists_and_keeps_its_content(host: FakeHost, project: str) -> None:
    _prepare(host, project)
    state = Path(_paths.client_dir("acme")) / "agents" / "claude" / "home"
    (state / ".claude.json").write_text('{"numStartups": 3}')
    (state / ".claude" / "history.jsonl").write_text("x\n")
    _prepare(host, project)
    assert (state / ".claude.json").read_text() == '{"numStartups": 3}'
    assert (state / ".claude" / "history.jsonl").read_text() == "x\n"


def test_two_clients_never_share(host: FakeHost, project: str) -> None:
    a = _prepare(host, project, client="acme")
    b = _prepare(host, project, client="globex")
    a_dir = _paths.client_dir("acme")
    b_dir = _paths.client_dir("globex")
    for launch, own, other in ((a, a_dir, b_dir), (b, b_dir, a_dir)):
        layer = _layer(launch)
        sources = [bind["src"] for kind in ("ro", "rw") for bind in layer["filesystem"][kind]]
        compartment = [s for s in sources if s.startswith(_paths.data_dir())]
        assert compartment
        assert all(s.startswith(own + "/") for s in compartment)
        assert not any(s.startswith(other) for s in sources)


def test_opencode_state_is_its_xdg_dirs(host: FakeHost, project: str) -> None:
    launch = _prepare(host, project, agent="opencode")
    assert set(_binds(launch, "rw")) == {
        "{home}/.config/opencode",
        "{home}/.local/share/opencode",
        "{home}/.local/state/opencode",
        "{home}/.cache/opencode",
    }


def test_invalid_client_name(host: FakeHost, project: str) -> None:
    with pytest.raises(PolicyError, match="client"):
        _prepare(host, project, client="../other")


def test_project_containing_the_compartments_is_refused(host: FakeHost) -> None:
    with pytest.raises(WorkspaceError, match="client"):
        _prepare(host, _paths.data_dir())
    with pytest.raises(WorkspaceError):
        _prepare(host, "/")


# -- login modes -----------------------------------------------------------------------------


def _host_login(host: FakeHost, relative: str = ".claude/.credentials.json") -> Path:
    path = host.home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"claudeAiOauth": {"accessToken": "host-token"}}')
    (host.home / ".claude" / "history.jsonl").write_text("host history\n")
    return path


def test_api_key_is_passed_alone(host: FakeHost, project: str) -> None:
    _host_login(host)
    host.extra.update(
        ANTHROPIC_API_KEY="sk-ant-test",
        ANTHROPIC_BASE_URL="http://api.fake.test:1234",
        OPENAI_API_KEY="sk-openai-must-not-pass",
        AWS_SECRET_ACCESS_KEY="nope",
    )
    launch = _prepare(host, project)
    assert _env(launch) == {
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": "http://api.fake.test:1234",
    }
    # the host login is not mounted when a key is set
    assert not any(".credentials.json" in d for d in _binds(launch, "ro"))
    assert any("ANTHROPIC_API_KEY" in note for note in launch.notes)


def test_values_with_braces_are_literal(host: FakeHost, project: str) -> None:
    host.extra["ANTHROPIC_API_KEY"] = "a{project}b}}"
    host.extra["ANTHROPIC_BASE_URL"] = "http://api.fake.test:1234"  # else the proxy injects it
    launch = _prepare(host, project)
    policy = load_policy(launch.policy_refs, overlays=launch.overlays)
    from bwsandbox.policy import expand

    value = dict(policy.env.set)["ANTHROPIC_API_KEY"]
    assert expand(value, {"project": "/p"}) == "a{project}b}}"


def test_host_oauth_login_is_mounted_read_only(host: FakeHost, project: str) -> None:
    credentials = _host_login(host)
    launch = _prepare(host, project)
    ro = _binds(launch, "ro")
    assert ro["{home}/.claude/.credentials.json"] == str(credentials)
    # never the host's whole ~/.claude
    sources = [b["src"] for k in ("ro", "rw") for b in _layer(launch)["filesystem"][k]]
    assert str(host.home / ".claude") not in sources
    assert str(credentials) not in [b["src"] for b in _layer(launch)["filesystem"]["rw"]]
    assert "ANTHROPIC_API_KEY" not in _env(launch)
    assert any("read-only" in note and "login" in note for note in launch.notes)
    # an empty placeholder to mount over, in the compartment
    placeholder = Path(_paths.client_dir("acme")) / "agents/claude/home/.claude/.credentials.json"
    assert placeholder.is_file()
    assert placeholder.stat().st_size == 0


def test_host_oauth_found_through_config_dir_variable(host: FakeHost, project: str) -> None:
    moved = host.root / "codex-home"
    moved.mkdir()
    (moved / "auth.json").write_text("{}")
    host.extra["CODEX_HOME"] = str(moved)
    launch = _prepare(host, project, agent="codex", agent_args=["exec", "hi"])
    assert _binds(launch, "ro")["{home}/.codex/auth.json"] == str(moved / "auth.json")


def test_client_own_login_wins_over_the_host_login(host: FakeHost, project: str) -> None:
    _host_login(host)
    _prepare(host, project)
    own = Path(_paths.client_dir("acme")) / "agents/claude/home/.claude/.credentials.json"
    own.write_text('{"claudeAiOauth": {"accessToken": "client-token"}}')
    launch = _prepare(host, project)
    assert "{home}/.claude/.credentials.json" not in _binds(launch, "ro")
    assert any("own" in note for note in launch.notes)
    assert own.read_text().startswith('{"claudeAiOauth"')


def test_planted_symlink_is_not_followed(host: FakeHost, project: str, tmp_path: Path) -> None:
    _host_login(host)
    _prepare(host, project)
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    own = Path(_paths.client_dir("acme")) / "agents/claude/home/.claude/.credentials.json"
    own.unlink()
    own.symlink_to(secret)  # as the sandbox could, inside its writable ~/.claude
    launch = _prepare(host, project)
    # not taken for the client's own login; replaced by a plain placeholder
    assert "{home}/.claude/.credentials.json" in _binds(launch, "ro")
    assert not own.is_symlink()
    assert secret.read_text() == "host secret"


def test_no_login_anywhere(host: FakeHost, project: str) -> None:
    launch = _prepare(host, project)
    assert _env(launch) == {}
    assert any("none found" in note for note in launch.notes)


# -- resume and agent arguments --------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "flags"),
    [
        ("claude", ("--continue",)),
        ("codex", ("resume", "--last")),
        ("opencode", ("--continue",)),
        ("pi", ("--continue",)),
        ("gemini", ("--resume", "latest")),
    ],
)
def test_resume(host: FakeHost, project: str, agent: str, flags: tuple[str, ...]) -> None:
    launch = _prepare(host, project, agent=agent, agent_args=["x"], resume=True)
    assert launch.command == (f"{SANDBOX_BIN}/{agent}", *flags, "x")
    plain = _prepare(host, project, agent=agent, agent_args=["x"])
    assert plain.command == (f"{SANDBOX_BIN}/{agent}", "x")


def test_codex_exec_resumes_after_the_subcommand(host: FakeHost, project: str) -> None:
    launch = _prepare(host, project, agent="codex", agent_args=["exec", "more"], resume=True)
    assert launch.command == (f"{SANDBOX_BIN}/codex", "exec", "resume", "--last", "more")


def test_codex_base_url_goes_to_its_config(host: FakeHost, project: str) -> None:
    host.extra["OPENAI_BASE_URL"] = "http://api.fake.test:9/v1"
    launch = _prepare(host, project, agent="codex", agent_args=["hi"], resume=True)
    assert launch.command == (
        f"{SANDBOX_BIN}/codex",
        "-c",
        'openai_base_url="http://api.fake.test:9/v1"',
        "resume",
        "--last",
        "hi",
    )


def test_agent_args_must_be_a_sequence(host: FakeHost, project: str) -> None:
    with pytest.raises(PolicyError):
        prepare_agent(
            "claude", client="a", project=project, environ=host.environ, agent_args="-p hi"
        )


def test_public_surface() -> None:
    import bwsandbox.agents as agents

    assert set(agents.__all__) == {
        "AGENT_SPECS",
        "KNOWN_AGENTS",
        "AgentLaunch",
        "ClientInfo",
        "list_clients",
        "prepare_agent",
        "remove_client",
    }
    for name in agents.__all__:
        assert getattr(agents, name) is not None
    assert agents.KNOWN_AGENTS == ("claude", "codex", "opencode", "pi", "gemini")


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, bwsandbox.agents as a; a.KNOWN_AGENTS; "
        "print(sorted(m for m in sys.modules if m.startswith('bwsandbox')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "bwsandbox.agents._prepare" not in out
    assert "bwsandbox.policy" not in out


def test_keys_go_in_as_env_when_there_is_no_proxy(fake_host: FakeHost) -> None:
    """--network host/none: no proxy to inject the key, so the agent gets it as a variable."""
    from bwsandbox.agents import prepare_agent

    fake_host.executable(fake_host.home / ".local" / "bin" / "claude")
    environ = {**fake_host.environ, "ANTHROPIC_API_KEY": "sk-x"}
    project = fake_host.root / "project"  # not the root: it holds the (fake) home
    project.mkdir(exist_ok=True)
    injected = prepare_agent(
        "claude", client="c", project=str(project), environ=environ, agent_args=()
    )
    direct = prepare_agent(
        "claude",
        client="c",
        project=str(project),
        environ=environ,
        agent_args=(),
        inject_keys=False,
    )
    assert "secrets" in dict(injected.overlays)["agent claude"]
    layer = dict(direct.overlays)["agent claude"]
    assert "secrets" not in layer
    assert layer["env"]["set"]["ANTHROPIC_API_KEY"] == "sk-x"


def test_bin_link_is_kept_when_right_and_replaced_otherwise(
    host: FakeHost, project: str, tmp_path: Path
) -> None:
    """The compartment's bin link is rewritten only when it is wrong: a second start leaves a
    right link alone (same inode), a link to elsewhere or a file in its place is replaced."""
    _prepare(host, project)
    link = Path(_paths.client_dir("acme")) / "agents" / "claude" / "bin" / "claude"
    binary = str(host.home / ".local" / "bin" / "claude")
    first = link.lstat().st_ino
    _prepare(host, project)
    assert link.lstat().st_ino == first
    # control: a link to another binary (an agent installed elsewhere since) is replaced
    link.unlink()
    link.symlink_to(tmp_path / "elsewhere")
    _prepare(host, project)
    assert str(link.readlink()) == binary
    link.unlink()
    link.write_text("not a link")
    _prepare(host, project)
    assert link.is_symlink()
    assert str(link.readlink()) == binary


def test_every_injected_key_is_a_key_variable_of_its_agent() -> None:
    """The proxy injects only keys the login step looks at (``key_vars``), for every agent."""
    from bwsandbox.agents import AGENT_SPECS

    for spec in AGENT_SPECS.values():
        assert {key.var for key in spec.injected} <= set(spec.key_vars), spec.name
        assert all(key.template.count("{secret}") == 1 for key in spec.injected), spec.name

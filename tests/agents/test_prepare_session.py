"""Agent profiles through the library's prepare step: the login follows the MERGED policy.

The proxy injects an agent's API key only in ``filtered`` mode. Whether the mode is filtered
is read from the merged policy, so a ``--policy`` layer (or any layer) that sets
``network.mode = "none"`` or ``"host"`` without ``--network`` gets the key as a variable, as
``--network none`` does; it used to be guessed from the ``--network`` string alone, and such a
session failed to compile ("delivered by the proxy, which needs filtered").
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

import bwsandbox
from bwsandbox._prepare import resolve
from bwsandbox.agents import KNOWN_AGENTS
from bwsandbox.cli._resolve import resolve as cli_resolve
from bwsandbox.policy._model import NetworkMode
from bwsandbox.policy._model_secrets import SecretDelivery

from .conftest import FakeHost

KEY = "sk-ant-prepare-test-0123456789"


@pytest.fixture
def host(fake_host: FakeHost) -> FakeHost:
    for name in KNOWN_AGENTS:
        fake_host.executable(fake_host.home / ".local" / "bin" / name, "\x7fELF")
    fake_host.path_dirs.append(fake_host.home / ".local" / "bin")
    fake_host.extra["ANTHROPIC_API_KEY"] = KEY
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bwrap is not installed (apt-get install bubblewrap): the probe needs it")
    fake_host.extra["BWSANDBOX_BWRAP"] = bwrap
    return fake_host


def _layer(tmp_path: Path, mode: str) -> str:
    path = tmp_path / f"net-{mode}.toml"
    path.write_text(f'[network]\nmode = "{mode}"\n')
    return str(path)


def _proxied(policy: bwsandbox.Policy) -> list[str]:
    return [s.name for s in policy.secrets if s.deliver is SecretDelivery.PROXY]


@pytest.mark.parametrize("mode", ["none", "host"])
@pytest.mark.parametrize("how", ["policy layer", "--network"])
def test_the_key_is_injected_only_when_the_merged_mode_is_filtered(
    host: FakeHost, project: Path, tmp_path: Path, mode: str, how: str
) -> None:
    options = (
        {"policies": [_layer(tmp_path, mode)]}
        if how == "policy layer"
        else {"overlay": {"network": {"mode": mode}}}
    )
    stage = resolve(["-p", "hi"], agent="claude", project=project, environ=host.environ, **options)
    assert stage.policy.network.mode is NetworkMode(mode)
    assert _proxied(stage.policy) == [], "no proxy in this mode: nothing may need it"
    assert ("ANTHROPIC_API_KEY", KEY) in stage.policy.env.set
    assert not any("injected by the proxy" in note for note in stage.notes)
    prepared = stage.prepare(environ=host.environ)  # compiles (it used to be a PolicyError)
    plan = prepared.plan
    assert plan.network.mode is NetworkMode(mode)
    assert plan.secrets == ()
    assert KEY in dict(plan.env).values()
    assert KEY not in repr(prepared), "a logged session does not print the key"
    assert prepared.session_id in repr(prepared)
    # Control: the profile's own mode (filtered) injects the key: the sandbox holds a
    # placeholder, the proxy adds the real one
    default = resolve(["-p", "hi"], agent="claude", project=project, environ=host.environ)
    assert default.policy.network.mode is NetworkMode.FILTERED
    assert _proxied(default.policy) == ["anthropic_api_key"]
    assert KEY not in dict(default.policy.env.set).values()
    assert any("injected by the proxy" in note for note in default.notes)


def test_a_later_layer_that_sets_filtered_again_injects(
    host: FakeHost, project: Path, tmp_path: Path
) -> None:
    layers = [_layer(tmp_path, "none"), _layer(tmp_path, "filtered")]
    stage = resolve(
        ["-p", "hi"], agent="claude", project=project, environ=host.environ, policies=layers
    )
    assert stage.policy.network.mode is NetworkMode.FILTERED
    assert _proxied(stage.policy) == ["anthropic_api_key"]


def test_the_cli_decides_from_the_merged_policy_too(
    host: FakeHost, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``agent-sandbox claude --policy none.toml`` (no --network) takes the same path."""
    for name, value in host.environ.items():
        monkeypatch.setenv(name, value)
    values: dict[str, object] = {"policy": (_layer(tmp_path, "none"),), "project": str(project)}
    resolved = cli_resolve("claude", {**values, "tty": False}, ("-p", "hi"))
    assert resolved.policy.network.mode is NetworkMode.NONE
    assert _proxied(resolved.policy) == []
    assert resolved.prepare().plan.secrets == ()
    # Control: without the layer, injected
    plain = cli_resolve("claude", {"project": str(project), "tty": False}, ("-p", "hi"))
    assert _proxied(plain.policy) == ["anthropic_api_key"]


@pytest.mark.parametrize("agent", KNOWN_AGENTS)
def test_library_prepare_runs_agent_profiles_like_the_cli(
    host: FakeHost, project: Path, monkeypatch: pytest.MonkeyPatch, agent: str
) -> None:
    """``bwsandbox.prepare(ARGS, agent=NAME)`` is ``agent-sandbox NAME -- ARGS``: the same
    policy, command, notes and plan, for every known agent."""
    for name, value in host.environ.items():
        monkeypatch.setenv(name, value)
    library = bwsandbox.prepare(["--version"], agent=agent, project=project, client="acme")
    cli = cli_resolve(
        agent, {"project": str(project), "client": "acme", "tty": False}, ("--version",)
    ).prepare()
    assert library.policy == cli.policy
    assert library.command == cli.command
    assert library.command[0].startswith("/run/agent-sandbox/bin/")
    assert library.command[-1] == "--version"
    same = [t.replace(cli.workdir, library.workdir) for t in cli.plan.argv()]
    assert same == library.plan.argv()
    assert library.notes == cli.notes


def test_resolve_guards_the_project_once_for_the_agent_too(
    host: FakeHost, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``resolve`` runs the one project guard and hands the agent step its real path
    (``guard=False``): the data dir, which holds every client's compartment, is still
    refused, and a project is checked once, not twice."""
    from bwsandbox import _guard, _paths
    from bwsandbox._errors import WorkspaceError

    calls: list[str] = []
    real_check = _guard.check_project

    def counted(path: str, environ: Mapping[str, str] | None = None) -> str:
        calls.append(path)
        return real_check(path, environ)

    monkeypatch.setattr(_guard, "check_project", counted)
    monkeypatch.setattr("bwsandbox.agents._prepare.check_project", counted)
    resolve(["-p", "hi"], agent="claude", project=project, environ=host.environ)
    assert len(calls) == 1
    data = Path(_paths.data_dir())
    data.mkdir(parents=True, exist_ok=True)
    with pytest.raises(WorkspaceError, match="data dir"):
        resolve(["-p", "hi"], agent="claude", project=data, environ=host.environ)

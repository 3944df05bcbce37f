"""Unit tests of the pure compiler on hand-built policies and fake hosts."""

from __future__ import annotations

import pytest

from bwsandbox._errors import PolicyError
from bwsandbox.compile import HostFacts, PathInfo, PathKind, Workspace, compile_plan
from bwsandbox.compile._plan import SandboxPlan
from bwsandbox.net._constants import OFFLINE_ENV
from bwsandbox.policy._model import (
    Bind,
    CommandPolicy,
    EnvPolicy,
    FilesystemPolicy,
    HardeningPolicy,
    NetworkMode,
    NetworkPolicy,
    Policy,
)
from bwsandbox.testing import fake_host_facts

D, F, M = PathInfo(PathKind.DIR), PathInfo(PathKind.FILE), PathInfo(PathKind.MISSING)
PROJECT = "/home/alice/proj"


def facts(*, root: bool = False, paths: dict[str, PathInfo] | None = None) -> HostFacts:
    base = {"/usr": D, "/bin": PathInfo(PathKind.SYMLINK, "usr/bin"), "/lib64": M, PROJECT: D}
    return fake_host_facts(
        root=root,
        runtime_dir="/run/user/1000",
        environ={"TERM": "xterm", "LC_ALL": "C", "SECRET_TOKEN": "canary"},
        paths={**base, **(paths or {})},
    )


def workspace(*, interactive: bool = False, command: tuple[str, ...] = ("true",)) -> Workspace:
    return Workspace(
        project=PROJECT,
        workdir="/tmp/agent-sandbox-x",
        session_id="s",
        command=command,
        interactive=interactive,
    )


def policy(**kw: object) -> Policy:
    fs = kw.pop("filesystem", FilesystemPolicy(rw=(Bind("{project}"),)))
    return Policy(name="t", sources=("t.toml",), filesystem=fs, **kw)  # type: ignore[arg-type]


def argv(plan: SandboxPlan) -> list[str]:
    return plan.argv()


def pairs(tokens: list[str], option: str) -> list[str]:
    return [tokens[i + 1] for i, t in enumerate(tokens) if t == option]


def test_hardening_flags_always_present() -> None:
    tokens = argv(compile_plan(policy(), facts(), workspace()))
    for flag in (
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ):
        assert flag in tokens
    assert pairs(tokens, "--cap-drop") == ["ALL"]


def test_root_maps_to_unprivileged_uid() -> None:
    plan = compile_plan(policy(), facts(root=True), workspace())
    assert plan.user.uid == 1000
    assert pairs(argv(plan), "--uid") == ["1000"]
    assert plan.user.home == "/home/agent"


def test_user_keeps_identity() -> None:
    plan = compile_plan(policy(), facts(), workspace())
    assert (plan.user.name, plan.user.uid, plan.user.home) == ("alice", 1000, "/home/alice")


def test_interactive_drops_new_session_only() -> None:
    tokens = argv(compile_plan(policy(), facts(), workspace(interactive=True)))
    assert "--new-session" not in tokens
    assert "--disable-userns" in tokens


def test_home_before_project_under_it() -> None:
    tokens = argv(compile_plan(policy(), facts(), workspace()))
    binds = pairs(tokens, "--bind")
    assert binds.index("/tmp/agent-sandbox-x/home") < binds.index(PROJECT)


def test_protect_only_inside_rw_binds() -> None:
    fs = FilesystemPolicy(
        rw=(Bind("{project}"),),
        protect=("{project}/.git/hooks", "{host_home}/.ssh", "{project}/.envrc"),
    )
    paths = {f"{PROJECT}/.git/hooks": D, "/home/alice/.ssh": D, f"{PROJECT}/.envrc": M}
    plan = compile_plan(policy(filesystem=fs), facts(paths=paths), workspace())
    tokens = argv(plan)
    ro = pairs(tokens, "--ro-bind")
    assert f"{PROJECT}/.git/hooks" in ro
    assert "/home/alice/.ssh" not in " ".join(tokens)  # never exposed by a protect entry
    assert f"{PROJECT}/.envrc" in plan.protected  # absent: watched, not mounted
    assert f"{PROJECT}/.envrc" not in ro


def test_mask_file_and_dir() -> None:
    fs = FilesystemPolicy(
        rw=(Bind("{project}"),), mask=("{project}/.env", "{project}/secrets", "/etc/nothere")
    )
    paths = {f"{PROJECT}/.env": F, f"{PROJECT}/secrets": D}
    plan = compile_plan(policy(filesystem=fs), facts(paths=paths), workspace())
    tokens = argv(plan)
    assert f"{PROJECT}/.env" in pairs(tokens, "--ro-bind-data")[1::2] or any(
        t == f"{PROJECT}/.env" for t in tokens
    )
    assert f"{PROJECT}/secrets" in pairs(tokens, "--tmpfs")
    assert f"{PROJECT}/secrets" in pairs(tokens, "--remount-ro")
    assert "/etc/nothere" not in tokens


def test_env_is_clean() -> None:
    pol = policy(
        env=EnvPolicy(passthrough=("TERM", "LC_*"), set=(("HOME", "{home}"),), unset=("LC_ALL",))
    )
    env = dict(compile_plan(pol, facts(), workspace()).env)
    assert env == {"TERM": "xterm", "HOME": "/home/alice", **dict(OFFLINE_ENV)}


@pytest.mark.parametrize("mode", [NetworkMode.NONE, NetworkMode.FILTERED])
def test_names_fail_at_once_without_a_network(mode: NetworkMode) -> None:
    """none: /etc/hosts only ("not found", never "try again") and no package-manager retries."""
    pol = policy(network=NetworkPolicy(mode=mode, allow=("example.com",)))
    plan = compile_plan(pol, facts(), workspace())
    (nsswitch,) = [d for d in plan.data if d.fd.name == "data:nsswitch.conf"]
    hosts = [ln for ln in nsswitch.content.decode().splitlines() if ln.startswith("hosts:")]
    env = dict(plan.env)
    if mode is NetworkMode.NONE:
        assert hosts == ["hosts: files"]
        assert env["npm_config_fetch_retries"] == "0"
    else:
        assert hosts == ["hosts: files dns"]
        assert "npm_config_fetch_retries" not in env


def test_policy_env_wins_over_the_offline_defaults() -> None:
    pol = policy(env=EnvPolicy(set=(("PIP_RETRIES", "3"),)))
    assert dict(compile_plan(pol, facts(), workspace()).env)["PIP_RETRIES"] == "3"


def test_filtered_network_sets_proxy_and_resolver() -> None:
    pol = policy(network=NetworkPolicy(mode=NetworkMode.FILTERED, allow=("example.com",)))
    plan = compile_plan(pol, facts(), workspace())
    assert "HTTPS_PROXY" in dict(plan.env)
    assert any(d.fd.name == "data:resolv.conf" for d in plan.data)
    assert "--unshare-net" in argv(plan)
    assert plan.network.allow == ("example.com",)


def test_host_network_warns() -> None:
    plan = compile_plan(policy(network=NetworkPolicy(mode=NetworkMode.HOST)), facts(), workspace())
    assert "--share-net" in argv(plan)
    assert plan.warnings


def test_forbidden_etc() -> None:
    fs = FilesystemPolicy(etc=("/etc/shadow",))
    with pytest.raises(PolicyError, match="shadow"):
        compile_plan(policy(filesystem=fs), facts(paths={"/etc/shadow": F}), workspace())


def test_remove_drops_destination() -> None:
    fs = FilesystemPolicy(rw=(Bind("{project}"),), remove=("{project}",))
    tokens = argv(compile_plan(policy(filesystem=fs), facts(), workspace()))
    assert PROJECT not in pairs(tokens, "--bind")


def test_missing_required_bind() -> None:
    fs = FilesystemPolicy(ro=(Bind("/opt/tool", optional=False),))
    with pytest.raises(PolicyError, match="does not exist"):
        compile_plan(policy(filesystem=fs), facts(paths={"/opt/tool": M}), workspace())


def test_no_command() -> None:
    with pytest.raises(PolicyError, match="no command"):
        compile_plan(policy(command=CommandPolicy()), facts(), workspace(command=()))


def test_policy_default_command_and_cwd() -> None:
    pol = policy(command=CommandPolicy(argv=("bash", "-i"), cwd="{project}/sub"))
    plan = compile_plan(pol, facts(), workspace(command=()))
    assert plan.command == ("bash", "-i")
    assert pairs(argv(plan), "--chdir") == [f"{PROJECT}/sub"]


def test_nested_userns_is_an_explicit_relaxation() -> None:
    pol = policy(hardening=HardeningPolicy(nested_userns=True))
    assert "--disable-userns" not in argv(compile_plan(pol, facts(), workspace()))


def test_data_files_never_in_argv() -> None:
    plan = compile_plan(policy(), facts(), workspace())
    rendered = " ".join(argv(plan))
    assert "{fd:data:passwd}" in rendered
    assert "alice:x:1000" not in rendered


def test_read_only_wins_over_read_write_at_the_same_place() -> None:
    fs = FilesystemPolicy(rw=(Bind("{project}"),), ro=(Bind(PROJECT),))
    tokens = argv(compile_plan(policy(filesystem=fs), facts(), workspace()))
    assert PROJECT in pairs(tokens, "--ro-bind")
    assert PROJECT not in pairs(tokens, "--bind")


def test_watched_paths_are_expanded_for_the_runtime() -> None:
    fs = FilesystemPolicy(rw=(Bind("{project}"),), watch=("{project}/.git/commondir",))
    plan = compile_plan(policy(filesystem=fs), facts(), workspace())
    assert plan.watched == (f"{PROJECT}/.git/commondir",)
    assert f"{PROJECT}/.git/commondir" not in argv(plan)  # watched, never mounted

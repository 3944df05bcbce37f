"""The enforced layer's rules (pure): what each key means, what loosens it, the error text.

Layers are built from raw tables with the same reader as files; the enforced one is passed
to ``merge`` the way ``load_policy`` does after reading ``/etc/agent-sandbox/enforced.toml``.
The file checks (owner, mode, directories) are in tests/sandbox/test_enforced.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwsandbox._api import COMMAND_LINE, build_overlay
from bwsandbox._errors import PolicyError
from bwsandbox.net._rules import parse_rule
from bwsandbox.policy._enforce import ENFORCEABLE, check_enforceable, covers
from bwsandbox.policy._enforced import ENFORCED_PATH, EXTRA_VAR, enforced_paths
from bwsandbox.policy._merge import merge
from bwsandbox.policy._model import NetworkMode, Policy
from bwsandbox.policy._schema import SPECS
from bwsandbox.policy._validate import Layer, read_layer

ENF = "/etc/agent-sandbox/enforced.toml"
BASE: dict[str, Any] = {"filesystem": {"rw": ["{project}"]}, "hardening": {"new_session": True}}


def enforced(raw: Mapping[str, Any]) -> Layer:
    layer = read_layer(raw, ENF, can_extend=False)
    check_enforceable(layer)
    return layer


def resolve(enf: Mapping[str, Any], *layers: tuple[str, Mapping[str, Any]]) -> Policy:
    stack = [read_layer(BASE, "base.toml")]
    stack += [read_layer(raw, source, can_extend=False) for source, raw in layers]
    return merge(stack, name="t", enforced=[enforced(enf)])


def cli(**options: Any) -> tuple[str, dict[str, Any]]:
    return (COMMAND_LINE, build_overlay(cwd="/", **options))


def conflict(enf: Mapping[str, Any], *layers: tuple[str, Mapping[str, Any]]) -> str:
    with pytest.raises(PolicyError) as info:
        resolve(enf, *layers)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{ENF}: ")
    return text


# -- network ---------------------------------------------------------------------------------
def test_mode_is_a_maximum() -> None:
    enf = {"network": {"mode": "filtered"}}
    text = conflict(enf, cli(network="host"))
    assert text == (f'{ENF}: network.mode = "filtered" is enforced; --network host would loosen it')
    assert resolve(enf, cli(network="none")).network.mode is NetworkMode.NONE
    assert resolve(enf).network.mode is NetworkMode.NONE
    assert resolve(enf, cli(allow=["a.test"])).network.allow == ("a.test",)
    text = conflict({"network": {"mode": "none"}}, cli(allow=["a.test"]))
    assert "--network filtered would loosen it" in text


def test_a_policy_file_is_blamed_by_key_and_file() -> None:
    text = conflict({"network": {"mode": "none"}}, ("team.toml", {"network": {"mode": "host"}}))
    assert 'network.mode = "host" in team.toml would loosen it' in text


def test_enforced_rules_forbid_host_mode() -> None:
    text = conflict({"network": {"deny": ["evil.test"]}}, cli(network="host"))
    assert "network.deny is enforced" in text
    assert "--network host" in text


def test_enforced_allow_is_the_most_that_may_be_allowed() -> None:
    enf = {"network": {"allow": ["*.corp.test", "api.test:443"]}}
    ok = resolve(enf, cli(allow=["git.corp.test", "api.test:443", "*.x.corp.test:22"]))
    assert ok.network.allow == ("git.corp.test", "api.test:443", "*.x.corp.test:22")
    for outside in ("evil.test", "api.test", "api.test:80", "corp.test", "10.0.0.1"):
        text = conflict(enf, cli(allow=[outside]))
        assert f"--allow {outside} would loosen it" in text
        assert "network.allow is enforced" in text


def test_enforced_deny_always_applies_and_an_allow_inside_it_conflicts() -> None:
    enf = {"network": {"deny": ["*.evil.test", "10.0.0.0/8"]}}
    policy = resolve(enf, cli(allow=["web.test"]))
    assert policy.network.deny == ("*.evil.test", "10.0.0.0/8")
    assert "--allow a.evil.test" in conflict(enf, cli(allow=["a.evil.test"]))
    assert "--allow 10.1.0.0/16" in conflict(enf, cli(allow=["10.1.0.0/16"]))
    # overlapping but wider: allowed, and the deny still comes first at run time
    assert resolve(enf, cli(allow=["*.test"])).network.deny[0] == "*.evil.test"
    # not filtered: nothing to add, nothing to check
    assert resolve(enf).network.deny == ()


def test_add_hosts_are_pinned() -> None:
    enf = {"network": {"add_hosts": {"git.corp": "10.1.1.1"}}}
    policy = resolve(enf, cli(allow=["git.corp"]))
    assert dict(policy.network.add_hosts) == {"git.corp": "10.1.1.1"}
    text = conflict(enf, cli(allow=["git.corp"], add_hosts=["git.corp=10.6.6.6"]))
    assert "--add-host git.corp=10.6.6.6 would loosen it" in text


def test_under_an_allow_ceiling_a_pinned_address_must_be_inside_it() -> None:
    enf = {"network": {"allow": ["api.test", "192.0.2.0/24"]}}
    text = conflict(enf, cli(allow=["api.test"], add_hosts=["api.test=10.0.0.5"]))
    assert "--add-host api.test=10.0.0.5 would loosen it" in text
    policy = resolve(enf, cli(allow=["api.test"], add_hosts=["api.test=192.0.2.7"]))
    assert dict(policy.network.add_hosts) == {"api.test": "192.0.2.7"}
    # without a ceiling, pins are the user's business
    assert resolve({}, cli(allow=["api.test"], add_hosts=["api.test=10.0.0.5"]))


# -- filesystem ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bind", "kind"),
    [
        ("/srv/secret", "ro"),
        ("/srv/secret/sub", "rw"),
        ("/srv/secret/sub", "ro"),
    ],
)
def test_mask_cannot_be_exposed_by_a_bind(bind: str, kind: str) -> None:
    text = conflict({"filesystem": {"mask": ["/srv/secret"]}}, cli(**{kind: [bind]}))
    assert f'filesystem.mask "/srv/secret" is enforced; --{kind} {bind} would loosen it' in text


def test_mask_under_a_bind_at_its_own_path_is_fine_and_applied() -> None:
    policy = resolve({"filesystem": {"mask": ["/srv/secret"]}}, cli(ro=["/srv"]))
    assert policy.filesystem.mask == ("/srv/secret",)


def test_mask_parent_bound_elsewhere_conflicts() -> None:
    moved = {"filesystem": {"ro": [{"src": "/srv", "dest": "/data"}]}}
    text = conflict({"filesystem": {"mask": ["/srv/secret"]}}, ("mine.toml", moved))
    assert "filesystem.ro[0] = " in text
    assert "in mine.toml would loosen it" in text


def test_read_only_and_protected_paths_cannot_be_made_writable() -> None:
    text = conflict({"filesystem": {"ro": ["/opt/tools"]}}, cli(rw=["/opt/tools/bin"]))
    assert 'filesystem.ro "/opt/tools" is enforced; --rw /opt/tools/bin would loosen it' in text
    assert resolve({"filesystem": {"ro": ["/opt/tools"]}}, cli(ro=["/opt/tools"]))
    hooks = ("p.toml", {"filesystem": {"rw": ["{project}/.git/hooks"]}})
    text = conflict({"filesystem": {"protect": ["{project}/.git/"]}}, hooks)
    assert 'filesystem.protect "{project}/.git/" is enforced' in text


# -- env, hardening, seccomp, limits ---------------------------------------------------------
def test_unset_variables_cannot_be_set_or_passed() -> None:
    enf = {"env": {"unset": ["AWS_*"]}}
    assert "--env AWS_KEY would loosen it" in conflict(enf, cli(env=["AWS_KEY=secret-value"]))
    assert "secret-value" not in conflict(enf, cli(env=["AWS_KEY=secret-value"]))
    assert "--env AWS_PROFILE would loosen it" in conflict(enf, cli(env=["AWS_PROFILE"]))
    assert resolve(enf, cli(env=["HOME_X=1"])).env.unset == ("AWS_*",)


@pytest.mark.parametrize(
    ("key", "strict"),
    [
        ("hardening.nested_userns", False),
        ("hardening.share_pid", False),
        ("hardening.share_ipc", False),
        ("hardening.new_session", True),
        ("hardening.die_with_parent", True),
        ("git.identity", False),
        ("seccomp.enabled", True),
    ],
)
def test_hardening_booleans(key: str, strict: bool) -> None:
    section, name = key.split(".")
    enf = {section: {name: strict}}
    loose = ("team.toml", {section: {name: not strict}})
    value = "true" if strict else "false"
    assert f"{key} = {value} is enforced" in conflict(enf, loose)
    assert getattr(getattr(resolve(enf), section), name) is strict
    with pytest.raises(PolicyError, match="would loosen, not restrict"):
        enforced({section: {name: not strict}})


def test_ask_on_first_use_can_be_forbidden() -> None:
    enf = {"network": {"unlisted": "deny"}}
    text = conflict(enf, cli(ask=True))
    assert 'network.unlisted = "deny" is enforced' in text, text
    assert 'network.unlisted = "ask" in command line would loosen it' in text, text
    assert resolve(enf, cli(network="filtered")).network.unlisted == "deny"
    with pytest.raises(PolicyError, match="would loosen, not restrict"):
        enforced({"network": {"unlisted": "ask"}})


def test_seccomp_deny_is_a_union_and_allow_cannot_reopen_it() -> None:
    enf = {"seccomp": {"deny": ["ptrace"]}}
    text = conflict(enf, ("dbg.toml", {"seccomp": {"allow": ["process_vm_readv"]}}))
    assert 'seccomp.deny "ptrace" is enforced' in text
    assert resolve(enf, ("x.toml", {"seccomp": {"deny": ["bpf"]}})).seccomp.deny == (
        "bpf",
        "ptrace",
    )


def test_limits_are_maxima() -> None:
    enf = {"limits": {"memory": "4G", "timeout": "1h", "pids": 500}}
    assert resolve(enf).limits.memory == "4G"
    assert resolve(enf, cli(memory="1G")).limits.memory == "1G"
    assert "--memory 8G would loosen it" in conflict(enf, cli(memory="8G"))
    assert "--timeout 2h" in conflict(enf, cli(timeout="2h"))
    assert "--pids 501" in conflict(enf, cli(pids=501))


# -- what can be enforced --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"filesystem": {"rw": ["/"]}}, "filesystem.rw"),
        ({"env": {"passthrough": ["HOME"]}}, "env.passthrough"),
        ({"seccomp": {"allow": ["ptrace"]}}, "seccomp.allow"),
        ({"command": {"argv": ["sh"]}}, "command.argv"),
        ({"hardening": {"uid": 5}}, "hardening.uid"),
    ],
)
def test_grants_cannot_be_enforced(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError, match=f"{key} cannot be enforced"):
        enforced(raw)


def test_extends_is_refused_in_an_enforced_file() -> None:
    with pytest.raises(PolicyError, match="cannot extend"):
        enforced({"extends": ["base"]})


def test_every_enforceable_key_exists() -> None:
    known = {f"{section}.{key}" for section, keys in SPECS.items() for key in keys}
    assert set(ENFORCEABLE) - {"description"} <= known


def test_sources_and_explain_name_the_enforced_layer() -> None:
    policy = resolve({"network": {"mode": "filtered"}})
    assert policy.sources[-1] == ENF
    assert policy.enforced == (ENF,)


# -- the seam --------------------------------------------------------------------------------
def test_the_seam_adds_a_layer_and_never_replaces_the_system_one() -> None:
    assert enforced_paths({}) == (ENFORCED_PATH,)
    assert enforced_paths({EXTRA_VAR: "/tmp/x.toml"}) == (ENFORCED_PATH, "/tmp/x.toml")
    assert enforced_paths({EXTRA_VAR: ""}) == (ENFORCED_PATH,)
    assert ENFORCED_PATH == "/etc/agent-sandbox/enforced.toml"


# -- rule coverage: the matcher is the oracle ------------------------------------------------
_LABELS = st.sampled_from(["a", "b", "corp", "x"])
_NAMES = st.lists(_LABELS, min_size=1, max_size=3).map(".".join)


def _rule_text(draw: st.DrawFn) -> str:
    name = draw(_NAMES)
    wildcard = draw(st.booleans())
    ports = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(0, 2))))
    host = f"*.{name}" if wildcard else name
    if ports is None:
        return host
    low, extra = ports
    return f"{host}:{low}-{low + extra}"


rules = st.composite(_rule_text)


@given(outer=rules(), inner=rules(), probe=_NAMES, port=st.integers(1, 7))
def test_covers_agrees_with_the_matcher(outer: str, inner: str, probe: str, port: int) -> None:
    """If ``outer`` covers ``inner``, every (name, port) ``inner`` matches, ``outer`` does."""
    o, i = parse_rule(outer), parse_rule(inner)
    if covers(o, i) and i.matches_name(probe, port):
        assert o.matches_name(probe, port)
    if o == i:
        assert covers(o, i)


# -- the property: whatever the layers below say, the result is never looser ----------------
_ALLOWS = ["a.corp.test", "*.corp.test", "evil.test", "api.test:443", "10.1.0.0/16", "*.test"]
_PATHS = ["/srv", "/srv/secret", "/srv/secret/x", "/opt/tools", "/opt/tools/bin", "/home"]
_MODES = [None, "none", "filtered", "host"]


@st.composite
def _enforced_layers(draw: st.DrawFn) -> dict[str, Any]:
    network: dict[str, Any] = {}
    mode = draw(st.sampled_from([None, "none", "filtered", "host"]))
    if mode:
        network["mode"] = mode
    if draw(st.booleans()):
        network["allow"] = draw(st.lists(st.sampled_from(_ALLOWS), min_size=1, unique=True))
    if draw(st.booleans()):
        network["deny"] = draw(st.lists(st.sampled_from(_ALLOWS), min_size=1, unique=True))
    raw: dict[str, Any] = {"network": network} if network else {}
    masks = draw(st.lists(st.sampled_from(_PATHS), unique=True, max_size=2))
    if masks:
        raw["filesystem"] = {"mask": masks}
    if draw(st.booleans()):
        raw["limits"] = {"pids": draw(st.integers(10, 20))}
    return raw


@st.composite
def _command_lines(draw: st.DrawFn) -> dict[str, Any]:
    options: dict[str, Any] = {}
    mode = draw(st.sampled_from(_MODES))
    allow = draw(st.lists(st.sampled_from(_ALLOWS), unique=True, max_size=3))
    if allow and mode in (None, "filtered"):
        options["allow"] = allow
    if mode:
        options["network"] = mode
    kind = draw(st.sampled_from(["ro", "rw"]))
    binds = draw(st.lists(st.sampled_from(_PATHS), unique=True, max_size=2))
    if binds:
        options[kind] = binds
    if draw(st.booleans()):
        options["pids"] = draw(st.integers(5, 25))
    return options


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


@given(enf=_enforced_layers(), options=_command_lines())
def test_no_command_line_loosens_the_enforced_layer(
    enf: dict[str, Any], options: dict[str, Any]
) -> None:
    error: PolicyError | None = None
    try:
        policy = resolve(enf, cli(**options))
    except PolicyError as exc:
        error = exc
    if error is not None:
        assert error.file == ENF  # a conflict, blamed on the enforced file
        assert "\n" not in str(error)
        return
    net = enf.get("network", {})
    rank = {"none": 0, "filtered": 1, "host": 2}
    ceiling = net.get("mode", "host")
    if "allow" in net or "deny" in net:
        ceiling = min(ceiling, "filtered", key=rank.__getitem__)
    assert rank[str(policy.network.mode)] <= rank[ceiling]
    for text in policy.network.allow:
        rule = parse_rule(text)
        if "allow" in net:
            assert any(covers(parse_rule(outer), rule) for outer in net["allow"])
        assert not any(covers(parse_rule(deny), rule) for deny in net.get("deny", ()))
    if policy.network.mode is NetworkMode.FILTERED:
        assert set(net.get("deny", ())) <= set(policy.network.deny)
    for mask in enf.get("filesystem", {}).get("mask", ()):
        assert mask in policy.filesystem.mask
        for bind in (*policy.filesystem.ro, *policy.filesystem.rw):
            assert not _inside(bind.src, mask), (bind, mask)
    if "limits" in enf:
        assert policy.limits.pids is not None
        assert policy.limits.pids <= enf["limits"]["pids"]


@pytest.mark.parametrize(
    ("key", "strict", "loose"),
    [
        ("hardening.terminal_filter", True, False),
        ("limits.strict", True, False),
        ("devices.gpu", False, True),
    ],
)
def test_booleans_added_later_are_enforceable(key: str, strict: bool, loose: bool) -> None:
    """The switches other features added (terminal filter, strict limits, GPUs) can be pinned
    to their strict value; a layer below with the loose value conflicts, and the loose value
    cannot be enforced at all."""
    from bwsandbox.policy._enforce import _STRICT

    assert key in ENFORCEABLE
    assert _STRICT[key] is strict
    section, name = key.split(".")
    enf = {section: {name: strict}}
    text = conflict(enf, ("team.toml", {section: {name: loose}}))
    shown = "true" if strict else "false"
    assert f"{key} = {shown} is enforced" in text
    with pytest.raises(PolicyError, match="would loosen, not restrict"):
        enforced({section: {name: loose}})

"""How layers merge: lists append de-duplicated, tables per name, scalars later-wins, remove."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from bwsandbox import PolicyError
from bwsandbox.policy import load_policy
from bwsandbox.policy._model import Bind, NetworkMode, Policy


def _stack(*layers: Mapping[str, object]) -> Policy:
    """Merge raw layers (overlays named L0, L1...), base first."""
    return load_policy(
        [], overlays=[(f"L{i}", layer) for i, layer in enumerate(layers)], search_dirs=[]
    )


def _fs(**keys: object) -> dict[str, object]:
    return {"filesystem": keys}


def test_defaults_come_from_the_model() -> None:
    assert _stack() == Policy(name="empty")


def test_lists_append_deduplicated_keeping_the_first_position() -> None:
    policy = _stack(_fs(tmpfs=["/a", "/b", "/a"]), _fs(tmpfs=["/c", "/a"]))
    assert policy.filesystem.tmpfs == ("/a", "/b", "/c")


def test_paths_are_normalised_before_deduplication() -> None:
    policy = _stack(_fs(mask=["/a/b/", "//a/./b", "{project}/x/"]))
    assert policy.filesystem.mask == ("/a/b", "{project}/x")


def test_scalars_later_wins() -> None:
    policy = _stack(
        {"filesystem": {"home": "tmpfs"}, "hardening": {"hostname": "one"}},
        {"hardening": {"hostname": "Two"}},
    )
    assert policy.filesystem.home == "tmpfs"
    assert policy.hardening.hostname == "two"


def test_description_later_wins() -> None:
    assert _stack({"description": "a"}, {"description": "b"}).description == "b"


def test_argv_is_replaced_not_appended() -> None:
    policy = _stack({"command": {"argv": ["/bin/sh"]}}, {"command": {"argv": ["/bin/bash", "-i"]}})
    assert policy.command.argv == ("/bin/bash", "-i")


def test_argv_can_be_reset_to_empty() -> None:
    policy = _stack({"command": {"argv": ["/bin/sh"]}}, {"command": {"argv": []}})
    assert policy.command.argv == ()


def test_env_set_merges_per_name_later_wins_first_position() -> None:
    policy = _stack(
        {"env": {"set": {"A": "1", "B": "2"}}},
        {"env": {"set": {"C": "3", "A": "9"}}},
    )
    assert policy.env.set == (("A", "9"), ("B", "2"), ("C", "3"))


def test_env_set_value_may_be_empty() -> None:
    assert _stack({"env": {"set": {"A": ""}}}).env.set == (("A", ""),)


def test_env_unset_accumulates() -> None:
    policy = _stack({"env": {"unset": ["A_*"]}}, {"env": {"unset": ["B", "A_*"]}})
    assert policy.env.unset == ("A_*", "B")


def test_env_unset_refining_passthrough_is_fine() -> None:
    policy = _stack({"env": {"passthrough": ["LC_*"], "unset": ["LC_ALL"]}})
    assert policy.env.passthrough == ("LC_*",)


def test_add_hosts_merge_per_name_and_normalise() -> None:
    filtered = {"mode": "filtered"}
    policy = _stack(
        {"network": {**filtered, "add_hosts": {"DB.internal": "10.0.0.5", "x": "fd00:0::1"}}},
        {"network": {"add_hosts": {"db.internal": "10.0.0.6"}}},
    )
    assert policy.network.add_hosts == (("db.internal", "10.0.0.6"), ("x", "fd00::1"))


def test_later_bind_of_the_same_destination_replaces_the_earlier_one() -> None:
    policy = _stack(
        _fs(rw=["{project}", "/data"], ro=["/usr"]),
        _fs(ro=["{project}"]),
    )
    assert policy.filesystem.rw == (Bind("/data"),)
    assert policy.filesystem.ro == (Bind("/usr"), Bind("{project}"))


def test_later_bind_with_another_source_replaces_by_destination() -> None:
    policy = _stack(
        _fs(ro=[{"src": "/a", "dest": "/x"}, "/usr"]),
        _fs(ro=[{"src": "/b", "dest": "/x", "optional": False}]),
    )
    assert policy.filesystem.ro == (Bind("/usr"), Bind("/b", "/x", optional=False))


def test_identical_bind_keeps_its_first_position() -> None:
    policy = _stack(_fs(ro=["/a", "/b"]), _fs(ro=["/a", {"src": "/b", "dest": "/b"}]))
    assert policy.filesystem.ro == (Bind("/a"), Bind("/b"))


def test_remove_drops_a_destination_from_every_list() -> None:
    policy = _stack(
        _fs(
            ro=["/usr", {"src": "/host/opt", "dest": "/opt"}],
            tmpfs=["/opt"],
            mask=["/opt", "/other"],
            protect=["/opt"],
        ),
        _fs(remove=["/opt"]),
    )
    fs = policy.filesystem
    assert fs.ro == (Bind("/usr"),)
    assert fs.tmpfs == ()
    assert fs.mask == ("/other",)
    assert fs.protect == ()
    assert fs.remove == ()


def test_remove_matches_etc_entries() -> None:
    policy = _stack(_fs(etc=["/etc/ssl", "/etc/hosts.allow"]), _fs(remove=["/etc/ssl"]))
    assert policy.filesystem.etc == ("/etc/hosts.allow",)


def test_remove_with_a_variable() -> None:
    policy = _stack(
        _fs(protect=["{project}/.git/hooks", "{project}/.envrc"]),
        _fs(remove=["{project}/.git/hooks/"]),
    )
    assert policy.filesystem.protect == ("{project}/.envrc",)


def test_remove_is_exact_not_a_prefix() -> None:
    policy = _stack(_fs(ro=["/opt", "/opt/x"]), _fs(remove=["/opt"]))
    assert policy.filesystem.ro == (Bind("/opt/x"),)


def test_remove_then_add_in_one_layer() -> None:
    policy = _stack(_fs(ro=["/opt"]), _fs(remove=["/opt"], rw=["/opt"]))
    assert policy.filesystem.ro == ()
    assert policy.filesystem.rw == (Bind("/opt"),)


def test_remove_does_not_touch_the_same_layer() -> None:
    with pytest.raises(PolicyError, match="matches no destination") as info:
        _stack(_fs(remove=["/opt"], ro=["/opt"]))
    assert info.value.file == "L0"


def test_network_rules_merge_in_filtered_mode() -> None:
    policy = _stack(
        {"network": {"mode": "filtered", "allow": ["a.com"], "deny": ["x.a.com"]}},
        {"network": {"allow": ["b.com", "a.com"]}},
    )
    assert policy.network.mode is NetworkMode.FILTERED
    assert policy.network.allow == ("a.com", "b.com")
    assert policy.network.deny == ("x.a.com",)


def test_rules_before_the_mode_turns_filtered_are_fine() -> None:
    policy = _stack({"network": {"allow": ["a.com"]}}, {"network": {"mode": "filtered"}})
    assert policy.network.allow == ("a.com",)


@pytest.mark.parametrize("mode", ["none", "host"])
def test_switching_to_none_or_host_drops_inherited_rules(mode: str) -> None:
    agent = {
        "mode": "filtered",
        "allow": ["api.example.com"],
        "deny": ["x.example.com"],
        "add_hosts": {"db": "10.0.0.5"},
    }
    policy = _stack({"network": agent}, {"network": {"mode": mode}})
    assert policy.network.mode == NetworkMode(mode)
    assert policy.network.allow == ()
    assert policy.network.deny == ()
    assert policy.network.add_hosts == ()


def test_switching_back_to_filtered_keeps_rules_added_after() -> None:
    policy = _stack(
        {"network": {"mode": "filtered", "allow": ["old.com"]}},
        {"network": {"mode": "filtered", "allow": ["new.com"]}},
    )
    assert policy.network.allow == ("old.com", "new.com")


def test_uid_from_an_overlay() -> None:
    assert _stack({"hardening": {"uid": 1000}}).hardening.uid == 1000


def test_sources_in_order() -> None:
    assert _stack({}, {}, {}).sources == ("L0", "L1", "L2")


def test_result_is_frozen() -> None:
    policy = _stack(_fs(tmpfs=["/a"]))
    with pytest.raises(AttributeError):
        policy.name = "x"  # type: ignore[misc]
    assert isinstance(policy.filesystem.tmpfs, tuple)

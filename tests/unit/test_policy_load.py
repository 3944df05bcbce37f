"""Finding and stacking policies: refs, extends chains, cycles, de-duplication, search dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bwsandbox import PolicyError
from bwsandbox._paths import shipped_policies_dir
from bwsandbox.policy import PolicyInfo, list_policies, load_policy, load_policy_file
from bwsandbox.policy._model import Bind, NetworkMode

DATA = Path(__file__).parent / "data" / "policies"


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _ro(directory: Path, name: str, *paths: str, extends: tuple[str, ...] = ()) -> Path:
    lines = [f"extends = {list(extends)!r}".replace("'", '"')] if extends else []
    lines += ["[filesystem]", "ro = [" + ", ".join(f'"{p}"' for p in paths) + "]"]
    return _write(directory, name, "\n".join(lines) + "\n")


def test_fixture_agent_extends_base() -> None:
    policy = load_policy(["agent"], search_dirs=[str(DATA)])
    assert policy.name == "agent"
    assert policy.sources == (str(DATA / "base.toml"), str(DATA / "agent.toml"))
    assert policy.description == "an agent with a filtered network"
    assert policy.network.mode is NetworkMode.FILTERED
    assert policy.network.allow == ("api.example.com:443", "*.cdn.example.com")
    assert policy.filesystem.rw == (Bind("{project}"),)
    assert policy.command.argv == ("/usr/bin/agent", "--yes")


def test_fixture_mixin_on_top_of_a_filtered_policy() -> None:
    policy = load_policy(["agent", "github"], search_dirs=[str(DATA)])
    assert policy.name == "github"
    assert policy.network.allow[-2:] == ("github.com:443", "api.github.com:443")


def test_fixture_every_key() -> None:
    policy = load_policy(["full"], search_dirs=[str(DATA)])
    fs = policy.filesystem
    assert fs.ro == (Bind("/usr"), Bind("{host_home}/.gitconfig", "{home}/.gitconfig", False))
    assert fs.tmpfs == ("/var/tmp",)
    assert fs.remove == ()
    assert fs.home == "tmpfs"
    assert fs.tmp_size == "512M"
    assert policy.command.argv[-1] == "echo {{literal}} in {project}"
    assert policy.command.cwd == "{project}/src"
    assert policy.network.add_hosts == (("db.internal", "10.0.0.5"), ("v6.internal", "fd00::5"))
    assert policy.hardening.uid == 1234
    assert policy.hardening.nested_userns is True


def test_default_ref_is_base(tmp_path: Path) -> None:
    _write(tmp_path, "base", 'description = "mine"\n')
    assert load_policy(search_dirs=[str(tmp_path)]).description == "mine"


def test_a_bare_string_is_one_ref(tmp_path: Path) -> None:
    _write(tmp_path, "base", "")
    assert load_policy("base", search_dirs=[str(tmp_path)]).name == "base"


def test_file_refs_and_relative_extends(tmp_path: Path) -> None:
    _ro(tmp_path / "lib", "common", "/common")
    top = _ro(tmp_path / "project", "top", "/top", extends=("../lib/common.toml",))
    policy = load_policy([str(top)], search_dirs=[])
    assert [b.src for b in policy.filesystem.ro] == ["/common", "/top"]
    assert policy.sources == (str(tmp_path / "lib" / "common.toml"), str(top))
    assert policy.name == "top"


def test_a_ref_ending_in_toml_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ro(tmp_path, "here", "/here")
    monkeypatch.chdir(tmp_path)
    policy = load_policy(["here.toml"], search_dirs=[])
    assert policy.sources == ("here.toml",)


def test_extends_by_name_uses_search_dirs(tmp_path: Path) -> None:
    _ro(tmp_path / "dirs", "lower", "/lower")
    top = _ro(tmp_path, "top", "/top", extends=("lower",))
    policy = load_policy([str(top)], search_dirs=[str(tmp_path / "dirs")])
    assert [b.src for b in policy.filesystem.ro] == ["/lower", "/top"]


def test_chain_order_is_depth_first(tmp_path: Path) -> None:
    _ro(tmp_path, "a", "/a")
    _ro(tmp_path, "b", "/b", extends=("a",))
    _ro(tmp_path, "c", "/c")
    _ro(tmp_path, "d", "/d", extends=("b", "c"))
    policy = load_policy(["d"], search_dirs=[str(tmp_path)])
    assert [Path(s).stem for s in policy.sources] == ["a", "b", "c", "d"]
    assert [b.src for b in policy.filesystem.ro] == ["/a", "/b", "/c", "/d"]


def test_a_layer_reached_twice_is_applied_once_at_its_first_position(tmp_path: Path) -> None:
    _ro(tmp_path, "base", "/base")
    _ro(tmp_path, "left", "/left", extends=("base",))
    _ro(tmp_path, "right", "/right", extends=("base",))
    policy = load_policy(["left", "right", "base"], search_dirs=[str(tmp_path)])
    assert [Path(s).stem for s in policy.sources] == ["base", "left", "right"]
    assert policy.name == "right"


def test_same_file_by_name_and_by_path_is_one_layer(tmp_path: Path) -> None:
    path = _ro(tmp_path, "base", "/base")
    policy = load_policy(["base", str(path)], search_dirs=[str(tmp_path)])
    assert len(policy.sources) == 1


def test_cycle_names_the_chain(tmp_path: Path) -> None:
    _ro(tmp_path, "a", "/a", extends=("b",))
    _ro(tmp_path, "b", "/b", extends=("c",))
    _ro(tmp_path, "c", "/c", extends=("a",))
    with pytest.raises(PolicyError) as info:
        load_policy(["a"], search_dirs=[str(tmp_path)])
    names = " -> ".join(str(tmp_path / f"{n}.toml") for n in ("a", "b", "c", "a"))
    assert info.value.message == f"extends cycle: {names}"
    assert info.value.file == str(tmp_path / "c.toml")
    assert info.value.key == "extends[0]"


def test_self_extension_by_path_is_a_cycle(tmp_path: Path) -> None:
    _write(tmp_path, "me", 'extends = ["./me.toml"]\n')
    with pytest.raises(PolicyError, match="extends cycle"):
        load_policy(["me"], search_dirs=[str(tmp_path)])


def test_a_file_extending_its_own_name_gets_the_next_one(tmp_path: Path) -> None:
    user, shipped = tmp_path / "user", tmp_path / "shipped"
    _ro(shipped, "base", "/shipped")
    _ro(user, "base", "/mine", extends=("base",))
    policy = load_policy(["base"], search_dirs=[str(user), str(shipped)])
    assert [b.src for b in policy.filesystem.ro] == ["/shipped", "/mine"]
    assert policy.sources == (str(shipped / "base.toml"), str(user / "base.toml"))


def test_a_file_extending_its_own_name_with_nothing_below(tmp_path: Path) -> None:
    _write(tmp_path, "solo", 'extends = ["solo"]\n')
    with pytest.raises(PolicyError) as info:
        load_policy(["solo"], search_dirs=[str(tmp_path)])
    assert info.value.key == "extends[0]"
    assert info.value.hint == "a policy cannot extend itself"


def test_missing_extends_name_gets_did_you_mean(tmp_path: Path) -> None:
    _write(tmp_path, "base", "")
    _write(tmp_path, "top", 'extends = ["bsae"]\n')
    with pytest.raises(PolicyError) as info:
        load_policy(["top"], search_dirs=[str(tmp_path)])
    assert info.value.file == str(tmp_path / "top.toml")
    assert info.value.key == "extends[0]"
    assert info.value.message == "no policy named 'bsae'"
    assert info.value.hint == "did you mean 'base'?"


def test_missing_name_lists_what_exists(tmp_path: Path) -> None:
    _write(tmp_path, "base", "")
    _write(tmp_path, "shell", "")
    with pytest.raises(PolicyError) as info:
        load_policy(["zzzzzz"], search_dirs=[str(tmp_path)])
    assert info.value.file is None
    assert str(info.value) == "no policy named 'zzzzzz' (available: base, shell)"


def test_missing_extends_path(tmp_path: Path) -> None:
    _write(tmp_path, "top", 'extends = ["../nowhere.toml"]\n')
    with pytest.raises(PolicyError) as info:
        load_policy(["top"], search_dirs=[str(tmp_path)])
    assert info.value.file == str(tmp_path / "top.toml")
    assert info.value.key == "extends[0]"
    assert "no such policy file" in info.value.message


def test_invalid_name(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="invalid policy name '-x'"):
        load_policy(["-x"], search_dirs=[str(tmp_path)])


def test_user_dir_shadows_shipped_dir(tmp_path: Path) -> None:
    user, shipped = tmp_path / "user", tmp_path / "shipped"
    _ro(shipped, "base", "/shipped")
    _ro(shipped, "extra", "/extra")
    _ro(user, "base", "/mine")
    policy = load_policy(["base", "extra"], search_dirs=[str(user), str(shipped)])
    assert [b.src for b in policy.filesystem.ro] == ["/mine", "/extra"]


def test_default_search_dirs_put_the_user_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    monkeypatch.setenv("AGENT_SANDBOX_CONFIG_DIR", str(config))
    _write(config / "policies", "base", 'description = "user base"\n')
    assert load_policy(["base"]).description == "user base"


def test_shipped_base_is_found_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SANDBOX_CONFIG_DIR", str(tmp_path / "empty"))
    policy = load_policy(["base"])
    assert policy.sources == (str(Path(shipped_policies_dir()) / "base.toml"),)


def test_list_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user, shipped = tmp_path / "user", tmp_path / "shipped"
    _write(shipped, "base", 'description = "shipped base"\n')
    _write(shipped, "shell", 'description = "a shell"\n')
    _write(user, "base", 'description = "my base"\n')
    _write(user, "broken", "this is not toml\n")
    (user / "notes.txt").write_text("", encoding="utf-8")
    (user / "dir.toml").mkdir()
    monkeypatch.setattr("bwsandbox._paths.shipped_policies_dir", lambda: str(shipped))
    assert list_policies([str(user), str(shipped)]) == [
        PolicyInfo("base", str(user / "base.toml"), "my base", shipped=False),
        PolicyInfo("broken", str(user / "broken.toml"), "", shipped=False),
        PolicyInfo("shell", str(shipped / "shell.toml"), "a shell", shipped=True),
    ]


def test_list_policies_skips_missing_dirs(tmp_path: Path) -> None:
    assert list_policies([str(tmp_path / "nope")]) == []


def test_load_policy_file_follows_extends(tmp_path: Path) -> None:
    _ro(tmp_path / "lib", "lower", "/lower")
    path = _ro(tmp_path, "mine", "/mine", extends=("lib/lower.toml",))
    policy = load_policy_file(str(path))
    assert policy.name == "mine"
    assert [b.src for b in policy.filesystem.ro] == ["/lower", "/mine"]


def test_load_policy_file_takes_any_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "policy").write_text('description = "no suffix"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_policy_file("policy").description == "no suffix"


def test_overlays_come_last_and_are_named(tmp_path: Path) -> None:
    _ro(tmp_path, "base", "/base")
    overlay = {
        "filesystem": {"ro": ("/extra",), "rw": ["/work"]},
        "network": {"mode": "filtered", "allow": ["example.com"]},
        "env": {"set": {"X": "1"}},
    }
    policy = load_policy(
        ["base"], overlays=[("command line", overlay)], search_dirs=[str(tmp_path)]
    )
    assert policy.sources == (str(tmp_path / "base.toml"), "command line")
    assert policy.name == "base"
    assert [b.src for b in policy.filesystem.ro] == ["/base", "/extra"]
    assert policy.network.allow == ("example.com",)
    assert policy.env.set == (("X", "1"),)


def test_overlay_must_be_a_table() -> None:
    with pytest.raises(PolicyError, match="expected a table") as info:
        load_policy([], overlays=[("command line", ["x"])], search_dirs=[])  # type: ignore[list-item]
    assert info.value.file == "command line"


def test_no_layers_at_all() -> None:
    policy = load_policy([], search_dirs=[])
    assert policy.name == "empty"
    assert policy.sources == ()
    assert policy.network.mode is NetworkMode.NONE

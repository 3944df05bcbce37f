"""The public surface of bwsandbox.policy, shipped policies, rendering, the schema, imports."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

import bwsandbox.policy
from bwsandbox._paths import shipped_policies_dir
from bwsandbox.policy import list_policies, load_policy, load_policy_file, policy_as_dict
from bwsandbox.policy._model import Policy
from bwsandbox.policy._schema import SECTIONS, SPECS

DATA = Path(__file__).parent / "data" / "policies"
SHIPPED = sorted(Path(shipped_policies_dir()).glob("*.toml"))


def test_public_surface_is_exactly_all() -> None:
    assert sorted(bwsandbox.policy.__all__) == [
        "ARCHES",
        "Bind",
        "COMMAND_LINE",
        "GROUPS",
        "LimitsPolicy",
        "McpServer",
        "NetworkMode",
        "NetworkName",
        "Policy",
        "PolicyInfo",
        "SYSCALLS",
        "SecretDelivery",
        "build_overlay",
        "canonical_policy",
        "covers",
        "enforced_deps",
        "expand",
        "list_policies",
        "load_policy",
        "load_policy_file",
        "merge",
        "parse_duration",
        "parse_size",
        "policy_as_dict",
        "policy_digest",
        "read_enforced",
        "read_layers",
        "read_overlays",
        "variables_in",
    ]
    assert dir(bwsandbox.policy) == sorted(bwsandbox.policy.__all__)
    for name in bwsandbox.policy.__all__:
        assert getattr(bwsandbox.policy, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = bwsandbox.policy.nope


def test_the_model_does_not_import_the_loader() -> None:
    modules = _modules_after("import bwsandbox.policy._model")
    assert "bwsandbox.policy._load" not in modules
    assert "tomllib" not in modules


def test_top_level_load_policy_is_this_one() -> None:
    import bwsandbox

    assert bwsandbox.load_policy is load_policy


def test_shipped_policies_exist() -> None:
    assert {path.stem for path in SHIPPED} >= {"base", "shell"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_every_shipped_policy_loads(path: Path) -> None:
    by_file = load_policy_file(str(path))
    by_name = load_policy([path.stem], search_dirs=[shipped_policies_dir()])
    assert by_file == by_name
    assert by_name.name == path.stem
    assert by_name.description
    assert by_name.hardening.uid != 0


def test_every_shipped_policy_is_listed_as_shipped() -> None:
    infos = list_policies()
    shipped = {info.name for info in infos if info.shipped}
    assert shipped == {path.stem for path in SHIPPED}
    assert all(info.description for info in infos if info.shipped)


POLICIES = [(str(DATA), name) for name in ("base", "agent", "full")] + [
    (shipped_policies_dir(), path.stem) for path in SHIPPED
]


@pytest.mark.parametrize(("directory", "name"), POLICIES)
def test_policy_as_dict_is_json_and_loads_back(directory: str, name: str) -> None:
    policy = load_policy([name], search_dirs=[directory])
    data = policy_as_dict(policy)
    assert json.loads(json.dumps(data)) == data
    assert data["name"] == policy.name
    assert data["sources"] == list(policy.sources)
    raw = {key: value for key, value in data.items() if key not in ("name", "sources")}
    again = load_policy([], overlays=[(policy.sources[-1], raw)], search_dirs=[])
    assert again.filesystem == policy.filesystem
    assert again.env == policy.env
    assert again.command == policy.command
    assert again.network == policy.network
    assert again.hardening == policy.hardening
    assert again.description == policy.description


def test_policy_as_dict_layout() -> None:
    data = policy_as_dict(load_policy(["full"], search_dirs=[str(DATA)]))
    assert set(data) == {"name", "description", "sources", *SECTIONS}
    filesystem = data["filesystem"]
    assert isinstance(filesystem, dict)
    assert filesystem["ro"] == [
        "/usr",
        {"src": "{host_home}/.gitconfig", "dest": "{home}/.gitconfig", "optional": False},
    ]
    network = data["network"]
    assert isinstance(network, dict)
    assert network["mode"] == "filtered"
    assert type(network["mode"]) is str
    assert network["add_hosts"] == {"db.internal": "10.0.0.5", "v6.internal": "fd00::5"}


def test_schema_covers_exactly_the_model() -> None:
    sections = {f.name for f in fields(Policy) if is_dataclass(f.default_factory)}
    assert set(SECTIONS) == sections
    for section, cls in SECTIONS.items():
        assert list(SPECS[section]) == [f.name for f in fields(cls)]


def test_every_model_field_is_documented() -> None:
    for cls in SECTIONS.values():
        for f in fields(cls):
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name}"


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_loading_imports_nothing_heavy() -> None:
    modules = _modules_after("from bwsandbox.policy import load_policy; load_policy(['shell'])")
    # pathlib pulls in urllib.parse and ipaddress: milliseconds on the start-up path; the
    # shipped policies are read without tomllib (policy/_shipped.py)
    heavy_modules = ("difflib", "pathlib", "ipaddress", "typer", "pyroute2", "asyncio")
    for heavy in (*heavy_modules, "tomllib", "datetime"):
        assert heavy not in modules, heavy


def test_hints_import_difflib_only_on_error() -> None:
    code = (
        "from bwsandbox.policy import load_policy\n"
        "try:\n    load_policy(['no-such-policy'])\nexcept Exception:\n    pass"
    )
    assert "difflib" in _modules_after(code)

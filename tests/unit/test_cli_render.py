"""What the CLI prints: policies as TOML that reads back, explain's redaction and warnings."""

from __future__ import annotations

import json
import tomllib

import pytest

from bwsandbox.cli._explain import REDACTED, explain_lines, is_secret_name
from bwsandbox.cli._render import policy_listing, policy_text, toml_text
from bwsandbox.compile import DataFile, NetworkPlan, SandboxPlan, SandboxUser
from bwsandbox.compile._options import DataBind, FdRef, Flag
from bwsandbox.policy import PolicyInfo, list_policies, load_policy, policy_as_dict
from bwsandbox.policy._model import NetworkMode


@pytest.mark.parametrize("name", [info.name for info in list_policies()])
def test_shipped_policies_render_as_toml_that_reads_back(name: str) -> None:
    data = policy_as_dict(load_policy([name]))
    text = policy_text(data)
    assert f"policy {data['name']}" in text.splitlines()[0]
    expected = {k: v for k, v in data.items() if k not in ("name", "sources")}
    assert tomllib.loads(text) == expected


def test_policy_text_json() -> None:
    data = policy_as_dict(load_policy(["base"]))
    assert json.loads(policy_text(data, as_json=True)) == data


def test_toml_quotes_odd_keys_and_strings() -> None:
    data = {"a": 'x"y\\z', "t": {"we ird": [1, True, "é"], "sub": {"K.V": "1"}}}
    assert tomllib.loads(toml_text(data)) == data


def test_listing() -> None:
    lines = policy_listing([PolicyInfo("base", "/p/base.toml", "Hardened", shipped=True)])
    assert lines == ["base  shipped  Hardened  [/p/base.toml]"]
    assert policy_listing([]) == ["no policies found"]


def _plan(mode: NetworkMode = NetworkMode.NONE) -> SandboxPlan:
    secret = FdRef("data:token")
    plain = FdRef("data:passwd")
    return SandboxPlan(
        bwrap="/usr/bin/bwrap",
        options=(
            Flag("--unshare-all"),
            DataBind(plain, "/etc/passwd", perms="0644"),
            DataBind(secret, "/run/secrets/token"),
        ),
        command=("true",),
        env=(("PATH", "/usr/bin"), ("GITHUB_TOKEN", "ghp_s3cret"), ("API_KEY", "k3y")),
        cwd="/project",
        user=SandboxUser("agent", 1000, 1000, "/home/agent"),
        network=NetworkPlan.parse(mode=mode, allow=("example.com:443",)),
        data=(
            DataFile(plain, b"agent:x:1000:1000::/home/agent:/bin/sh\n"),
            DataFile(secret, b"hunter2", secret=True),
        ),
    )


@pytest.mark.parametrize("as_json", [False, True])
def test_explain_redacts_secrets(as_json: bool) -> None:
    text = "\n".join(explain_lines({"name": "x"}, _plan(), as_json=as_json))
    for secret in ("ghp_s3cret", "k3y", "hunter2"):
        assert secret not in text
    assert REDACTED in text
    assert "/usr/bin" in text, "other values are shown"
    assert "{fd:data:token}" in text, "fds stay symbolic"


def test_explain_argv_one_token_per_line_or_quoted() -> None:
    lines = explain_lines({"name": "x"}, _plan())
    assert lines[-3:] == ["/run/secrets/token", "--", "true"]
    quoted = explain_lines({"name": "x"}, _plan(), quoted=True)
    assert quoted[-1].startswith("/usr/bin/bwrap --unshare-all ")
    assert quoted[-1].endswith(" -- true")


def test_explain_announces_host_network_loudly() -> None:
    lines = explain_lines({"name": "x"}, _plan(NetworkMode.HOST))
    assert any(line.startswith("WARNING: network mode 'host'") for line in lines)
    none = explain_lines({"name": "x"}, _plan(NetworkMode.NONE))
    assert not any(line.startswith("WARNING") for line in none)


def test_explain_json_has_the_plan() -> None:
    document = json.loads("\n".join(explain_lines({"name": "x"}, _plan(), as_json=True)))
    assert document["argv"][0] == "/usr/bin/bwrap"
    assert document["network"]["mode"] == "none"
    assert document["network"]["allow"] == ["example.com:443"]
    dests = {item["dest"] for item in document["data"]}
    assert dests == {"/etc/passwd", "/run/secrets/token"}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ANTHROPIC_API_KEY", True),
        ("GITHUB_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD", True),
        ("PATH", False),
        ("HOME", False),
        ("LANG", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret

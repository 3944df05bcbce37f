"""Secrets and SSH without a sandbox: policy checks, the plan's shape, sources, redaction."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bwsandbox import PolicyError, SecretError
from bwsandbox.cli._explain import explain_lines
from bwsandbox.compile import compile_plan
from bwsandbox.compile._secrets import SecretUse
from bwsandbox.net._http1 import Scrubber
from bwsandbox.net._injection import Injection
from bwsandbox.policy._merge import merge
from bwsandbox.policy._model import Policy
from bwsandbox.policy._model_secrets import SecretDelivery
from bwsandbox.policy._render import policy_as_dict
from bwsandbox.policy._validate import read_layer
from bwsandbox.runtime._secrets import deliver_secrets, read_secret
from bwsandbox.testing import MemoryAudit

from .test_compiler import facts, workspace

VALUE = "sk-unit-" + "9f" * 12


def load(*layers: dict[str, Any]) -> Policy:
    base: dict[str, Any] = {"filesystem": {"rw": ["{project}"]}}
    return merge(
        [
            read_layer(base, "base.toml"),
            *(read_layer(x, f"l{i}.toml") for i, x in enumerate(layers)),
        ],
        name="t",
    )


PROXY = {
    "source": "env:MY_KEY",
    "host": "api.example.com",
    "header": "x-api-key",
    "env": "API_KEY",
    "base_url_env": "API_BASE_URL",
}
FILTERED = {"mode": "filtered", "allow": ["api.example.com:443"]}


# -- policy ------------------------------------------------------------------------------
def test_a_secret_table_loads_with_defaults_and_its_name() -> None:
    policy = load({"network": FILTERED, "secrets": {"api": PROXY}})
    [secret] = policy.secrets
    assert secret.name == "api"
    assert secret.deliver is SecretDelivery.PROXY
    assert secret.header_value_template == "{secret}"
    assert secret.port == 443
    assert secret.tls


def test_authorization_defaults_to_a_bearer_template() -> None:
    policy = load({"network": FILTERED, "secrets": {"api": {**PROXY, "header": "Authorization"}}})
    assert policy.secrets[0].header_value_template == "Bearer {secret}"


def test_later_layers_replace_a_secret_by_name() -> None:
    env = {"source": "env:OTHER", "deliver": "env", "env": "X"}
    policy = load({"network": FILTERED, "secrets": {"api": PROXY}}, {"secrets": {"api": env}})
    assert [(s.name, s.deliver) for s in policy.secrets] == [("api", SecretDelivery.ENV)]


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({"deliver": "env", "env": "X"}, "secrets.s", "needs a source"),
        ({"source": "vault:x"}, "secrets.s.source", "expected a source"),
        ({"source": "env:1BAD"}, "secrets.s.source", "environment variable name"),
        ({"source": "keyring:nouser"}, "secrets.s.source", "keyring:SERVICE/USER"),
        ({"source": "file:relative"}, "secrets.s.source", "absolute path"),
        ({"source": "env:X", "deliver": "fil"}, "secrets.s.deliver", "did you mean 'file'"),
        ({"source": "env:X", "deliver": "env"}, "secrets.s.env", "needs env"),
        ({"source": "env:X", "deliver": "file"}, "secrets.s.path", "needs path"),
        (
            {"source": "env:X", "deliver": "file", "path": "{project}/key"},
            "secrets.s.path",
            "under {home}",
        ),
        ({"source": "env:X"}, "secrets.s.host", "needs host"),
        ({"source": "env:X", "host": "h.test", "template": "Bearer"}, "secrets.s.template", ""),
        ({"source": "env:X", "host": "h.test", "header": "Host"}, "secrets.s.header", ""),
        ({"source": "env:X", "hots": "h.test"}, "secrets.s.hots", "did you mean 'host'"),
    ],
)
def test_bad_secrets_name_the_key(table: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        read_layer({"secrets": {"s": table}}, "p.toml")
    assert info.value.key == key
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("ssh", "key"),
    [
        ({"validity": "15 minutes"}, "ssh.validity"),
        ({"validity": "9w"}, "ssh.validity"),
        ({"source_address": ["10.0.0.1/8"]}, "ssh.source_address[0]"),
        ({"extensions": ["permit-everything"]}, "ssh.extensions[0]"),
        ({"target": "host:99999"}, "ssh.target"),
        ({"principals": ["bad user"]}, "ssh.principals[0]"),
        ({"force_command": "a\nb"}, "ssh.force_command"),
    ],
)
def test_bad_ssh_settings_name_the_key(ssh: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError) as info:
        read_layer({"ssh": ssh}, "p.toml")
    assert info.value.key == key


def test_policy_as_dict_shows_the_reference_and_loads_back() -> None:
    policy = load({"network": FILTERED, "secrets": {"api": PROXY}})
    data = policy_as_dict(policy)
    assert data["secrets"] == {"api": {"source": "env:MY_KEY", "deliver": "proxy", **PROXY}}
    raw = {k: v for k, v in data.items() if k not in ("name", "sources", "description")}
    again = merge([read_layer(raw, "x.toml")], name="t")
    assert again.secrets == policy.secrets


# -- compile -----------------------------------------------------------------------------
def test_proxy_delivery_puts_only_a_placeholder_and_the_endpoint_in_the_env() -> None:
    plan = compile_plan(
        load({"network": FILTERED, "secrets": {"api": PROXY}}), facts(), workspace()
    )
    env = dict(plan.env)
    assert env["API_KEY"] == "bwsandbox-placeholder-api"
    assert env["API_BASE_URL"] == "http://api.example.com.proxy.internal"
    [use] = plan.secrets
    assert use.endpoint == "api.example.com.proxy.internal"
    assert use.template == "{secret}"


def test_proxy_delivery_needs_the_filtered_network() -> None:
    with pytest.raises(PolicyError, match="filtered") as info:
        compile_plan(load({"secrets": {"api": PROXY}}), facts(), workspace())
    assert info.value.key == "secrets.api.deliver"


def test_file_delivery_is_a_read_only_data_bind_filled_at_launch() -> None:
    secret = {"source": "env:MY_KEY", "deliver": "file", "path": "{home}/.config/t/key"}
    plan = compile_plan(load({"secrets": {"tok": secret}}), facts(), workspace())
    argv = plan.argv()
    index = argv.index("/home/alice/.config/t/key")
    assert argv[index - 3 : index] == ["0400", "--ro-bind-data", "{fd:data:secret-tok}"]
    [item] = [d for d in plan.data if d.fd.name == "data:secret-tok"]
    assert item.secret
    assert item.content == b""


def test_ssh_plan_binds_the_session_files() -> None:
    ssh = {"ca_key": "{host_home}/.ssh/ca", "principals": ["ha"], "target": "ha.lan:2222"}
    plan = compile_plan(load({"ssh": ssh}), facts(), workspace())
    assert plan.ssh is not None
    assert plan.ssh.ca_key == "/home/alice/.ssh/ca"
    dests = [m.dest for m in plan.mounts if m.src == "ssh"]
    assert dests == [
        "/home/alice/.ssh/id_ed25519",
        "/home/alice/.ssh/id_ed25519.pub",
        "/home/alice/.ssh/id_ed25519-cert.pub",
        "/home/alice/.ssh/config",
    ]
    config = next(d.content for d in plan.data if d.fd.name == "data:ssh-config").decode()
    assert "HostName ha.lan" in config
    assert "Port 2222" in config
    assert "User ha" in config
    assert "IdentityAgent none" in config


def test_ssh_needs_principals() -> None:
    with pytest.raises(PolicyError, match="principals"):
        compile_plan(load({"ssh": {"ca_key": "/ca"}}), facts(), workspace())


def test_explain_names_secrets_and_never_shows_values() -> None:
    secrets = {
        "api": PROXY,
        "tok": {"source": "command:pass show tok", "deliver": "file", "path": "{home}/t"},
        "npm": {"source": "keyring:npm/me", "deliver": "env", "env": "NPM_TOKEN"},
    }
    policy = load({"network": FILTERED, "secrets": secrets})
    plan = compile_plan(policy, facts(), workspace())
    text = "\n".join(explain_lines(policy_as_dict(policy), plan))
    assert "<secret api from env:MY_KEY>" in text
    assert "/home/alice/t: <secret tok from command:pass show tok>" in text
    assert "NPM_TOKEN=<secret npm from keyring:npm/me>" in text
    document = json.loads("\n".join(explain_lines(policy_as_dict(policy), plan, as_json=True)))
    assert any("<secret npm from keyring:npm/me>" in line for line in document["secrets"])


# -- sources -----------------------------------------------------------------------------
def use(source: str, deliver: SecretDelivery = SecretDelivery.ENV) -> SecretUse:
    return SecretUse(name="s", source=source, deliver=deliver, env="X")


def test_env_source() -> None:
    assert read_secret(use("env:MY_KEY"), {"MY_KEY": VALUE + "\n"}) == VALUE.encode()
    with pytest.raises(SecretError, match=r"\$MY_KEY is not set") as info:
        read_secret(use("env:MY_KEY"), {})
    assert info.value.name == "s"


def test_file_source_with_home(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(VALUE + "\n")
    assert read_secret(use("file:~/key"), {"HOME": str(tmp_path)}) == VALUE.encode()
    with pytest.raises(SecretError, match="No such file"):
        read_secret(use("file:~/nope"), {"HOME": str(tmp_path)})


def test_command_source_runs_without_a_shell_and_hides_its_output_on_failure(
    tmp_path: Path,
) -> None:
    script = tmp_path / "print-secret.py"
    script.write_text(f"import sys\nprint({VALUE!r})\nsys.exit(int(sys.argv[1]))\n")
    command = f"{sys.executable} {script}"
    assert read_secret(use(f"command:{command} 0"), dict(os.environ)) == VALUE.encode()
    with pytest.raises(SecretError, match="exited with status 3") as info:
        read_secret(use(f"command:{command} 3"), dict(os.environ))
    assert VALUE not in str(info.value)
    assert VALUE not in (info.value.hint or "")


def test_keyring_source(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):
        priority = 1

        def get_password(self, service: str, username: str) -> str | None:
            return VALUE if (service, username) == ("svc", "me") else None

        def set_password(self, service: str, username: str, password: str) -> None:
            raise NotImplementedError

        def delete_password(self, service: str, username: str) -> None:
            raise NotImplementedError

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())  # type: ignore[no-untyped-call]
    try:
        assert read_secret(use("keyring:svc/me"), {}) == VALUE.encode()
        with pytest.raises(SecretError, match="no password for svc/other"):
            read_secret(use("keyring:svc/other"), {})
    finally:
        keyring.set_keyring(previous)


def test_a_value_with_line_breaks_cannot_become_a_header_and_the_error_hides_it() -> None:
    bad = VALUE + "\r\nX-Evil: 1"
    with pytest.raises(SecretError) as info:
        read_secret(use("env:K", SecretDelivery.PROXY), {"K": bad})
    assert VALUE not in str(info.value)


def test_deliver_secrets_fills_the_plan_and_audits_names_only() -> None:
    secrets = {
        "api": PROXY,
        "tok": {"source": "env:MY_KEY", "deliver": "file", "path": "{home}/t"},
        "e": {"source": "env:MY_KEY", "deliver": "env", "env": "E_KEY"},
    }
    plan = compile_plan(load({"network": FILTERED, "secrets": secrets}), facts(), workspace())
    audit = MemoryAudit()
    delivery = deliver_secrets(plan, {"MY_KEY": VALUE}, audit=audit)
    assert dict(delivery.plan.env)["E_KEY"] == VALUE
    assert dict(delivery.plan.env)["API_KEY"] == "bwsandbox-placeholder-api"
    [data] = [d for d in delivery.plan.data if d.fd.name == "data:secret-tok"]
    assert data.content == VALUE.encode() + b"\n"
    [injection] = delivery.injections
    assert injection.header_line() == f"x-api-key: {VALUE}"
    assert VALUE not in repr(delivery)
    assert VALUE not in repr(injection)
    assert VALUE not in json.dumps(audit.events)
    assert VALUE not in str(plan)  # the compiled plan never held it
    assert delivery.delivered == ("api", "tok", "e")


# -- the proxy's response scrubber -------------------------------------------------------
@pytest.mark.parametrize("cut", [0, 1, 5, len(VALUE) - 1, len(VALUE)])
def test_scrubber_masks_a_secret_split_across_reads(cut: int) -> None:
    body = f"echo: x-api-key: {VALUE} end".encode()
    at = body.index(VALUE.encode()) + cut
    scrubber = Scrubber([VALUE.encode()])
    out = scrubber.feed(body[:at]) + scrubber.feed(body[at:]) + scrubber.flush()
    assert out == body.replace(VALUE.encode(), b"*" * len(VALUE))


def test_scrubber_holds_back_nothing_that_cannot_start_a_secret() -> None:
    scrubber = Scrubber([b"sk-secret"])
    assert scrubber.feed(b"data: {}\n\n") == b"data: {}\n\n"
    assert scrubber.feed(b"abc s") == b"abc "
    assert scrubber.feed(b"o") == b"so"


def test_injection_repr_hides_the_value() -> None:
    injection = Injection("n", "e.proxy.internal", "e", 443, "x-api-key", VALUE)
    assert VALUE not in repr(injection)

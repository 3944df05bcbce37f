"""``agent-sandbox explain`` shows the filter's settings that change what the agent meets:
which hosts are inspected (methods, path globs), the session CA it will mint, how inspected
upstreams are verified (``network.upstream_ca_file``), and what happens to unlisted names
(``network.unlisted``, ``ask_timeout``); in text and in ``--json``. Control: a filtered session
without those settings says it mints no CA and denies unlisted names at once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli


def _policy(tmp_path: Path) -> str:
    path = tmp_path / "net.toml"
    path.write_text(
        '[network]\nmode = "filtered"\nask_timeout = "12s"\n'
        f'upstream_ca_file = "{tmp_path / "private-ca.pem"}"\n'
    )
    return str(path)


def test_explain_names_inspected_hosts_ca_and_ask(cli: Cli, tmp_path: Path) -> None:
    options = (
        "--policy", _policy(tmp_path), "--ask",
        "--allow", "GET,HEAD github.com/myorg/*", "--allow", "POST api.test:8443/v1/messages",
        "--allow", "plain.test", "--", "true",
    )  # fmt: skip
    text = cli("explain", *options)
    assert text.returncode == 0, text.describe()
    out = text.stdout
    assert "  inspected HTTPS: github.com: GET,HEAD /myorg/*" in out, out
    assert "  inspected HTTPS: api.test:8443: POST /v1/messages" in out
    assert "inspected HTTPS: plain.test" not in out
    assert "  session CA: minted at start" in out
    assert f"verified against: network.upstream_ca_file {tmp_path / 'private-ca.pem'}" in out
    assert "  unlisted names: ask (held up to 12s for `agent-sandbox watch`" in out
    document = json.loads(cli("explain", "--json", *options).stdout)["network"]
    assert document["session_ca"] is True
    assert document["unlisted"] == "ask"
    assert document["ask_timeout"] == "12s"
    assert document["upstream_ca_file"] == str(tmp_path / "private-ca.pem")
    assert document["inspected"] == [
        {"rule": "GET,HEAD github.com/myorg/*", "host": "github.com", "ports": None,
         "methods": ["GET", "HEAD"], "path": "/myorg/*"},
        {"rule": "POST api.test:8443/v1/messages", "host": "api.test", "ports": [8443, 8443],
         "methods": ["POST"], "path": "/v1/messages"},
    ]  # fmt: skip
    # control: no inspecting rule, no ask
    plain = cli("explain", "--network", "filtered", "--allow", "plain.test", "--", "true")
    assert "session CA" not in plain.stdout
    assert "inspected HTTPS" not in plain.stdout
    assert "  unlisted names: deny (at once)" in plain.stdout
    control = json.loads(cli("explain", "--json", "--network", "filtered", "--", "true").stdout)[
        "network"
    ]
    assert (control["session_ca"], control["inspected"], control["unlisted"]) == (False, [], "deny")
    # not filtered: no filter settings at all
    none = json.loads(cli("explain", "--json", "--network", "none", "--", "true").stdout)["network"]
    assert "unlisted" not in none

"""The exit summary printed after a filtered session, with real sandboxes and the real CLI.

The sandbox chooses the names it asks for. A DNS name carrying an OSC title sequence is now
refused by the DNS parser itself (only host-name characters), so it never reaches the audit
log or the summary; the summary's own escaping, the second layer, is proved on raw names in
``tests/unit/test_exit_summary.py``.
Names of the profile's ``network.quiet`` list get no suggestion, one line sums them up, and
a host asked for by DNS and through the proxy is one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

_ASK = r"""
import socket, struct, urllib.request
ns = [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")][0]
def query(labels):
    body = b"".join(bytes([len(x)]) + x for x in labels) + b"\0"
    return struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + body + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for labels in ([b"\x1b]0;owned\x07\x1b]52;c;ZWNobw==\x07", b"test"], [b"loud", b"test"],
               [b"quiet", b"test"], [b"quiet", b"test"]):
    s.sendto(query(labels), (ns, 53))
    try:
        s.recv(512)
    except OSError:
        pass
try:
    urllib.request.urlopen("http://loud.test/", timeout=10)
except Exception as exc:
    print("refused", type(exc).__name__)
"""


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "quiet.toml"
    path.write_text(
        'extends = ["base"]\n[network]\nmode = "filtered"\nallow = ["allowed.test"]\n'
        'quiet = ["quiet.test"]\n'
    )
    return path


def test_summary_escapes_names_groups_hosts_and_hushes_quiet_ones(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--policy", str(_policy(tmp_path)), "--", "python3", "-c", _ASK)
    assert result.returncode == 0, result.describe()
    assert "refused" in result.stdout, result.describe()
    # first layer: the DNS parser refused the name, so no host-side record carries it
    logs = cli("logs")
    hosts = [json.loads(line).get("host", "") for line in logs.stdout.splitlines()]
    assert not any("owned" in host for host in hosts), logs.stdout
    assert "loud.test" in hosts, "control: the well-formed names of the same run are logged"
    # and our own output carries no control character at all
    assert "\x1b" not in result.stderr
    assert "\x07" not in result.stderr
    # grouped: loud.test once, for its DNS query and its proxied request
    loud = [line for line in result.stderr.splitlines() if "loud.test" in line]
    assert len(loud) == 1, result.stderr
    assert "--allow loud.test:80" in loud[0]
    assert "DNS + :80" in loud[0]
    # quiet: no suggestion, one line
    assert "quiet.test" not in result.stderr
    assert "quietly denied 2 update-check/telemetry request(s) to 1 host(s)" in result.stderr

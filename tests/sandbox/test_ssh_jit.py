"""SSH just in time against a real sshd (Debian openssh-server) on the host's loopback.

sshd runs as the test user with ``TrustedUserCAKeys`` (no authorized keys, no passwords).
The sandbox gets a fresh key pair and a certificate signed by the test CA for a few seconds,
reaches sshd through the filtered network (``add_hosts`` + ``allow``), and must: log in while
the certificate is valid, fail once it has expired, run only the forced command, and hold
nothing of the user's own keys or agent.
"""

from __future__ import annotations

import getpass
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bwsandbox import SecretError
from bwsandbox.compile._options import FdRef
from bwsandbox.compile._secrets import SshPlan
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox
from bwsandbox.runtime._ssh import issue_certificate
from bwsandbox.testing import MemoryAudit

pytestmark = [
    pytest.mark.bwrap,
    pytest.mark.userns,
    pytest.mark.netns,
    pytest.mark.tools("sshd", "ssh", "ssh-keygen"),
]

SSHD = "/usr/sbin/sshd"
NAME = "ssh.test"


@dataclass(frozen=True, slots=True)
class Sshd:
    port: int
    ca_key: Path
    host_pub: str
    log: Path
    user: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    directory = tmp_path / "sshd"
    directory.mkdir()
    _keygen(directory / "host")
    _keygen(directory / "ca")
    port = _free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {directory / 'host'}\nPidFile none\n"
        f"AuthorizedKeysFile none\nTrustedUserCAKeys {directory / 'ca.pub'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
    )
    log = directory / "sshd.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 10
        while b"Server listening" not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        host_pub = (directory / "host.pub").read_text().split()[:2]
        yield Sshd(port, directory / "ca", " ".join(host_pub), log, getpass.getuser())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _policy(sshd: Sshd, **ssh: Any) -> Any:
    overlay = {
        "network": {
            "mode": "filtered",
            "allow": [f"{NAME}:{sshd.port}"],
            "add_hosts": {NAME: "127.0.0.1"},
        },
        "ssh": {
            "ca_key": str(sshd.ca_key),
            "principals": [sshd.user],
            "target": f"{NAME}:{sshd.port}",
            "known_hosts": [f"[{NAME}]:{sshd.port} {sshd.host_pub}"],
            **ssh,
        },
    }
    return load_policy(("base",), overlays=(("test", overlay),))


def _run(policy: Any, project: Path, script: str, **environ: str) -> tuple[int, str, MemoryAudit]:
    audit = MemoryAudit()
    with Sandbox(
        policy,
        project=project,
        command=["sh", "-c", script],
        audit=audit,
        environ={**os.environ, **environ},
        capture_output=True,
    ) as box:
        code = box.wait(timeout=60)
    out = (box.stdout_data or b"") + (box.stderr_data or b"")
    return code, out.decode(errors="replace"), audit


@pytest.mark.slow  # waits 4.5 s for the certificate to expire
def test_login_works_during_the_session_and_fails_after_expiry(sshd: Sshd, tmp_path: Path) -> None:
    script = (
        "ssh target true && echo LOGIN-1-OK || echo LOGIN-1-FAILED; "
        "sleep 4.5; "  # the certificate was signed for 4 seconds
        "ssh target true && echo LOGIN-2-OK || echo LOGIN-2-FAILED"
    )
    code, out, audit = _run(_policy(sshd, validity="4s"), tmp_path, script)
    assert code == 0, out
    assert "LOGIN-1-OK" in out, out + sshd.log.read_text()
    assert "LOGIN-2-FAILED" in out, out
    log = sshd.log.read_text()
    assert "ED25519-CERT" in log
    assert "expired" in log.lower() or "not yet valid" in log.lower() or "certificate" in log
    [delivered] = [e["delivered"] for e in audit.events if e["event"] == "secrets"]
    assert delivered[0]["name"] == "ssh"


def test_the_forced_command_holds(sshd: Sshd, tmp_path: Path) -> None:
    marker = tmp_path / f"pwned-{secrets.token_hex(4)}"
    policy = _policy(sshd, force_command="echo forced:$SSH_ORIGINAL_COMMAND")
    code, out, _ = _run(policy, tmp_path, f"ssh target touch {marker}")
    assert code == 0, out + sshd.log.read_text()
    assert f"forced:touch {marker}" in out
    assert not marker.exists()  # the command the client asked for never ran on the host


def test_source_address_is_enforced_by_the_server(sshd: Sshd, tmp_path: Path) -> None:
    ok = _policy(sshd, source_address=["127.0.0.1/32"])
    code, out, _ = _run(ok, tmp_path, "ssh target echo in-range")
    assert code == 0, out
    assert "in-range" in out
    elsewhere = _policy(sshd, source_address=["10.9.9.9/32"])
    code, out, _ = _run(elsewhere, tmp_path, "ssh target echo out-of-range")
    assert code != 0
    assert "out-of-range" not in out


def test_only_the_session_key_enters(sshd: Sshd, tmp_path: Path) -> None:
    """The user's own keys and agent socket stay outside; the private key is 0400."""
    agent = tmp_path / "agent.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(agent))
    try:
        script = (
            "ls -A ~/.ssh; stat -c 'key=%a' ~/.ssh/id_ed25519; "
            'echo "agent=[$SSH_AUTH_SOCK]"; ssh-add -l; echo add=$?'
        )
        code, out, _ = _run(_policy(sshd), tmp_path, script, SSH_AUTH_SOCK=str(agent))
    finally:
        listener.close()
    assert code == 0, out
    listed = out.split("key=")[0].split()
    assert sorted(listed) == sorted(
        ["config", "id_ed25519", "id_ed25519.pub", "id_ed25519-cert.pub", "known_hosts"]
    )
    assert "key=400" in out
    assert "agent=[]" in out
    assert "add=2" in out  # no agent to talk to


def test_a_certificate_outside_its_validity_window_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    """Signed for a window already in the past (no waiting): the server refuses it."""
    plan = SshPlan(
        ca_key=str(sshd.ca_key),
        principals=(sshd.user,),
        validity="5m",
        force_command="",
        source_address=(),
        extensions=(),
        key_fd=FdRef("k"),
        cert_fd=FdRef("c"),
        pub_fd=FdRef("p"),
        key_path="",
    )
    for window, expected in (("-10m:-5m", 255), ("+5m", 0)):
        issued = issue_certificate(plan, "test", window=window)
        key = tmp_path / "key"
        key.write_bytes(issued.private_key)
        key.chmod(0o600)
        (tmp_path / "key-cert.pub").write_bytes(issued.certificate)
        result = subprocess.run(
            ["ssh", "-F", "none", "-i", str(key), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "IdentityAgent=none", "-p", str(sshd.port), f"{sshd.user}@127.0.0.1", "true"],
            capture_output=True, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode == expected, (window, result.stderr)


def test_a_missing_ca_key_is_a_secret_error(tmp_path: Path) -> None:
    plan = SshPlan(
        ca_key=str(tmp_path / "nope"),
        principals=("x",),
        validity="5m",
        force_command="",
        source_address=(),
        extensions=(),
        key_fd=FdRef("k"),
        cert_fd=FdRef("c"),
        pub_fd=FdRef("p"),
        key_path="",
    )
    with pytest.raises(SecretError, match="does not exist"):
        issue_certificate(plan, "test")

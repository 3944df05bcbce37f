"""Real tools over allowed TCP destinations, fail-closed behaviour, and setup failures."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bwsandbox.net
from bwsandbox._errors import NetworkError
from bwsandbox.compile._plan import NetworkPlan
from bwsandbox.net import NetworkSession, open_network
from bwsandbox.policy._model import NetworkMode
from bwsandbox.testing import start_sandbox

from .conftest import py

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[int]:
    """A ``git daemon`` on host loopback exporting ``repo.git`` with one commit."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", str(work)], check=True, env=env)
    (work / "README").write_text("over git://\n")
    subprocess.run(["git", "-C", str(work), "add", "README"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "first"], check=True, env=env)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(tmp_path / "repo.git")],
        check=True,
        env=env,
    )
    port = _free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={tmp_path}",
         "--listen=127.0.0.1", f"--port={port}", str(tmp_path)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    yield port
    daemon.terminate()
    daemon.wait(5)


def test_git_clone_over_an_allowed_tcp_destination(git_daemon: int) -> None:
    script = (
        f"git clone -q git://git.test:{git_daemon}/repo.git /tmp/clone && cat /tmp/clone/README"
    )
    hosts = [("git.test", "127.0.0.1")]
    result = start_sandbox(
        ["sh", "-c", script], allow=[f"git.test:{git_daemon}"], add_hosts=hosts
    ).finish()
    assert result.stdout == "over git://\n", result.describe()
    assert any(e["proto"] == "tcp" and e["port"] == git_daemon for e in result.net("allow"))


_TWICE = """
import socket, sys
def fetch():
    try:
        s = socket.create_connection(("web.test", int(sys.argv[1])), timeout=5)
        s.sendall(b"GET /x HTTP/1.0\\r\\nHost: web.test\\r\\n\\r\\n")
        return "data" if s.makefile("rb").read() else "closed"
    except OSError as exc:
        return type(exc).__name__
print("first", fetch(), flush=True)
sys.stdin.readline()
print("second", fetch(), flush=True)
"""


def test_egress_fails_closed_when_the_proxy_stops(
    http_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions: list[NetworkSession] = []

    def keep(*args: Any, **kwargs: Any) -> NetworkSession:
        sessions.append(open_network(*args, **kwargs))
        return sessions[-1]

    monkeypatch.setattr(bwsandbox.net, "open_network", keep)  # the runtime's one seam
    launched = start_sandbox(
        [*py(_TWICE), str(http_port)],
        allow=["web.test"],
        add_hosts=[("web.test", "127.0.0.1")],
        proxy_env=False,
    )
    first = launched.stdout.readline().decode()
    assert first.strip() == "first data"
    (session,) = sessions
    session.close()  # the proxy and DNS responder are gone
    started = time.monotonic()
    result = launched.finish(b"go\n")
    assert "second data" not in result.stdout, result.describe()
    assert "second" in result.stdout, result.describe()
    assert time.monotonic() - started < 10


def test_attach_to_a_process_that_is_gone_raises_network_error() -> None:
    process = subprocess.Popen(["true"])
    process.wait()
    session = open_network(NetworkPlan(NetworkMode.FILTERED, ("web.test",)))
    with pytest.raises(NetworkError, match="cannot set up the sandbox network"):
        session.attach(process.pid)
    session.close()


def test_invalid_rule_raises_network_error() -> None:
    with pytest.raises(NetworkError, match="invalid network rule"):
        open_network(NetworkPlan(NetworkMode.FILTERED, ("http://x/",)))


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path, str]]:
    """An OpenSSH server on host loopback, as the current user; (port, client key, user)."""
    sshd_binary = Path("/usr/sbin/sshd")  # present: the test's ``tools`` marker checked
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    keys = tmp_path / "keys"
    keys.mkdir()
    keys.chmod(0o755)
    for name in ("host", "id"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    (keys / "id").chmod(0o644)  # readable by the sandbox's uid; copied to 0600 inside
    (keys / "authorized_keys").write_text((keys / "id.pub").read_text())
    port = _free_port()
    config = keys / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPidFile {keys / 'pid'}\n"
        "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
    )
    daemon = subprocess.Popen(
        [str(sshd_binary), "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    import pwd

    yield port, keys, pwd.getpwuid(os.geteuid()).pw_name
    daemon.terminate()
    daemon.wait(5)


@pytest.mark.tools("sshd", "ssh", "ssh-keygen", "git")
def test_ssh_and_git_over_ssh_to_an_allowed_destination(
    sshd: tuple[int, Path, str], tmp_path: Path
) -> None:
    port, keys, user = sshd
    repo = tmp_path / "served.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    repo.parent.chmod(0o755)
    ssh = (
        f"ssh -F /dev/null -i /tmp/id -p {port} -o StrictHostKeyChecking=no "
        "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
    )
    script = (
        f"cp {keys / 'id'} /tmp/id && chmod 600 /tmp/id && "
        f"{ssh} {user}@ssh.test echo via-ssh && "
        f"GIT_SSH_COMMAND='{ssh}' git ls-remote ssh://{user}@ssh.test:{port}{repo} "
        "&& echo git-ok"
    )
    result = start_sandbox(
        ["sh", "-c", script],
        allow=[f"ssh.test:{port}"],
        add_hosts=[("ssh.test", "127.0.0.1")],
        ro_binds=[str(keys)],
    ).finish()
    assert "via-ssh" in result.stdout, result.describe()
    assert "git-ok" in result.stdout, result.describe()
    assert any(e["port"] == port for e in result.net("allow"))


_SUPERVISOR = """
import sys, time
from bwsandbox.testing import start_sandbox
launched = start_sandbox(
    ["sh", "-c", "echo ready; exec sleep 60"],
    allow=["web.test"],
    add_hosts=[("web.test", "127.0.0.1")],
    project=sys.argv[1],
)
launched.stdout.readline()  # the command runs: bwrap's own setup is over
print(launched.child_pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:  # noqa: PTH123
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_the_sandbox_dies_with_its_supervisor(project: Path) -> None:
    import sys

    supervisor = subprocess.Popen(
        [sys.executable, "-c", _SUPERVISOR, str(project)], stdout=subprocess.PIPE
    )
    assert supervisor.stdout is not None
    with supervisor.stdout:
        child = int(supervisor.stdout.readline())
        assert _alive(child)
        supervisor.kill()
        supervisor.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(child), "the sandbox outlived its supervisor (and its proxy)"

"""Attacks: reaching host services over loopback and unix sockets with network ``none``.

Controls: with ``--network host`` the same loopback and abstract-socket connections succeed
(they are scoped by the network namespace), and a filesystem socket that *is* bound into the
sandbox (in the project) is reachable (filesystem sockets ignore network namespaces, so not
binding them is the whole defence).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import SandboxRunner

pytestmark = [
    pytest.mark.bwrap,
    pytest.mark.userns,
    pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True),
]

BANNER = b"bwsbx-host-service"


@dataclass(frozen=True, slots=True)
class Listener:
    family: socket.AddressFamily
    address: str  # host, abstract name (with a leading NUL) or socket path
    port: int


def _serve(sock: socket.socket) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            conn.sendall(BANNER)


Listen = Callable[[socket.AddressFamily, str], Listener]


@pytest.fixture
def listen() -> Iterator[Listen]:
    opened: list[socket.socket] = []

    def start(family: socket.AddressFamily, address: str) -> Listener:
        sock = socket.socket(family, socket.SOCK_STREAM)
        opened.append(sock)
        if family == socket.AF_UNIX:
            sock.bind(address)
            port = 0
        else:
            sock.bind((address, 0))
            port = sock.getsockname()[1]
        sock.listen(8)
        threading.Thread(target=_serve, args=(sock,), daemon=True).start()
        return Listener(family, address, port)

    yield start
    for sock in opened:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _client_code(listener: Listener) -> str:
    if listener.family == socket.AF_UNIX:
        target = repr(listener.address)
        family = "socket.AF_UNIX"
    else:
        target = repr((listener.address, listener.port))
        family = "socket.AF_INET6" if listener.family == socket.AF_INET6 else "socket.AF_INET"
    return (
        "import socket\n"
        f"s = socket.socket({family}, socket.SOCK_STREAM)\n"
        "s.settimeout(10)\n"
        "try:\n"
        f"    s.connect({target})\n"
        "    print('GOT', s.recv(100))\n"
        "except OSError as exc:\n"
        "    print('refused', exc)\n"
    )


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_host_loopback_is_unreachable(sbx: SandboxRunner, listen: Listen, family: str) -> None:
    if family == "ipv6" and not _ipv6_available():
        pytest.skip("the host has no IPv6 loopback")
    fam, addr = (socket.AF_INET, "127.0.0.1") if family == "ipv4" else (socket.AF_INET6, "::1")
    listener = listen(fam, addr)
    attack = sbx.py(_client_code(listener))
    assert attack.returncode == 0, attack.describe()
    assert "GOT" not in attack.stdout, attack.describe()
    assert "refused" in attack.stdout, attack.describe()
    control = sbx.py(_client_code(listener), "--network", "host")
    assert repr(BANNER) in control.stdout, control.describe()


def test_host_abstract_unix_socket_is_unreachable(sbx: SandboxRunner, listen: Listen) -> None:
    name = f"\0bwsbx-canary-{secrets.token_hex(8)}"
    listener = listen(socket.AF_UNIX, name)
    attack = sbx.py(_client_code(listener))
    assert attack.returncode == 0, attack.describe()
    assert "GOT" not in attack.stdout, attack.describe()
    listing = sbx.sh("cat /proc/net/unix")
    assert name[1:] not in listing.stdout, listing.describe()
    control = sbx.py(_client_code(listener), "--network", "host")
    assert repr(BANNER) in control.stdout, control.describe()


def test_host_filesystem_sockets_are_not_visible(
    sbx: SandboxRunner, listen: Listen, tmp_path: Path, project: Path
) -> None:
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    bus = runtime / "bus"
    agent = Path("/tmp") / f"bwsbx-ssh-{secrets.token_hex(4)}.sock"
    listen(socket.AF_UNIX, str(bus))
    listen(socket.AF_UNIX, str(agent))
    try:
        env = {
            "XDG_RUNTIME_DIR": str(runtime),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}",
            "SSH_AUTH_SOCK": str(agent),
        }
        real_runtime = f"/run/user/{os.getuid()}"
        attack = sbx.sh(
            f"for s in {bus} {agent} $SSH_AUTH_SOCK {real_runtime}/bus; do "
            "test -e $s && echo VISIBLE $s; done; ls -A /run/user 2>/dev/null; true",
            env=env,
        )
        assert attack.returncode == 0, attack.describe()
        assert "VISIBLE" not in attack.stdout, attack.describe()
        for path in (bus, agent):
            reach = sbx.py(_client_code(Listener(socket.AF_UNIX, str(path), 0)), env=env)
            assert "GOT" not in reach.stdout, reach.describe()
        # Control: a socket that is bound (it lives in the project) is reachable.
        inside = project / "svc.sock"
        listen(socket.AF_UNIX, str(inside))
        control = sbx.py(_client_code(Listener(socket.AF_UNIX, str(inside), 0)))
        assert repr(BANNER) in control.stdout, control.describe()
    finally:
        agent.unlink(missing_ok=True)

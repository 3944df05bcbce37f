"""``host.agent-sandbox.internal:PORT``: the host's own loopback, one port at a time.

Inside a sandbox, ``localhost`` is the sandbox's own. The host's dev servers and databases
listen on the host's loopback; the proxy dials from the host namespace, so an explicit rule
for the reserved name and one port reaches exactly ``127.0.0.1:PORT`` (or ``[::1]:PORT``) on
the host, for any TCP client, transparently. Each test is paired with its control.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterator

import pytest

from bwsandbox._netconst import HOST_LOOPBACK_NAME
from bwsandbox._netrules import parse_rule
from bwsandbox.net._allowlist import Allowlist, suggest
from tests.conftest import Cli

from .conftest import Filtered, Recorder, py

NAME = HOST_LOOPBACK_NAME

# connect with a plain socket (no proxy involved: the proxy environment is not set), print
# the greeting or the error for each port given
_PROBE = """
import socket, sys
for port in sys.argv[2:]:
    try:
        with socket.create_connection((sys.argv[1], int(port)), timeout=10) as s:
            s.sendall(b"ping\\n")
            print(port, "got", s.recv(100).decode().strip())
    except OSError as exc:
        print(port, "error", type(exc).__name__)
"""


def _greeter(family: int, address: str) -> Iterator[int]:
    """A server on the host's loopback that answers every connection with ``db-ready``."""
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((address, 0))
    listener.listen()
    port = int(listener.getsockname()[1])

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"db-ready\n")

    threading.Thread(target=serve, daemon=True).start()
    yield port
    # wake the blocked accept first: a listener closed under it stays bound and answers
    # later connections to whatever reuses the port (a flaky "HTTP/0.9" from curl)
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()


@pytest.fixture
def db_port() -> Iterator[int]:
    yield from _greeter(socket.AF_INET, "127.0.0.1")


@pytest.fixture
def db6_port() -> Iterator[int]:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        yield from _greeter(socket.AF_INET6, "::1")
    except OSError as exc:  # pragma: no cover - host without ::1
        pytest.skip(f"the host has no IPv6 loopback: {exc}")


# -- pure: the grammar and the decision ------------------------------------------------------
@pytest.mark.parametrize("text", ["localhost:5432", "localhost", "LocalHost.:80", "db.localhost:1"])
def test_localhost_rules_are_refused_with_a_hint_to_the_name(text: str) -> None:
    with pytest.raises(ValueError, match=f"localhost is the sandbox itself.*{NAME}"):
        parse_rule(text)


def test_the_host_loopback_name_needs_a_port() -> None:
    with pytest.raises(ValueError, match="one port"):
        parse_rule(NAME, allow=True)
    with pytest.raises(ValueError, match="one port"):
        Allowlist.parse([NAME])
    assert str(parse_rule(f"{NAME}:5432", allow=True)) == f"{NAME}:5432"
    # denying it on every port is fine
    assert str(parse_rule(NAME)) == NAME


def test_only_the_allowed_port_of_the_host_loopback_is_open() -> None:
    allowlist = Allowlist.parse([f"{NAME}:5432"])
    assert allowlist.resolvable(NAME).allowed
    assert allowlist.check_name(NAME, 5432).allowed
    assert not allowlist.check_name(NAME, 5433).allowed
    for address in ("127.0.0.1", "::1"):
        ip = ipaddress.ip_address(address)
        assert allowlist.check_address(ip, 5432, name=NAME).allowed
        # dialled directly (not through the name) the host's loopback stays refused
        assert not allowlist.check_address(ip, 5432).allowed
        # another name never inherits the exception
        assert not allowlist.check_address(ip, 5432, name="db.example").allowed


@pytest.mark.parametrize("wildcard", ["*.agent-sandbox.internal", "*.internal"])
def test_wildcards_never_open_the_host_loopback(wildcard: str) -> None:
    allowlist = Allowlist.parse([wildcard])
    assert not allowlist.resolvable(NAME).allowed
    assert not allowlist.check_name(NAME, 5432).allowed
    # control: the wildcard does match its other names
    assert allowlist.check_name("other.agent-sandbox.internal", 5432).allowed


def test_the_suggestion_for_the_name_always_carries_a_port() -> None:
    assert suggest(NAME, None) == f"--allow {NAME}:PORT"
    assert suggest(NAME, 5432) == f"--allow {NAME}:5432"
    parse_rule(suggest(NAME, 5432).split()[1])  # a suggestion that is accepted


@pytest.mark.parametrize("deny", ["*.internal", NAME, f"{NAME}:5432"])
def test_deny_rules_wildcards_included_still_close_the_name(deny: str) -> None:
    allowlist = Allowlist.parse([f"{NAME}:5432"], deny=[deny])
    assert not allowlist.check_name(NAME, 5432).allowed
    # control: without the deny rule the same allowlist opens it
    assert Allowlist.parse([f"{NAME}:5432"]).check_name(NAME, 5432).allowed


def test_a_deny_rule_for_the_loopback_wins() -> None:
    allowlist = Allowlist.parse([f"{NAME}:5432"], deny=["127.0.0.0/8", "::1"])
    assert not allowlist.check_address(ipaddress.ip_address("127.0.0.1"), 5432, name=NAME).allowed


# -- real sandboxes ----------------------------------------------------------------------
@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_any_tcp_client_reaches_the_allowed_host_port_transparently(
    filtered: Filtered, db_port: int, recorder: Recorder
) -> None:
    command = [*py(_PROBE), NAME, str(db_port), str(recorder.port)]
    result = filtered(command, allow=[f"{NAME}:{db_port}"], proxy_env=False)
    assert f"{db_port} got db-ready" in result.stdout, result.describe()
    # the other port on the host's loopback: refused, and nothing reached it
    assert f"{recorder.port} error" in result.stdout, result.describe()
    assert recorder.connections == 0
    denied = [e for e in result.net("deny") if e["port"] == recorder.port]
    assert denied, result.describe()
    assert denied[0]["host"] == NAME, result.describe()


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_control_the_other_port_is_reachable_once_allowed(
    filtered: Filtered, recorder: Recorder
) -> None:
    command = [*py(_PROBE), NAME, str(recorder.port)]
    result = filtered(command, allow=[f"{NAME}:{recorder.port}"], proxy_env=False)
    assert recorder.connections == 1, result.describe()
    assert b"ping\n" in b"".join(recorder.received)


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_the_sandbox_loopback_is_not_the_host_loopback(filtered: Filtered, db_port: int) -> None:
    """127.0.0.1 and localhost inside stay the sandbox's own, even with the name allowed."""
    command = [*py(_PROBE), "127.0.0.1", str(db_port)]
    result = filtered(command, allow=[f"{NAME}:{db_port}"], proxy_env=False)
    assert f"{db_port} error ConnectionRefusedError" in result.stdout, result.describe()


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_wildcard_rules_do_not_reach_the_host_loopback(filtered: Filtered, db_port: int) -> None:
    command = [*py(_PROBE), NAME, str(db_port)]
    result = filtered(command, allow=["*.agent-sandbox.internal", "*.internal"], proxy_env=False)
    assert f"{db_port} error" in result.stdout, result.describe()
    assert "db-ready" not in result.stdout


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_a_server_on_the_host_ipv6_loopback_is_reached(filtered: Filtered, db6_port: int) -> None:
    command = [*py(_PROBE), NAME, str(db6_port)]
    result = filtered(command, allow=[f"{NAME}:{db6_port}"], proxy_env=False)
    assert f"{db6_port} got db-ready" in result.stdout, result.describe()


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_http_clients_reach_it_through_the_explicit_proxy_too(
    filtered: Filtered, http_port: int
) -> None:
    url = f"http://{NAME}:{http_port}/dev-server"
    result = filtered(["curl", "-sS", "-m", "10", url], allow=[f"{NAME}:{http_port}"])
    assert result.returncode == 0, result.describe()
    assert "path=/dev-server" in result.stdout, result.describe()


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_cli_allow_host_loopback_and_localhost_hint(cli: Cli, db_port: int) -> None:
    result = cli("run", "--allow", f"{NAME}:{db_port}", "--", *py(_PROBE), NAME, str(db_port))
    assert result.returncode == 0, result.describe()
    assert f"{db_port} got db-ready" in result.stdout, result.describe()
    hinted = cli("run", "--allow", f"localhost:{db_port}", "--", "true")
    assert hinted.returncode == 125, hinted.describe()
    assert f"allow {NAME}:{db_port}" in hinted.stderr, hinted.describe()
    assert hinted.stderr.count("error:") == 1, hinted.describe()

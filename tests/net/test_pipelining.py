"""Issue 9, finding 4: a request pipelined after the checked one must not reach the upstream.

The upstream is lenient (``lenient`` in conftest: it ignores ``Connection: close`` and
serves every request on the connection). Each path sends a good request for ``web.test``
and, on the same connection, a second one with ``Host: evil.example``. The controls send
the same bytes straight to the same upstream: it does serve the second request, so only the
proxy stands between the sandbox and the smuggled Host.
"""

from __future__ import annotations

import socket

import pytest

from .conftest import Filtered, LenientServer, py

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

WEB = ("web.test", "127.0.0.1")
SECOND = b"GET /second HTTP/1.1\r\nHost: evil.example\r\n\r\n"

_CLIENT = r"""
import socket, sys
path, port = sys.argv[1], int(sys.argv[2])
first = f"GET /first HTTP/1.1\r\nHost: web.test:{port}\r\n".encode()
second = b"GET /second HTTP/1.1\r\nHost: evil.example\r\n\r\n"
if path == "transparent":
    s = socket.create_connection(("web.test", port), timeout=10)
    payload = first + b"\r\n" + second
elif path == "upgrade":
    s = socket.create_connection(("web.test", port), timeout=10)
    payload = first + b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + second
elif path == "absolute":
    s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
    payload = f"GET http://web.test:{port}/first HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n"
    payload = payload.encode() + second
else:
    s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
    s.sendall(f"CONNECT web.test:{port} HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += s.recv(1)
    payload = first + b"\r\n" + second
s.sendall(payload)
s.settimeout(2)
out = b""
try:
    while b"path=/second" not in out and (chunk := s.recv(65536)):
        out += chunk
except OSError:
    pass
print(out.decode(errors="replace"))
"""


@pytest.mark.parametrize("path", ["transparent", "absolute", "connect", "upgrade"])
def test_a_pipelined_request_is_not_forwarded(
    filtered: Filtered, lenient: LenientServer, path: str
) -> None:
    port = lenient.server_address[1]
    result = filtered(
        [*py(_CLIENT), path, str(port)],
        allow=["web.test"],
        add_hosts=[WEB],
        proxy_env=False,
    )
    assert "path=/first" in result.stdout, result.describe()
    assert "evil.example" not in lenient.hosts(), lenient.seen
    assert [p for _, p, _, _ in lenient.seen] == ["/first"]
    assert any("second request" in e.get("reason", "") for e in result.net("deny"))


@pytest.mark.parametrize("upgrade", [False, True])
def test_control_the_lenient_upstream_serves_a_pipelined_request(
    lenient: LenientServer, upgrade: bool
) -> None:
    """Control: without the proxy, the same bytes do reach the upstream as two requests."""
    port = lenient.server_address[1]
    extra = b"Upgrade: websocket\r\nConnection: Upgrade\r\n" if upgrade else b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: web.test\r\n" + extra + b"\r\n" + SECOND)
        out = b""
        while b"path=/second" not in out:
            out += sock.recv(65536)
    assert "evil.example" in lenient.hosts()


_WEBSOCKET = r"""
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("web.test", port), timeout=10)
s.sendall(f"GET /ws HTTP/1.1\r\nHost: web.test:{port}\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
print(head.split(b"\r\n")[0].decode())
s.sendall(b"ping after the upgrade")
print(s.recv(100).decode())
"""


def test_an_accepted_upgrade_is_relayed_both_ways(
    filtered: Filtered, lenient: LenientServer
) -> None:
    """The exception: after a 101 the connection is no longer HTTP, both ways are relayed."""
    port = lenient.server_address[1]
    result = filtered(
        [*py(_WEBSOCKET), str(port)], allow=["web.test"], add_hosts=[WEB], proxy_env=False
    )
    assert "101" in result.stdout, result.describe()
    assert "echo:ping after the upgrade" in result.stdout, result.describe()


_BODIES = r"""
import socket, sys
port = int(sys.argv[1])
for body, framing in [
    (b"hello", b"Content-Length: 5\r\n"),
    (b"5\r\nhello\r\n0\r\n\r\n", b"Transfer-Encoding: chunked\r\n"),
]:
    s = socket.create_connection(("web.test", port), timeout=10)
    s.sendall(f"POST /upload HTTP/1.1\r\nHost: web.test:{port}\r\n".encode() + framing
              + b"\r\n" + body + b"GET /second HTTP/1.1\r\nHost: evil.example\r\n\r\n")
    s.settimeout(2)
    out = b""
    try:
        while b"\n" not in out.partition(b"\r\n\r\n")[2]:
            out += s.recv(65536)
    except OSError:
        pass
    print(out.decode(errors="replace"))
"""


def test_a_request_body_is_forwarded_and_nothing_after_it(
    filtered: Filtered, lenient: LenientServer
) -> None:
    """The end of the body (Content-Length or chunked) is where forwarding stops."""
    port = lenient.server_address[1]
    result = filtered(
        [*py(_BODIES), str(port)], allow=["web.test"], add_hosts=[WEB], proxy_env=False
    )
    assert result.stdout.count("path=/upload") == 2, result.describe()
    assert [(m, p) for m, p, _, _ in lenient.seen] == [("POST", "/upload")] * 2
    assert lenient.seen[0][3] == b"hello"
    assert "evil.example" not in lenient.hosts()


_BARE_LF = r"""
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("web.test", port), timeout=10)
s.sendall(f"GET /a HTTP/1.1\r\nHost: web.test:{port}\r\nX-A: a\nContent-Length: 0\n\n"
          "GET /a2 HTTP/1.1\nHost: evil.example\r\n\r\n".encode())
try:
    print("reply", s.recv(100))
except OSError as exc:
    print("refused", type(exc).__name__)
"""


def test_a_bare_lf_head_is_refused_on_the_transparent_path(
    filtered: Filtered, lenient: LenientServer
) -> None:
    port = lenient.server_address[1]
    result = filtered(
        [*py(_BARE_LF), str(port)], allow=["web.test"], add_hosts=[WEB], proxy_env=False
    )
    assert lenient.seen == [], lenient.seen
    assert any("HTTP:" in e.get("reason", "") for e in result.net("deny")), result.describe()

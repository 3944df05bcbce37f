"""Denials said where the agent looks: 403 bodies (explicit proxy, CONNECT, transparent HTTP)
and a TLS ``access_denied`` alert (transparent TLS, SNI mismatch), in real sandboxes.

Each denial is paired with its control: the same client, allowed, gets through.
"""

from __future__ import annotations

import pytest

from bwsandbox.net._gate import Denied
from bwsandbox.net._proxy import TLS_ACCESS_DENIED, deny_text

from .conftest import Filtered, py

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

WEB = ("web.test", "127.0.0.1")

#: a raw HTTP request, to the proxy (CONNECT or absolute URI) or straight to a host
_RAW = """
import os, socket, sys, urllib.parse
host, port, request = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if host == "proxy":
    proxy = urllib.parse.urlsplit(os.environ["http_proxy"])
    host, port = proxy.hostname, proxy.port
s = socket.create_connection((host, port), timeout=10)
s.sendall(request.encode().decode("unicode_escape").encode("latin-1"))
data = b""
try:
    while chunk := s.recv(65536):
        data += chunk
except OSError as exc:
    print("error", type(exc).__name__)
print(data.decode(errors="replace"))
"""

_TLS = """
import socket, ssl, sys
host, port, sni = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
try:
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=sni) as tls:
            print("handshake ok", tls.recv(100).decode().strip())
except ssl.SSLError as exc:
    print("ssl error", exc.reason)
except OSError as exc:
    print("os error", type(exc).__name__)
"""


def test_deny_text_names_host_reason_and_fix() -> None:
    text = deny_text(Denied("evil.test", 443, "name not allowed"))
    assert "evil.test:443" in text
    assert "name not allowed" in text
    assert "--allow evil.test:443" in text
    assert "agent-sandbox allow evil.test:443" in text  # the running session, too
    private = deny_text(Denied("web.test", 443, "resolves to 10.0.0.1: private", "web.test"))
    assert "deny rule" not in private
    assert "The name is allowed (rule 'web.test') but not that address" in private
    ruled = deny_text(Denied("evil.test", 443, "denied name", "*.test"))
    assert "'*.test'" in ruled
    assert "To allow it" not in ruled  # a deny rule is not --allow-able
    assert "neither agent-sandbox allow nor --allow overrides" in ruled
    smuggled = deny_text(Denied("web.test", 443, "TLS SNI mismatch", smuggling=True))
    assert "--allow" not in smuggled


def test_connect_denied_gets_403_with_reason_and_fix(filtered: Filtered, tls_port: int) -> None:
    request = "CONNECT evil.test:443 HTTP/1.1\\r\\nHost: evil.test:443\\r\\n\\r\\n"
    result = filtered([*py(_RAW), "proxy", "0", request], allow=["web.test"], add_hosts=[WEB])
    assert result.stdout.startswith("HTTP/1.1 403 Forbidden"), result.describe()
    assert "blocked evil.test:443: name not allowed" in result.stdout
    assert "--allow evil.test:443" in result.stdout
    # control: the same CONNECT to an allowed name is established
    allowed = f"CONNECT web.test:{tls_port} HTTP/1.1\\r\\n\\r\\n"
    control = filtered([*py(_RAW), "proxy", "0", allowed], allow=["web.test"], add_hosts=[WEB])
    assert control.stdout.startswith("HTTP/1.1 200"), control.describe()


def test_curl_through_the_proxy_sees_the_403(filtered: Filtered) -> None:
    result = filtered(
        ["curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", "https://evil.test/"],
        allow=["web.test"],
        add_hosts=[WEB],
    )
    assert "CONNECT tunnel failed, response 403" in result.stderr, result.describe()


def test_transparent_http_denied_gets_403_body(filtered: Filtered, http_port: int) -> None:
    request = "GET /x HTTP/1.1\\r\\nHost: web.test\\r\\nConnection: close\\r\\n\\r\\n"
    command = [*py(_RAW), "web.test", str(http_port), request]
    result = filtered(command, add_hosts=[WEB], proxy_env=False)
    assert result.stdout.startswith("HTTP/1.1 403 Forbidden"), result.describe()
    assert f"blocked web.test:{http_port}: name not allowed" in result.stdout
    assert f"--allow web.test:{http_port}" in result.stdout
    assert "hello" not in result.stdout
    assert result.denied("web.test", http_port)
    # control: allowed, the same request reaches the server
    control = filtered(command, allow=["web.test"], add_hosts=[WEB], proxy_env=False)
    assert "hello host=web.test path=/x" in control.stdout, control.describe()


def test_transparent_curl_shows_the_body(filtered: Filtered, http_port: int) -> None:
    url = f"http://web.test:{http_port}/"
    result = filtered(["curl", "-sS", "-m", "10", url], add_hosts=[WEB], proxy_env=False)
    assert "blocked web.test" in result.stdout, result.describe()
    assert "--allow web.test" in result.stdout


def test_direct_ip_http_denied_names_the_address(filtered: Filtered, http_port: int) -> None:
    request = "GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n"
    result = filtered([*py(_RAW), "10.9.9.9", "80", request], proxy_env=False)
    assert result.stdout.startswith("HTTP/1.1 403"), result.describe()
    assert "blocked 10.9.9.9:80" in result.stdout


def test_transparent_tls_denied_gets_an_access_denied_alert(
    filtered: Filtered, tls_port: int
) -> None:
    command = [*py(_TLS), "web.test", str(tls_port), "web.test"]
    result = filtered(command, add_hosts=[WEB], proxy_env=False)
    assert "ssl error TLSV1_ALERT_ACCESS_DENIED" in result.stdout, result.describe()
    assert result.denied("web.test", tls_port)
    control = filtered(command, allow=["web.test"], add_hosts=[WEB], proxy_env=False)
    assert "handshake ok sni=web.test" in control.stdout, control.describe()


def test_curl_tls_denied_reports_the_alert(filtered: Filtered, tls_port: int) -> None:
    url = f"https://web.test:{tls_port}/"
    result = filtered(["curl", "-sS", "-k", "-m", "10", url], add_hosts=[WEB], proxy_env=False)
    assert result.returncode != 0
    assert "alert access denied" in result.stderr, result.describe()


def test_sni_mismatch_gets_an_alert_not_a_silent_close(filtered: Filtered, tls_port: int) -> None:
    command = [*py(_TLS), "web.test", str(tls_port), "evil.test"]
    result = filtered(command, allow=["web.test"], add_hosts=[WEB], proxy_env=False)
    assert "ssl error TLSV1_ALERT_ACCESS_DENIED" in result.stdout, result.describe()
    assert any("SNI" in e.get("reason", "") for e in result.net("deny"))
    # control: the matching SNI completes
    control = filtered(
        [*py(_TLS), "web.test", str(tls_port), "web.test"],
        allow=["web.test"],
        add_hosts=[WEB],
        proxy_env=False,
    )
    assert "handshake ok sni=web.test" in control.stdout, control.describe()


def test_other_protocols_are_reset(filtered: Filtered) -> None:
    request = "\\x00\\x01binary\\r\\n\\r\\n"
    result = filtered([*py(_RAW), "10.9.9.9", "22", request], proxy_env=False)
    assert "HTTP/1.1" not in result.stdout, result.describe()
    assert result.denied("10.9.9.9", 22)


def test_alert_bytes_are_a_fatal_access_denied_alert() -> None:
    content_type, major, minor, length, level, description = (
        TLS_ACCESS_DENIED[0],
        TLS_ACCESS_DENIED[1],
        TLS_ACCESS_DENIED[2],
        int.from_bytes(TLS_ACCESS_DENIED[3:5], "big"),
        TLS_ACCESS_DENIED[5],
        TLS_ACCESS_DENIED[6],
    )
    assert (content_type, major, minor, length, level, description) == (21, 3, 3, 2, 2, 49)


def test_a_denied_post_with_a_body_still_reads_the_403(filtered: Filtered) -> None:
    """Unread input at close would reset the connection and could drop the answer."""
    body = "x" * 100_000
    request = (
        "POST http://evil.test/upload HTTP/1.1\\r\\nHost: evil.test\\r\\n"
        f"Content-Length: {len(body)}\\r\\n\\r\\n{body}"
    )
    result = filtered([*py(_RAW), "proxy", "0", request], allow=["web.test"], add_hosts=[WEB])
    assert result.stdout.startswith("HTTP/1.1 403 Forbidden"), result.describe()
    assert "blocked evil.test:80: name not allowed" in result.stdout

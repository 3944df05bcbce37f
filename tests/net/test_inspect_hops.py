"""The inspecting proxy as an HTTP intermediary (RFC 9110 7.6.1, RFC 9112): hop-by-hop fields,
named by ``Connection`` or fixed, are not forwarded in either direction; an HTTP/1.0 client
gets HTTP/1.0 semantics (its request goes upstream as HTTP/1.0, so the server does not chunk;
the connection closes after the answer), and a chunked HTTP/1.0 request is refused (400).

A raw socket client speaks TLS to the proxy inside a real sandbox (trusting the session CA
through the sandbox's CA bundle). Controls: the same field, not named by ``Connection``, is
forwarded; an HTTP/1.1 request to the same path gets the chunked answer.
"""

from __future__ import annotations

import http.server
import json
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwsandbox.net._http1 import connection_options
from bwsandbox.net._tls_stream import HOP_BY_HOP, forward_response

from ._https import Running, https_server, make_certificate
from .conftest import Filtered
from .test_inspect import WEB, _policy, _run

_FIELD = st.from_regex(r"X-[A-Za-z]{1,8}", fullmatch=True)


@given(st.lists(_FIELD, min_size=1, max_size=5, unique_by=str.lower), st.booleans())
def test_fields_named_by_connection_are_dropped_framing_stays(
    named: list[str], close: bool
) -> None:
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Connection: {', '.join(named)}, content-length, Keep-Alive\r\n"
        + "".join(f"{name}: v\r\n" for name in named)
        + "Keep-Alive: timeout=5\r\nX-Other: kept\r\nContent-Length: 2\r\n\r\n"
    ).encode()
    out = forward_response(head, close=close).decode()
    names = [line.split(":")[0].lower() for line in out.split("\r\n")[1:] if line]
    assert not {n.lower() for n in named} & set(names)
    assert "keep-alive" not in names
    assert "x-other" in names
    assert "content-length" in names  # framing is never dropped
    assert names.count("connection") == (1 if close else 0)
    assert out.startswith("HTTP/1.1 200 OK\r\n")
    assert out.endswith("\r\n\r\n")
    assert connection_options(["close, X-A", " x-b ,,Transfer-Encoding"]) == {"close", "x-a", "x-b"}
    assert "upgrade" in HOP_BY_HOP


# -- real sandbox ------------------------------------------------------------------------------
class HopHandler(http.server.BaseHTTPRequestHandler):
    """Echoes the request's version and field names as JSON. ``/hop``: answers with a field
    named by ``Connection``; ``/plain``: the same field, not named; ``/chunked``: a chunked
    body when the request is HTTP/1.1 (as RFC 9112 allows), Content-Length otherwise."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        seen = {
            "version": self.request_version,
            "fields": sorted(name.lower() for name in self.headers),
        }
        body = json.dumps(seen).encode()
        self.send_response(200)
        if self.path == "/hop":
            self.send_header("Connection", "X-Hop, keep-alive")
            self.send_header("Keep-Alive", "timeout=5")
        if self.path in ("/hop", "/plain"):
            self.send_header("X-Hop", "hop-value")
            self.send_header("X-End", "end-value")
        if self.path == "/chunked" and self.request_version == "HTTP/1.1":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


#: raw requests over TLS: prints each response's head and body as JSON lines
_CLIENT = r"""
import json, socket, ssl, sys
port = int(sys.argv[1])
context = ssl.create_default_context()  # trusts the session CA (SSL_CERT_FILE)

def exchange(tls, request, read_all=False):
    tls.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        more = tls.recv(65536)
        if not more:
            break
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode().partition(":")
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    if "content-length" in fields:
        while len(body) < int(fields["content-length"][0]):
            body += tls.recv(65536)
    elif "transfer-encoding" in fields:
        while not body.endswith(b"0\r\n\r\n"):
            body += tls.recv(65536)
    if read_all:
        while more := tls.recv(65536):
            body += more
    print(json.dumps({"status": head.split(b"\r\n")[0].decode(), "fields": fields,
                      "body": body.decode(errors="replace")}), flush=True)

def connect():
    raw = socket.create_connection(("web.test", port), timeout=20)
    return context.wrap_socket(raw, server_hostname="web.test")

host = f"Host: web.test:{port}\r\n"
with connect() as tls:  # HTTP/1.1, kept alive: three requests on one connection
    exchange(tls, "GET /hop HTTP/1.1\r\n" + host + "Connection: keep-alive, X-Secret-Hop\r\n"
             "X-Secret-Hop: 1\r\nKeep-Alive: 300\r\nX-Plain: 1\r\n\r\n")
    exchange(tls, "GET /plain HTTP/1.1\r\n" + host + "X-Secret-Hop: 1\r\n\r\n")
    exchange(tls, "GET /chunked HTTP/1.1\r\n" + host + "\r\n")
with connect() as tls:  # HTTP/1.0
    exchange(tls, "GET /chunked HTTP/1.0\r\n" + host + "\r\n", read_all=True)
with connect() as tls:  # HTTP/1.0 with a chunked body: faulty framing
    exchange(tls, "POST /x HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n"
             "1\r\na\r\n0\r\n\r\n", read_all=True)
print("CLIENT-DONE")
"""


@pytest.fixture
def hops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    key, cert = make_certificate(tmp_path_factory.mktemp("certs"), WEB)
    with https_server(key, cert, HopHandler) as running:
        yield running


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_hop_by_hop_fields_and_http10_over_inspected_tls(tmp_path: Path, hops: Running) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "client.py").write_text(_CLIENT)
    policy = _policy([f"GET,POST {WEB}:{hops.port}/*"], [WEB], hops.cert)
    code, out, audit = _run(policy, project, f"python3 {project}/client.py {hops.port}")
    assert "CLIENT-DONE" in out, out
    replies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    hop, plain, chunked, old, faulty = replies
    # request: X-Secret-Hop named by Connection is not forwarded, nor Keep-Alive; X-Plain is
    sent = json.loads(hop["body"])
    assert "x-secret-hop" not in sent["fields"], sent
    assert "keep-alive" not in sent["fields"]
    assert "connection" not in sent["fields"]
    assert "x-plain" in sent["fields"]
    # control: the same field, not named by Connection, is forwarded
    assert "x-secret-hop" in json.loads(plain["body"])["fields"]
    # response: X-Hop named by the server's Connection is dropped, Keep-Alive too
    assert "x-hop" not in hop["fields"], hop
    assert "keep-alive" not in hop["fields"]
    assert "connection" not in hop["fields"]  # the connection goes on
    assert hop["fields"]["x-end"] == ["end-value"]
    # control: not named, it passes
    assert plain["fields"]["x-hop"] == ["hop-value"]
    # HTTP/1.1 to /chunked: chunked, on the same kept-alive connection
    assert chunked["fields"]["transfer-encoding"] == ["chunked"], chunked
    assert json.loads(chunked["body"].split("\r\n")[1])["version"] == "HTTP/1.1"
    # HTTP/1.0: forwarded as HTTP/1.0, answered without chunking, then closed
    assert old["status"].endswith("200 OK"), old
    assert "transfer-encoding" not in old["fields"], old
    assert old["fields"]["connection"] == ["close"]
    assert json.loads(old["body"])["version"] == "HTTP/1.0"
    # a chunked HTTP/1.0 request is refused, and never reaches the server
    assert faulty["status"].endswith("400 Bad Request"), faulty
    assert "an HTTP/1.0 request cannot be chunked" in faulty["body"]
    paths = [e["path"] for e in audit.events if e["event"] == "request"]
    assert paths == ["/hop", "/plain", "/chunked", "/chunked"], paths
    assert code == 0


# -- the plain relay (a name allowed by a plain rule, plain HTTP) -------------------------------
@pytest.fixture
def plain_hops() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HopHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
@pytest.mark.parametrize("proxy_env", [False, True], ids=["transparent", "explicit"])
def test_the_plain_relay_drops_fields_named_by_connection(
    filtered: Filtered, plain_hops: int, proxy_env: bool
) -> None:
    url = f"http://{WEB}:{plain_hops}/plain"
    curl = ["curl", "-sS", "-m", "20", "-H", "X-Secret-Hop: 1", "-H", "X-Plain: 1"]
    script = (
        f"{shlex.join([*curl, '-H', 'Connection: X-Secret-Hop', url])}; echo; "
        f"{shlex.join([*curl, url])}"  # the control: not named by Connection
    )
    result = filtered(
        ["sh", "-c", script],
        allow=[f"{WEB}:{plain_hops}"],
        add_hosts=[(WEB, "127.0.0.1")],
        proxy_env=proxy_env,
    )
    named, control = (json.loads(line) for line in result.stdout.splitlines() if line)
    assert "x-secret-hop" not in named["fields"], result.describe()
    assert "x-plain" in named["fields"]
    assert "x-secret-hop" in control["fields"], result.describe()

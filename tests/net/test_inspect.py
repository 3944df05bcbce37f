"""HTTPS inspection end to end: real bwrap sandboxes (the full runtime: compile, CA bundle,
proxy) against loopback HTTPS servers whose test CA the proxy trusts through
``network.upstream_ca_file``.

- git smart HTTP (``git http-backend``): clone and fetch pass under rules that allow only
  upload-pack; push is refused with a message git prints. Controls: the same push works
  under a plain rule and under an inspecting rule that allows receive-pack.
- every request of a kept-alive connection is checked; chunked bodies are forwarded whole;
- a host allowed by a plain rule is tunnelled untouched (the sandbox sees the server's own
  certificate), an inspected one is not (the session CA's);
- the CA key is nowhere inside (the scan does find the CA certificate: the control);
- an upstream whose certificate the proxy does not trust is refused (502 naming why).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bwsandbox._audit import MemoryAudit
from bwsandbox._events import problems
from bwsandbox.net import _tls_ca
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox

from ._https import (
    EchoHandler,
    GitHandler,
    Running,
    bare_repository,
    https_server,
    make_certificate,
)

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

GIT = "git.test"
WEB = "web.test"
PLAIN = "plain.test"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    directory = tmp_path_factory.mktemp("certs")
    return {name: make_certificate(directory, name) for name in (GIT, WEB, PLAIN)}


@pytest.fixture
def git_server(
    tmp_path: Path, certs: dict[str, tuple[Path, Path]]
) -> Iterator[tuple[Running, Path]]:
    bare = bare_repository(tmp_path / "served")
    with https_server(*certs[GIT], GitHandler, git_root=bare.parent) as running:
        yield running, bare


@pytest.fixture
def web(certs: dict[str, tuple[Path, Path]]) -> Iterator[Running]:
    with https_server(*certs[WEB], EchoHandler) as running:
        yield running


def _policy(allow: list[str], names: list[str], ca_file: Path | None, **extra: Any) -> Any:
    network: dict[str, Any] = {
        "mode": "filtered",
        "allow": allow,
        "add_hosts": dict.fromkeys(names, "127.0.0.1"),
        **extra,
    }
    if ca_file is not None:
        network["upstream_ca_file"] = str(ca_file)
    return load_policy(("base",), overlays=(("test", {"network": network}),))


def _run(policy: Any, project: Path, script: str) -> tuple[int, str, MemoryAudit]:
    audit = MemoryAudit()
    with Sandbox(
        policy,
        project=project,
        command=["sh", "-c", script],
        audit=audit,
        capture_output=True,
    ) as box:
        code = box.wait(timeout=90)
    out = (box.stdout_data or b"") + (box.stderr_data or b"")
    for event in audit.events:
        assert not problems(event), event
    return code, out.decode(errors="replace"), audit


def _requests(audit: MemoryAudit) -> list[dict[str, Any]]:
    return [e for e in audit.events if e["event"] == "request"]


def _git_script(port: int) -> str:
    url = f"https://{GIT}:{port}/repo.git"
    return f"""
cd /tmp
git clone -q {url} clone && echo CLONED
cd clone
git fetch -q origin && echo FETCHED
echo change > change.txt
git add change.txt
git -c user.name=a -c user.email=a@example.com commit -qm change
if git push -q origin HEAD:main; then echo PUSHED; else echo PUSH-FAILED; fi
"""


def _server_log(bare: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(bare), "log", "--format=%s", "main"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_git_clone_and_fetch_pass_push_is_refused_with_a_message(
    tmp_path: Path, git_server: tuple[Running, Path]
) -> None:
    server, bare = git_server
    port = server.port
    allow = [
        f"GET {GIT}:{port}/repo.git/info/refs?service=git-upload-pack",
        f"POST {GIT}:{port}/repo.git/git-upload-pack",
    ]
    project = tmp_path / "project"
    project.mkdir()
    code, out, audit = _run(_policy(allow, [GIT], server.cert), project, _git_script(port))
    assert "CLONED" in out, out
    assert "FETCHED" in out, out
    assert "PUSH-FAILED" in out, out
    assert "PUSHED" not in out, out
    # what git prints: the proxy's 403 body, as "remote:" lines
    assert f"bwsandbox: refused GET {GIT}:{port}/repo.git/info/refs?service=git-receive-pack" in out
    assert "To allow it in this running session: agent-sandbox allow --session " in out, out
    assert "To allow it next time: start the sandbox with --allow 'GET " in out, out
    assert "change" not in _server_log(bare)
    assert not any(path.endswith("git-receive-pack") for _, path, _ in server.seen.requests)
    requests = _requests(audit)
    allowed = {(e["method"], e["path"]) for e in requests if e["decision"] == "allow"}
    assert ("POST", "/repo.git/git-upload-pack") in allowed
    refused = [e for e in requests if e["decision"] == "deny"]
    assert refused
    assert refused[0]["path"] == "/repo.git/info/refs"
    assert all(e.get("status") for e in requests)
    assert code == 0


@pytest.mark.parametrize("rule", ["plain", "inspecting"])
def test_control_push_works_without_the_restriction(
    tmp_path: Path, git_server: tuple[Running, Path], rule: str
) -> None:
    """The control: the same push passes under a plain rule (tunnelled) and under an
    inspecting rule that allows it (inspected: every request checked and logged)."""
    server, bare = git_server
    port = server.port
    allow = [f"{GIT}:{port}" if rule == "plain" else f"GET,POST {GIT}:{port}/repo.git/*"]
    project = tmp_path / "project"
    project.mkdir()
    policy = _policy(allow, [GIT], server.cert)
    script = _git_script(port)
    if rule == "plain":  # no CA bundle without inspecting rules: git trusts the test CA
        (project / "ca.pem").write_bytes(server.cert.read_bytes())
        script = f"export GIT_SSL_CAINFO={project / 'ca.pem'}\n" + script
    code, out, audit = _run(policy, project, script)
    assert "PUSHED" in out, out
    assert "change" in _server_log(bare)
    requests = _requests(audit)
    if rule == "plain":
        assert not requests
    else:
        seen = {(e["method"], e["path"]) for e in requests}
        assert ("POST", "/repo.git/git-receive-pack") in seen
    assert code == 0


_KEEPALIVE = r"""
import http.client, os, sys
port = int(sys.argv[1])
conn = http.client.HTTPSConnection("web.test", port, timeout=20)
for method, path, body, chunked in [
    ("GET", "/ok/one", None, False),
    ("POST", "/ok/chunked", (b"x" * 1000 for _ in range(70)), True),
    ("GET", "/ok/two?q=1", None, False),
    ("GET", "/secret/three", None, False),
]:
    headers = {"Transfer-Encoding": "chunked"} if chunked else {}
    conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
    response = conn.getresponse()
    print("STATUS", path, response.status, response.read().decode().splitlines()[0])
    if response.status != 200:
        break
"""


def test_every_request_on_a_kept_alive_connection_is_checked(tmp_path: Path, web: Running) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "ka.py").write_text(_KEEPALIVE)
    policy = _policy([f"GET,POST {WEB}:{web.port}/ok/*"], [WEB], web.cert)
    # no proxy variables: transparent capture of a client that ignores them
    script = f"env -u HTTPS_PROXY -u https_proxy python3 ka.py {web.port}"
    code, out, audit = _run(policy, project, script)
    assert "STATUS /ok/one 200 GET /ok/one 0" in out, out
    assert "STATUS /ok/chunked 200 POST /ok/chunked 70000" in out, out
    assert "STATUS /ok/two?q=1 200" in out, out
    assert f"STATUS /secret/three 403 bwsandbox: refused GET {WEB}:{web.port}/secret/three" in out
    assert web.seen.connections == 1  # one client connection, one upstream connection
    assert [p for _, p, _ in web.seen.requests] == ["/ok/one", "/ok/chunked", "/ok/two?q=1"]
    assert web.seen.requests[1][2] == b"x" * 70000
    assert code == 0
    (connection,) = [e for e in audit.events if e["event"] == "net" and e.get("inspected")]
    assert connection["inspected"] == 4


def test_method_is_checked_and_the_summary_suggests_the_rule(tmp_path: Path, web: Running) -> None:
    project = tmp_path / "project"
    project.mkdir()
    policy = _policy([f"GET {WEB}:{web.port}"], [WEB], web.cert)
    script = (
        f"curl -sS https://{WEB}:{web.port}/a; curl -sS -X DELETE https://{WEB}:{web.port}/a; echo"
    )
    audit = MemoryAudit()
    with Sandbox(
        policy, project=project, command=["sh", "-c", script], audit=audit, capture_output=True
    ) as box:
        box.wait(timeout=60)
    out = (box.stdout_data or b"").decode()
    assert "GET /a 0" in out
    assert "method DELETE is not allowed (allowed: GET)" in out
    assert [method for method, _, _ in web.seen.requests] == ["GET"]
    assert any(f"--allow 'DELETE {WEB}:{web.port}/a'" in line for line in box.warnings), (
        box.warnings
    )


_PEER = r"""
import socket, ssl, sys
name, port = sys.argv[1], int(sys.argv[2])
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
context.set_alpn_protocols(["h2", "http/1.1"])
with socket.create_connection((name, port), timeout=10) as raw:
    with context.wrap_socket(raw, server_hostname=name) as tls:
        der = tls.getpeercert(binary_form=True)
        print("ALPN", name, tls.selected_alpn_protocol())
print("PEER", name, ssl.DER_cert_to_PEM_cert(der).replace("\n", "|"))
"""


def test_a_plainly_allowed_host_is_tunnelled_untouched(
    tmp_path: Path, web: Running, certs: dict[str, tuple[Path, Path]]
) -> None:
    with https_server(*certs[PLAIN], EchoHandler) as plain:
        project = tmp_path / "project"
        project.mkdir()
        (project / "peer.py").write_text(_PEER)
        allow = [f"GET {WEB}:{web.port}/*", f"{PLAIN}:{plain.port}"]
        policy = _policy(allow, [WEB, PLAIN], web.cert)
        script = (
            f"python3 peer.py {PLAIN} {plain.port} && python3 peer.py {WEB} {web.port} && "
            f"curl -sS https://{PLAIN}:{plain.port}/x; echo CURL=$?"
        )
        code, out, _ = _run(policy, project, script)
    assert code == 0, out
    plain_pem = certs[PLAIN][1].read_text().strip().replace("\n", "|")
    lines = {line.split(" ", 2)[1]: line for line in out.splitlines() if line.startswith("PEER")}
    assert plain_pem in lines[PLAIN]  # the server's own certificate: no interception
    web_pem = certs[WEB][1].read_text().strip().replace("\n", "|")
    assert web_pem not in lines[WEB]  # the session CA's leaf instead
    assert f"ALPN {WEB} http/1.1" in out  # inspection offers HTTP/1.1 only (h2 was asked)
    # curl inside sees plain.test's own self-signed certificate (no session CA leaf it would
    # trust): the host was not terminated
    assert "self-signed certificate" in out, out
    assert "CURL=60" in out


_SCAN = r"""
import os, sys
out = sys.stdout.buffer
out.write(repr(dict(os.environ)).encode())
skip = {"/proc", "/sys", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}
for top in sorted(os.listdir("/")):
    path = "/" + top
    if path in skip:
        continue
    for root, dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                if os.path.isfile(full):
                    with open(full, "rb") as handle:
                        out.write(handle.read(4 << 20))
            except OSError:
                pass
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for part in ("environ", "cmdline", "maps"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as handle:
                    out.write(handle.read())
            except OSError:
                pass
out.write(b"\nSCAN-DONE\n")
"""


def test_the_ca_key_is_never_inside(
    tmp_path: Path, web: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    minted: list[_tls_ca.SessionCA] = []
    original = _tls_ca.SessionCA.__init__

    def record(self: _tls_ca.SessionCA, label: str = "") -> None:
        original(self, label)
        minted.append(self)

    monkeypatch.setattr(_tls_ca.SessionCA, "__init__", record)
    project = tmp_path / "project"
    project.mkdir()
    (project / "scan.py").write_text(_SCAN)
    policy = _policy([f"GET {WEB}:{web.port}/*"], [WEB], web.cert)
    script = f"curl -sS https://{WEB}:{web.port}/hello && python3 scan.py"
    audit = MemoryAudit()
    with Sandbox(
        policy, project=project, command=["sh", "-c", script], audit=audit, capture_output=True
    ) as box:
        code = box.wait(timeout=90)
    out = box.stdout_data or b""
    assert code == 0, out[-2000:]
    assert b"SCAN-DONE" in out
    assert b"GET /hello 0" in out
    (ca,) = minted
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    for key in (ca._key, ca._leaf_key):
        secret = key.private_numbers().private_value.to_bytes(32, "big")
        der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        body = b"".join(pem.splitlines()[1:-1])
        for needle in (secret, secret.hex().encode(), der, body[:40]):
            assert needle not in out
    # the control: the scan reads the CA bundle, so it finds the CA's certificate
    certificate = b"".join(ca.certificate_pem.splitlines()[1:-1])
    assert certificate[:60] in out.replace(b"\n", b"")


def test_an_untrusted_upstream_is_refused(tmp_path: Path, web: Running) -> None:
    """Without network.upstream_ca_file the proxy verifies against the host's store, which
    does not know the test CA: the request gets a 502 naming why, never the server's page."""
    project = tmp_path / "project"
    project.mkdir()
    policy = _policy([f"GET {WEB}:{web.port}/*"], [WEB], None)
    script = f"curl -sS https://{WEB}:{web.port}/hello; echo; echo CURL-DONE"
    code, out, audit = _run(policy, project, script)
    assert "CURL-DONE" in out
    assert "the upstream's TLS certificate was refused" in out, out
    assert "certificate verify failed" in out
    assert "GET /hello" not in out
    assert not web.seen.requests
    failed = [e for e in audit.events if e["event"] == "net" and e.get("error")]
    assert failed, json.dumps(audit.events)[-2000:]
    assert code == 0


def test_sandbox_clients_trust_the_session_ca_without_flags(tmp_path: Path, web: Running) -> None:
    """Python, curl, git and Node (when installed) reach the inspected host with no options."""
    project = tmp_path / "project"
    project.mkdir()
    policy = _policy([f"GET {WEB}:{web.port}/*"], [WEB], web.cert)
    url = f"https://{WEB}:{web.port}/tool"
    node = (
        f'node -e \'fetch("{url}/node").then(r=>r.text()).then(t=>console.log("NODE",t))\';'
        if any(os.access(Path(d, "node"), os.X_OK) for d in ("/usr/bin", "/usr/local/bin"))
        else ""
    )
    script = (
        f'python3 -c \'import urllib.request as u; print("PY", u.urlopen("{url}/py").read())\';'
        f"curl -sS {url}/curl; {node}"
        f"git ls-remote {url}/git.git 2>&1 | head -1; echo DONE"
    )
    code, out, _ = _run(policy, project, script)
    assert "GET /tool/py 0" in out, out
    assert "GET /tool/curl 0" in out, out
    if node:
        assert "NODE GET /tool/node" in out, out
    assert any(p.startswith("/tool/git.git/info/refs") for _, p, _ in web.seen.requests), out
    assert code == 0


def test_a_proxy_secret_is_injected_on_an_inspected_https_host(
    tmp_path: Path, web: Running
) -> None:
    """Proxy delivery for an HTTPS API without the http:// base-URL trick: the sandbox calls
    https://web.test directly with a placeholder; the proxy adds the real key to the
    decrypted request and masks it in the response."""
    import secrets as _secrets

    key = "sk-test-" + _secrets.token_hex(12)
    project = tmp_path / "project"
    project.mkdir()
    overlay = {
        "network": {
            "mode": "filtered",
            "allow": [f"POST {WEB}:{web.port}/v1/*"],
            "add_hosts": {WEB: "127.0.0.1"},
            "upstream_ca_file": str(web.cert),
        },
        "secrets": {
            "api": {
                "source": "env:TEST_INSPECT_KEY",
                "deliver": "proxy",
                "host": WEB,
                "port": web.port,
                "header": "x-api-key",
                "env": "API_KEY",
                "ca_file": str(web.cert),
            }
        },
    }
    policy = load_policy(("base",), overlays=(("test", overlay),))
    url = f"https://{WEB}:{web.port}/v1/messages"
    script = (
        f'curl -sS -X POST -H "x-api-key: $API_KEY" -d hello {url}; '
        f"curl -sS -X POST {url}/two; "
        f'curl -sS -X DELETE {url}; echo; env | grep -c "{key}" || true'
    )
    audit = MemoryAudit()
    with Sandbox(
        policy,
        project=project,
        command=["sh", "-c", script],
        audit=audit,
        environ={**os.environ, "TEST_INSPECT_KEY": key},
        capture_output=True,
    ) as box:
        code = box.wait(timeout=60)
    out = (box.stdout_data or b"").decode() + (box.stderr_data or b"").decode()
    assert code == 0, out
    assert web.seen.keys == [key, key]  # the real key reached the server, twice
    assert key not in out  # masked in the echo: auth=****
    assert f"auth={'*' * len(key)}" in out
    assert "method DELETE is not allowed" in out  # the rules still apply
    injected = [e for e in _requests(audit) if e.get("secrets")]
    assert [e["path"] for e in injected] == ["/v1/messages", "/v1/messages/two"]

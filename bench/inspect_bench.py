"""HTTPS inspection: throughput and added latency, against direct and against srt.

    python bench/inspect_bench.py [--size-mib 256] [--requests 200] [--rounds 3] [--no-srt]

(Not ``bench/inspect.py``: a script's directory comes first on ``sys.path``, and that name
would shadow the standard library's ``inspect`` module.)

A loopback HTTPS server in a process of its own (Python ``ssl``, 1 MiB writes, HTTP/1.0: one
response per connection) with a test certificate for ``web.test`` and ``localhost``. One
client (``CLIENT`` below, Python, the same code in every row: its CA file is loaded once,
so that cost is not counted per connection) fetches a small file over ``--requests`` new
TLS connections one after the other (latency: connect + handshake + request + response,
median and p99) and a large file ``--rounds`` times (throughput: the median). Rows:

- ``direct``: the client on the host;
- ``filter, tunnelled``: the client in a filtered sandbox (the full runtime), the name
  allowed by a plain rule, through ``HTTPS_PROXY`` (``CONNECT``): TLS relayed untouched;
- ``filter, inspected``: the same with ``GET web.test:PORT/*``: the proxy terminates TLS with
  the session CA, checks the request and re-encrypts to the server (one request per
  connection here, so every connection pays both handshakes);
- ``srt, tunnelled`` / ``srt, tlsTerminate``: Anthropic's sandbox-runtime
  (``@anthropic-ai/sandbox-runtime``, npm cache of scripts/install-agents.sh) without and
  with its experimental ``network.tlsTerminate`` (its upstream trusts the test CA through
  ``NODE_EXTRA_CA_CERTS`` given to srt's own Node process). srt resolves names on the host,
  so its rows use ``localhost`` through srt's proxy (its ``HTTPS_PROXY``, with the
  credentials srt puts in it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bwsandbox.net._tls_ca import host_bundle
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox

NAME = "web.test"
SRT_CANDIDATES = (
    "/var/cache/bwsandbox/agents/node_modules/.bin/srt",
    str(Path.home() / ".cache/bwsandbox/agents/node_modules/.bin/srt"),
)


def _certificate(directory: Path) -> tuple[Path, Path]:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={NAME}",
         "-addext", f"subjectAltName=DNS:{NAME},DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVER = r"""
import http.server, ssl, sys
key, cert, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
chunk = b"x" * (1 << 20)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        length = size if self.path == "/big" else 512
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        while length > 0:
            self.wfile.write(chunk[: min(length, len(chunk))])
            length -= len(chunk)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

CLIENT = r"""
import base64, os, socket, ssl, sys, time, urllib.parse
host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[5]
requests, rounds = int(sys.argv[3]), int(sys.argv[4])
connect_to = sys.argv[6] if len(sys.argv) > 6 else host
context = ssl.create_default_context(cafile=cafile or None)
proxy = urllib.parse.urlsplit(os.environ.get("HTTPS_PROXY", "")) if len(sys.argv) <= 6 else None

def connection():
    if proxy and proxy.hostname:
        sock = socket.create_connection((proxy.hostname, proxy.port or 80), timeout=60)
        auth = ""
        if proxy.username:
            user = urllib.parse.unquote(proxy.username)
            user += ":" + urllib.parse.unquote(proxy.password or "")
            token = base64.b64encode(user.encode()).decode()
            auth = "Proxy-Authorization: Basic " + token + "\r\n"
        head = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n"
        sock.sendall(head.encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(4096)
        assert b" 200 " in reply.split(b"\r\n")[0], reply
    else:
        sock = socket.create_connection((connect_to, port), timeout=60)
    return context.wrap_socket(sock, server_hostname=host)

def get(path):
    started = time.perf_counter()
    with connection() as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        total = 0
        while data := tls.recv(1 << 20):
            total += len(data)
    return time.perf_counter() - started, total

print("LAT", *(get("/small")[0] for _ in range(requests)))
speeds = []
for _ in range(rounds):
    seconds, size = get("/big")
    speeds.append(size / seconds)
print("SPEED", *speeds)
"""


def _serve(scratch: Path, key: Path, cert: Path, size: int) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(key), str(cert), str(size)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, cwd=scratch,
    )  # fmt: skip
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def _client(script: Path, host: str, port: int, args: argparse.Namespace, cafile: str) -> list[str]:
    return ["python3", str(script), host, str(port), str(args.requests), str(args.rounds), cafile]


def _parse(output: str) -> tuple[list[float], list[float]]:
    latency: list[float] = []
    speeds: list[float] = []
    for line in output.splitlines():
        if line.startswith("LAT "):
            latency = [float(x) for x in line.split()[1:]]
        elif line.startswith("SPEED "):
            speeds = [float(x) for x in line.split()[1:]]
    return speeds, latency


def _sandbox(project: Path, allow: str, ca: Path, argv: list[str]) -> str:
    network = {"mode": "filtered", "allow": [allow], "add_hosts": {NAME: "127.0.0.1"}}
    network["upstream_ca_file"] = str(ca)
    policy = load_policy(("base",), overlays=(("bench", {"network": network}),))
    with Sandbox(policy, project=project, command=argv, capture_output=True) as box:
        box.wait(timeout=600)
    return (box.stdout_data or b"").decode()


def _srt(srt: str, scratch: Path, port: int, cert: Path, terminate: bool, argv: list[str]) -> str:
    settings: dict[str, object] = {
        "network": {"allowedDomains": ["localhost", f"127.0.0.1:{port}"], "deniedDomains": []},
        "filesystem": {"denyRead": [], "allowWrite": [str(scratch)], "denyWrite": []},
    }
    if terminate:
        settings["network"]["tlsTerminate"] = {"extraCaCertPaths": [str(cert)]}  # type: ignore[index]
    path = scratch / ("srt-tls.json" if terminate else "srt.json")
    path.write_text(json.dumps(settings))
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(cert)}
    result = subprocess.run(
        [srt, "-s", str(path), "-c", shlex.join(argv)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0 and not result.stdout:
        raise RuntimeError(" / ".join(result.stderr.strip().splitlines()[:2]) or "failed")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-srt", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bwsbx-inspect-bench-"))
    scratch.chmod(0o755)
    try:
        _run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(args: argparse.Namespace, scratch: Path) -> None:
    key, cert = _certificate(scratch)
    project = scratch / "project"
    project.mkdir()
    client = project / "client.py"
    client.write_text(CLIENT)
    trust = project / "trust.pem"  # the host's bundle plus the test CA, for every row
    trust.write_bytes(host_bundle() + b"\n" + cert.read_bytes())
    server, port = _serve(scratch, key, cert, args.size_mib << 20)
    results: dict[str, tuple[list[float], list[float]]] = {}
    notes: list[str] = []

    def measure(label: str, output: str) -> None:
        speeds, latency = _parse(output)
        if not speeds or len(latency) < args.requests:
            notes.append(f"{label}: failed: {output.strip()[-300:]}")
            return
        results[label] = (speeds, latency)

    try:
        direct = [*_client(client, NAME, port, args, str(trust)), "127.0.0.1"]
        measure("direct (host client)", subprocess.run(
            direct, capture_output=True, text=True, check=False).stdout)  # fmt: skip
        argv = _client(client, NAME, port, args, str(trust))
        measure("filter, tunnelled", _sandbox(project, f"{NAME}:{port}", cert, argv))
        argv = _client(client, NAME, port, args, "")  # the sandbox's bundle (SSL_CERT_FILE)
        measure("filter, inspected", _sandbox(project, f"GET {NAME}:{port}/*", cert, argv))
        srt = next((p for p in SRT_CANDIDATES if os.access(p, os.X_OK)), None)
        if args.no_srt:
            notes.append("srt: --no-srt")
        elif srt is None:
            notes.append("srt: not installed (scripts/install-agents.sh)")
        else:
            for terminate, label in ((False, "srt, tunnelled"), (True, "srt, tlsTerminate")):
                argv = _client(client, "localhost", port, args, "" if terminate else str(trust))
                try:
                    measure(label, _srt(srt, scratch, port, cert, terminate, argv))
                except RuntimeError as exc:
                    notes.append(f"{label}: {exc}")
    finally:
        server.kill()
        server.wait()
    _report(results, notes, args)


def _report(
    results: dict[str, tuple[list[float], list[float]]], notes: list[str], args: argparse.Namespace
) -> None:
    who = "root" if os.geteuid() == 0 else os.environ.get("USER", str(os.geteuid()))
    print(f"# bench/inspect_bench.py as {who}: {args.size_mib} MiB x {args.rounds}, "
          f"{args.requests} sequential new TLS connections (Python client)")  # fmt: skip
    direct = results.get("direct (host client)")
    base_speed = statistics.median(direct[0]) if direct else 0.0
    base_latency = statistics.median(direct[1]) if direct else 0.0
    print("| row | throughput MB/s (x direct) | latency p50 / p99 ms | added p50 ms |")
    print("| --- | --- | --- | --- |")
    for label, (speeds, latency) in results.items():
        speed = statistics.median(speeds)
        ordered = sorted(latency)
        p50 = statistics.median(ordered)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        ratio = f" ({speed / base_speed:.2f}x)" if base_speed else ""
        print(
            f"| {label} | {speed / 1e6:.0f}{ratio} | {p50 * 1000:.2f} / {p99 * 1000:.2f} | "
            f"{(p50 - base_latency) * 1000:+.2f} |"
        )
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()

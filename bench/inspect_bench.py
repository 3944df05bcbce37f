"""HTTPS inspection: throughput and added latency, against direct and against srt.

    python bench/inspect_bench.py [--size-mib 256] [--requests 200] [--rounds 3] [--no-srt]

A loopback HTTPS server (``openssl s_server -WWW``: C-speed TLS, one HTTP/1.0 response per
connection, so every request below is a new TLS connection) with a test certificate for
``web.test`` and ``localhost``. curl fetches a large file (throughput: the median of
``--rounds`` runs of ``speed_download``) and ``--requests`` small files one after the other
(latency: ``time_total`` per request, median and p99), in these rows:

- ``direct``: curl on the host;
- ``filter, tunnelled``: curl in a filtered sandbox (the full runtime), the name allowed by
  a plain rule: the proxy relays TLS untouched (explicit proxy, ``CONNECT``);
- ``filter, inspected``: the same with ``GET web.test:PORT/*``: the proxy terminates TLS with
  the session CA, checks each request and re-encrypts to the server;
- ``srt, tunnelled`` / ``srt, tlsTerminate``: Anthropic's sandbox-runtime
  (``@anthropic-ai/sandbox-runtime``, npm cache of scripts/install-agents.sh) without and
  with its experimental ``network.tlsTerminate`` (its upstream trusts the test CA through
  ``NODE_EXTRA_CA_CERTS`` given to srt's own Node process). srt resolves names on the host,
  so its rows use ``localhost`` (curl ``--noproxy ''``: srt exempts localhost from its
  proxy variables).

Every client verifies against a CA bundle of the same size (the host's bundle plus one CA):
curl loads it for each handshake, a cost that would otherwise differ between rows.
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
import time
from collections.abc import Callable
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


def _serve(root: Path, key: Path, cert: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-quiet", "-WWW", "-accept", f"127.0.0.1:{port}",
         "-cert", str(cert), "-key", str(key)],
        cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, port
        time.sleep(0.05)
    server.kill()
    raise RuntimeError("openssl s_server did not start")


def _curl(urls: list[str], extra: list[str]) -> list[str]:
    argv = ["curl", "-sS", "--fail", *extra]
    for url in urls:
        argv += ["-o", "/dev/null", "-w", "%{time_total} %{speed_download}\\n", url]
    return argv


def _parse(output: str) -> list[tuple[float, float]]:
    rows = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                rows.append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue
    return rows


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
    root = scratch / "www"
    root.mkdir()
    with (root / "big").open("wb") as handle:
        handle.truncate(args.size_mib << 20)
    (root / "small").write_bytes(b"x" * 512)
    key, cert = _certificate(scratch)
    project = scratch / "project"
    project.mkdir()
    # every client verifies against a bundle of the same size (curl's cost of loading a CA
    # file is part of each handshake): the host's bundle plus the test CA; inside an
    # inspecting sandbox, the host's bundle plus the session CA (what the runtime binds)
    trust = project / "trust.pem"
    trust.write_bytes(host_bundle() + b"\n" + cert.read_bytes())
    server, port = _serve(root, key, cert)
    base = f"https://{NAME}:{port}"
    big, small = [f"{base}/big"], [f"{base}/small"] * args.requests
    results: dict[str, tuple[list[float], list[float]]] = {}
    notes: list[str] = []

    def measure(label: str, run: Callable[[list[str]], str]) -> None:
        speeds: list[float] = []
        for _ in range(args.rounds):
            speeds += [s for _, s in _parse(run(big))]
        latency = [t for t, _ in _parse(run(small))]
        if not speeds or len(latency) < args.requests:
            notes.append(f"{label}: failed ({len(speeds)} transfers, {len(latency)} requests)")
            return
        results[label] = (speeds, latency)

    try:
        direct = ["--resolve", f"{NAME}:{port}:127.0.0.1", "--cacert", str(trust)]
        measure(
            "direct (host curl)",
            lambda urls: (
                subprocess.run(
                    _curl(urls, direct), capture_output=True, text=True, check=False
                ).stdout
            ),
        )
        tunnel = ["--cacert", str(trust)]
        measure(
            "filter, tunnelled",
            lambda urls: _sandbox(project, f"{NAME}:{port}", cert, _curl(urls, tunnel)),
        )
        measure(
            "filter, inspected",
            lambda urls: _sandbox(project, f"GET {NAME}:{port}/*", cert, _curl(urls, [])),
        )
        srt = next((p for p in SRT_CANDIDATES if os.access(p, os.X_OK)), None)
        if args.no_srt:
            notes.append("srt: --no-srt")
        elif srt is None:
            notes.append("srt: not installed (scripts/install-agents.sh)")
        else:
            local = [u.replace(NAME, "localhost") for u in big + small]
            lbig, lsmall = local[:1], local[1:]
            for terminate, label in ((False, "srt, tunnelled"), (True, "srt, tlsTerminate")):
                # srt exempts localhost from its proxy variables: --noproxy '' sends it through
                extra = ["--noproxy", ""] + ([] if terminate else ["--cacert", str(trust)])

                def run_srt(urls: list[str], t: bool = terminate, e: list[str] = extra) -> str:
                    local_urls = lbig if urls == big else lsmall
                    return _srt(srt, scratch, port, cert, t, _curl(local_urls, e))

                try:
                    measure(label, run_srt)
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
          f"{args.requests} sequential new TLS connections")  # fmt: skip
    direct = results.get("direct (host curl)")
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

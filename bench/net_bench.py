"""Filtered-network benchmark: the egress filter against direct loopback and tinyproxy.

One run measures, side by side, against servers on host loopback only:

- bulk download throughput (curl, one large body): direct on the host, through the filter
  transparently (``curl --noproxy '*'``) and via the explicit proxy (``HTTP_PROXY``),
  through the filter's splice relay alone on the host (no namespace, no nftables: the cost
  of the second loopback hop by itself), and through tinyproxy (the Debian package, run on
  loopback) from the host;
- connection set-up latency (connect + tiny request + response, one at a time, the name
  resolved once beforehand): p50 and p99 direct, through the filter (transparent), and
  through tinyproxy;
- 500 concurrent connections held open at once (all opened, then all answered), errors;
- added start-up of ``filtered`` over ``none`` (bwrap ``true``; setup + attach + close).

Run: ``python bench/net_bench.py [--size-mb 512] [--connections 300] [--concurrent 500]``
(as root or an ordinary user; tinyproxy is skipped with a note when it is not installed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.net_sandbox import run_none, start_filtered
from bwsandbox.net._relay import pump

NAME = "bench.test"

_CLIENT = r"""
import json, socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
proxy = sys.argv[5] if len(sys.argv) > 5 else ""
def request(sock, path):
    if proxy:
        line = f"GET http://{host}:{port}{path} HTTP/1.1"
        sock.sendall(f"{line}\r\nHost: {host}:{port}\r\n\r\n".encode())
    else:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
# resolve once: the figures are for connection set-up, not for name lookups
target = (proxy.rsplit(":", 1)[0], int(proxy.rsplit(":", 1)[1])) if proxy else (host, port)
family, _, _, _, address = socket.getaddrinfo(*target, socket.AF_INET, socket.SOCK_STREAM)[0]
def connect():
    return socket.create_connection(address, timeout=30)
def drain(sock):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
if mode == "latency":
    times = []
    for _ in range(int(sys.argv[4])):
        start = time.perf_counter()
        s = connect()
        request(s, "/small")
        ok = drain(s).startswith(b"HTTP/1.")
        s.close()
        times.append((time.perf_counter() - start) * 1000 if ok else -1.0)
    print(json.dumps(times))
elif mode == "concurrent":
    count, errors, held = int(sys.argv[4]), 0, []
    for _ in range(count):
        try:
            s = connect()
            request(s, "/hold")
            held.append(s)
        except OSError:
            errors += 1
    answered = 0
    for s in held:
        try:
            if s.recv(64).startswith(b"HTTP/1."):
                answered += 1
            else:
                errors += 1
        except OSError:
            errors += 1
    for s in held:
        s.close()
    print(json.dumps({"opened": len(held), "answered": answered, "errors": errors}))
"""


class Source:
    """HTTP/1.1 server on 127.0.0.1: ``/bytes/N`` via sendfile, ``/small``, ``/hold``."""

    def __init__(self, blob: Path) -> None:
        self.blob = blob
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode()
            if path.startswith("/bytes/"):
                size = int(path.rsplit("/", 1)[1])
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
                with self.blob.open("rb") as f:
                    left = size
                    while left > 0:
                        f.seek(0)
                        left -= conn.sendfile(f, 0, min(left, self.blob.stat().st_size))
                return
            body = b"ok\n"
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n" + body
            )
            if path == "/hold":
                with contextlib.suppress(OSError):
                    conn.recv(1)  # until the client closes

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


class HostRelay:
    """The filter's relay (``pump``, one thread per direction) on host loopback, nothing else."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


@contextlib.contextmanager
def tinyproxy(tmp: Path) -> Iterator[int | None]:
    binary = shutil.which("tinyproxy") or (
        "/usr/bin/tinyproxy" if Path("/usr/bin/tinyproxy").exists() else None
    )
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    conf = tmp / "tinyproxy.conf"
    user = "" if os.geteuid() else "User nobody\nGroup nogroup\n"
    conf.write_text(
        f"{user}Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 2000\n"
        f'LogLevel Critical\nPidFile "{tmp}/tinyproxy.pid"\nAllow 127.0.0.1\n'
        f"ConnectPort {0}\nDisableViaHeader Yes\n"
    )
    process = subprocess.Popen([binary, "-d", "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(5)


def _curl_speed(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    return float(out.strip() or 0) / 1e6


def _curl(url: str, *extra: str) -> list[str]:
    return ["curl", "-sS", "-o", "/dev/null", "-w", "%{speed_download}", *extra, url]


def _in_sandbox(command: Sequence[str], *, proxy_env: bool = True) -> str:
    process, session = start_filtered(
        command,
        allow=[NAME],
        add_hosts=[(NAME, "127.0.0.1")],
        proxy_env=proxy_env,
        stdout=subprocess.PIPE,
    )
    out, _ = process.communicate(timeout=600)
    session.close()
    if process.returncode:
        raise RuntimeError(f"sandboxed {command[0]} failed ({process.returncode})")
    return str(out.decode())


def _pcts(values: Sequence[float]) -> str:
    good = sorted(v for v in values if v >= 0)
    if not good:
        return "no successful connections"
    p99 = good[min(len(good) - 1, int(len(good) * 0.99))]
    failed = len(values) - len(good)
    return f"p50 {statistics.median(good):6.2f} ms  p99 {p99:6.2f} ms  failed {failed}"


def _mb(speed: str) -> float:
    return float(speed.strip() or 0) / 1e6


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def bench_startup(runs: int) -> tuple[float, float]:
    none, filtered = [], []
    for _ in range(runs):
        start = time.perf_counter()
        run_none(["/usr/bin/true"])
        none.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        process, session = start_filtered(["/usr/bin/true"], allow=[NAME])
        process.wait()
        session.close()
        filtered.append((time.perf_counter() - start) * 1000)
    return _median(none), _median(filtered)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=500)
    parser.add_argument("--startup-runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (median)")
    args = parser.parse_args(argv)
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)
        blob = tmp / "blob"
        blob.write_bytes(os.urandom(1 << 20) * 16)
        client = tmp / "client.py"
        client.write_text(_CLIENT)
        client.chmod(0o644)
        source = Source(blob)
        port = source.port
        url = f"http://{NAME}:{port}/bytes/{size}"
        direct_url = f"http://127.0.0.1:{port}/bytes/{size}"
        rows: list[tuple[str, str]] = []
        relay = HostRelay(port)
        relay_url = f"http://127.0.0.1:{relay.port}/bytes/{size}"
        with tinyproxy(tmp) as tiny:
            # throughput: rounds interleaved so machine noise hits every variant alike
            speeds: dict[str, list[float]] = {}
            variants: dict[str, Callable[[], float]] = {
                "direct (host)": lambda: _curl_speed(_curl(direct_url)),
                "filter, transparent": lambda: _mb(
                    _in_sandbox(_curl(url, "--noproxy", "*"), proxy_env=False)
                ),
                "filter, HTTP_PROXY": lambda: _mb(_in_sandbox(_curl(url))),
                "relay alone (host)": lambda: _curl_speed(_curl(relay_url)),
            }
            if tiny is not None:
                variants["tinyproxy (host)"] = lambda: _curl_speed(
                    _curl(direct_url, "-x", f"http://127.0.0.1:{tiny}")
                )
            for _ in range(args.rounds):
                for label, measure in variants.items():
                    speeds.setdefault(label, []).append(measure())
            direct = _median(speeds["direct (host)"])
            for label, values in speeds.items():
                speed = _median(values)
                rows.append((f"throughput {label}", f"{speed:8.0f} MB/s  {speed / direct:.2f}x"))
            # latency
            n = str(args.connections)
            host_lat = json.loads(
                subprocess.run(
                    [sys.executable, str(client), "latency", "127.0.0.1", str(port), n],
                    check=True, capture_output=True, text=True,
                ).stdout
            )  # fmt: skip
            sandboxed = ["python3", "-c", _CLIENT]
            filt_lat = json.loads(_in_sandbox([*sandboxed, "latency", NAME, str(port), n]))
            rows.append(("setup latency direct", _pcts(host_lat)))
            rows.append(("setup latency filter", _pcts(filt_lat)))
            added = statistics.median(v for v in filt_lat if v >= 0) - statistics.median(host_lat)
            rows.append(("setup latency added (p50)", f"{added:6.2f} ms"))
            if tiny is not None:
                tiny_lat = json.loads(
                    subprocess.run(
                        [sys.executable, str(client), "latency", "127.0.0.1", str(port), n,
                         f"127.0.0.1:{tiny}"],
                        check=True, capture_output=True, text=True,
                    ).stdout
                )  # fmt: skip
                rows.append(("setup latency tinyproxy", _pcts(tiny_lat)))
            # concurrency
            c = str(args.concurrent)
            held = json.loads(_in_sandbox([*sandboxed, "concurrent", NAME, str(port), c]))
            rows.append((f"{c} concurrent, filter", json.dumps(held)))
            if tiny is not None:
                tiny_held = json.loads(
                    subprocess.run(
                        [sys.executable, str(client), "concurrent", "127.0.0.1", str(port), c,
                         f"127.0.0.1:{tiny}"],
                        check=True, capture_output=True, text=True,
                    ).stdout
                )  # fmt: skip
                rows.append((f"{c} concurrent, tinyproxy", json.dumps(tiny_held)))
        relay.close()
        source.close()
        none, filtered = bench_startup(args.startup_runs)
        rows.append(("start-up bwrap true, none", f"{none:6.1f} ms (median)"))
        rows.append(("start-up bwrap true, filtered", f"{filtered:6.1f} ms (median)"))
        rows.append(("start-up added by filtered", f"{filtered - none:6.1f} ms (target <= 40)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("\nreproduce: " + shlex.join([sys.executable, *sys.argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

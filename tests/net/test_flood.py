"""Issue 9, finding 13 and "parsers that face the sandbox": one sandbox flooding its proxy
(thousands of connections, slow heads, slow readers) or feeding it garbage must not grow the
host-side proxy without bound, nor hurt another running sandbox.

Both sandboxes' proxies run in this test process, so the proxy's threads (named ``bwsbx-*``
for ``ps -T``) and memory are read from ``/proc/self``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwsandbox.net._serve import MAX_CONNECTIONS
from bwsandbox.testing import Running, start_sandbox

from .conftest import py

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

WEB = ("web.test", "127.0.0.1")
FLOOD = 3000

_FLOOD = r"""
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
sink, web, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
held, opened = [], 0
for i in range(count):
    try:
        if i % 3 == 0:  # slowloris on the explicit proxy: a head that never ends
            s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
            s.sendall(b"GET http://web.test/ HTTP/1.1\r\nX-Slow: ")
        elif i % 3 == 1:  # transparent, upstream connected, first bytes never finish
            s = socket.create_connection(("web.test", sink), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
        else:  # a slow reader of a large response
            s = socket.create_connection(("web.test", web), timeout=5)
            s.sendall(b"GET /big HTTP/1.1\r\nHost: web.test\r\n\r\n")
        held.append(s)
        opened += 1
    except OSError:
        pass
print("HOLDING", opened, flush=True)
sys.stdin.readline()
"""

_GOOD = r"""
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("web.test", port), timeout=10)
s.sendall(f"GET /victim HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n".encode())
print(s.makefile("rb").read().decode(errors="replace"))
"""


def _threads() -> tuple[int, int]:
    """(all threads of this process, those named ``bwsbx-*``: the proxy's)."""
    named = total = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            named += (task / "comm").read_text().startswith("bwsbx-")
            total += 1
        except OSError:
            pass
    return total, named


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _start(command: list[str]) -> Running:
    return start_sandbox(command, allow=["web.test"], add_hosts=[WEB])


@pytest.fixture
def big(tmp_path: Path) -> Iterator[int]:
    """A file server in another process (its threads and memory are not ours to measure)."""
    (tmp_path / "big").write_bytes(b"")
    os.truncate(tmp_path / "big", 50_000_000)
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
         "--directory", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert server.stdout is not None
    line = server.stdout.readline().decode()
    yield int(line.split(" port ")[1].split()[0])
    server.kill()
    server.wait()
    server.stdout.close()


@pytest.fixture
def sink() -> Iterator[int]:
    """A listener that never accepts: connections complete in the kernel, cost us nothing."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    yield listener.getsockname()[1]
    listener.close()


def test_a_flooding_sandbox_is_bounded_and_does_not_hurt_another(
    sink: int, big: int, http_port: int
) -> None:
    (baseline_threads, _), baseline_rss = _threads(), _rss_kib()
    attacker = _start([*py(_FLOOD), str(sink), str(big), str(FLOOD)])
    try:
        line = attacker.stdout.readline().decode()
        assert line.startswith("HOLDING"), line
        threads = named = rss = 0
        for _ in range(20):  # the peak while the flood is held
            total, now_named = _threads()
            threads, named = max(threads, total - baseline_threads), max(named, now_named)
            rss = max(rss, _rss_kib() - baseline_rss)
            time.sleep(0.05)
        victim = _start([*py(_GOOD), str(http_port)])
        result = victim.finish()
    finally:
        flood = attacker.finish(b"\n")
    print(f"flood: {line.strip()}, threads +{threads} ({named} bwsbx-*), RSS +{rss} KiB")
    assert "path=/victim" in result.stdout, result.describe()
    assert int(line.split()[1]) > MAX_CONNECTIONS  # the flood did exceed the cap
    # at most two threads per connection, plus the five accept loops (and a few of the test's)
    assert threads <= 2 * MAX_CONNECTIONS + 20, threads
    assert named > MAX_CONNECTIONS  # the proxy's threads are named for ps -T
    # generous: 256 KiB per thread (a thread and its buffers take far less)
    assert rss <= 2 * MAX_CONNECTIONS * 256, f"proxy grew by {rss} KiB"
    assert flood.returncode == 0, flood.describe()


_GARBAGE = r"""
import random, socket, struct, sys
port = int(sys.argv[1])
rng = random.Random(9)
blobs = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))) for _ in range(40)]
blobs += [b"GET / HTTP/1.1\r\nHost: web.test\r\nX: \x00\r\n\r\n", b"\r\n\r\n",
          b"CONNECT \xff\r\n\r\n", b"\x16\x03\x01\xff\xff" + b"\x01" * 300,
          b"GET / HTTP/1.1\nHost: evil\n\n"]
for blob in blobs:
    for target in (("127.0.0.1", 3128), ("web.test", port)):
        try:
            s = socket.create_connection(target, timeout=5)
            s.sendall(blob)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(2)
            s.recv(100)
        except OSError:
            pass
        s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(blob, ("127.0.0.1", 53))
    u.close()
    try:
        t = socket.create_connection(("127.0.0.1", 53), timeout=5)
        t.sendall(struct.pack("!H", len(blob)) + blob)
        t.settimeout(1)
        t.recv(100)
    except OSError:
        pass
    t.close()
s = socket.create_connection(("web.test", port), timeout=10)
s.sendall(f"GET /after-garbage HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n".encode())
print(s.makefile("rb").read().decode(errors="replace"))
print("RESOLVED", socket.gethostbyname("web.test"))
"""


def test_garbage_gets_refusals_and_good_requests_still_work(http_port: int) -> None:
    """Random bytes, a NUL in a header, a bare-LF head, a bogus ClientHello, a bad CONNECT,
    to the explicit proxy, the transparent proxy and both DNS listeners; then a good request
    and a DNS lookup on new connections work, in this sandbox and another one."""
    result = _start([*py(_GARBAGE), str(http_port)]).finish()
    assert "path=/after-garbage" in result.stdout, result.describe()
    assert "RESOLVED" in result.stdout, result.describe()
    assert result.net("deny"), result.describe()  # the malformed ones were refused, audited
    other = _start([*py(_GOOD), str(http_port)]).finish()
    assert "path=/victim" in other.stdout, other.describe()

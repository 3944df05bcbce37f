"""What the terminal filter costs: its throughput, and ``run`` with stdout/stderr on a terminal.

    .venv/bin/python bench/terminal_filter.py [--runs 15]

Throughput on plain text and on escape-dense TUI-like output (SGR, cursor moves, modes),
then ``agent-sandbox run -- true`` and 50 MB of output plus 5 MB of binary, with stdout and
stderr on a pty and stdin ``/dev/null`` (the plan cache warm), with the filter on (the
default) and off (``hardening.terminal_filter = false``). Medians, in one interleaved loop.
"""

from __future__ import annotations

import argparse
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bwsandbox.runtime._termfilter import TermFilter

EXE = str(Path(sys.executable).parent / "agent-sandbox")
#: 50 MB of text lines, then 5 MB of binary junk (NULs, stray bytes)
_BIG = "yes 'some output line of a build log' | head -c 50000000; head -c 5000000 /dev/urandom"


def throughput(data: bytes) -> float:
    f = TermFilter()
    start = time.perf_counter()
    for i in range(0, len(data), 65536):
        f.feed(data[i : i + 65536])
    return len(data) / (time.perf_counter() - start) / 1e6


def on_a_terminal(argv: list[str]) -> float:
    master, slave = pty.openpty()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    while True:
        try:
            if not os.read(master, 65536):
                break
        except OSError:
            break
    proc.wait()
    os.close(master)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tui = (
        b"\x1b[?2026h\x1b[?25l\x1b[12;3H\x1b[0m\x1b[38;2;200;100;0m\xe2\x94\x82 text \x1b[K"
        b"\x1b[1mbold\x1b[22m \x1b[48;5;238m\x1b[K\x1b]0;title\x07\x1b[?2026l\r\n"
    ) * 200_000
    text = b"The quick brown fox jumps over the lazy dog. \xc3\xa9\xe2\x94\x80\n" * 400_000
    print(f"filter, plain text:        {throughput(text):6.0f} MB/s")
    print(f"filter, TUI-like output:   {throughput(tui):6.0f} MB/s")
    with tempfile.TemporaryDirectory() as tmp:
        off = Path(tmp) / "off.toml"
        off.write_text("[hardening]\nterminal_filter = false\n")
        variants = {
            "run -- true, filter on": [EXE, "run", "--", "true"],
            "run -- true, filter off": [EXE, "run", "--policy", str(off), "--", "true"],
            "50 MB out, filter on": [EXE, "run", "--", "sh", "-c", _BIG],
            "50 MB out, filter off": [
                *(EXE, "run", "--policy", str(off)),
                *("--", "sh", "-c", _BIG),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        os.chdir(tmp)
        for argv in variants.values():
            on_a_terminal(argv)  # warm the plan cache
        for _ in range(args.runs):
            for name, argv in variants.items():
                times[name].append(on_a_terminal(argv))
    for name, values in times.items():
        print(f"{name:<26} {statistics.median(values) * 1000:6.0f} ms median")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up benchmark: ``agent-sandbox run -- true`` against raw bwrap and plain ``true``.

One run measures, interleaved round by round (so drift hits every variant alike):

- ``true``                        the process-spawn floor;
- ``bwrap <same argv> true``      the exact argv agent-sandbox uses (from ``explain --json``),
                                  with a work dir and the generated files as memfds;
- ``agent-sandbox run -- true``   warm (the compiled-plan cache hit) and cold (the cache
                                  emptied before each run: parse, load, probe, compile, launch).

It prints median and p90 per variant, the time added over raw bwrap, the ratios, the target
(at most 35 ms added, warm) and the exact command that reproduces the figures.

Run: ``python bench/startup.py [--runs N]`` from the repository, with the package installed.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

TARGET_MS = 35.0
HERE = Path(__file__).resolve().parent


def agent_sandbox() -> list[str]:
    script = Path(sys.executable).parent / "agent-sandbox"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "bwsandbox.cli"]


def spawn_wait(argv: Sequence[str], env: dict[str, str], cwd: str) -> tuple[float, int]:
    """Wall time of one spawn+wait in ms, and the exit status (stdio to /dev/null)."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
        here = Path.cwd()
        os.chdir(cwd)
        try:
            start = time.perf_counter_ns()
            pid = os.posix_spawnp(argv[0], list(argv), env, file_actions=actions)
            _, status = os.waitpid(pid, 0)
            elapsed = (time.perf_counter_ns() - start) / 1e6
        finally:
            os.chdir(here)
    finally:
        os.close(null)
    return elapsed, os.waitstatus_to_exitcode(status)


def _content(item: dict[str, object]) -> bytes:
    if "base64" in item:
        return base64.b64decode(str(item["base64"]))
    return str(item["content"]).encode()


class RawBwrap:
    """The argv ``explain --json`` prints, made runnable: work dir, memfds, block pipe."""

    def __init__(self, explained: dict[str, object], scratch: Path) -> None:
        workdir = scratch / "workdir"
        (workdir / "tmp").mkdir(parents=True)
        (workdir / "home").mkdir()
        data = {  # binary data (the seccomp filter) comes base64-encoded
            str(d["fd"]): _content(d)
            for d in explained["data"]  # type: ignore[attr-defined]
        }
        self.memfds: list[int] = []
        self.block: tuple[int, int] | None = None
        self.null = os.open(os.devnull, os.O_WRONLY)
        os.set_inheritable(self.null, True)
        argv: list[str] = []
        for item in explained["argv"]:  # type: ignore[attr-defined]
            token = str(item).replace("{workdir}", str(workdir))
            if token.startswith("{fd:") and token.endswith("}"):
                name = token[4:-1]
                if name in data:
                    fd = os.memfd_create(name)
                    os.write(fd, data[name])
                    os.set_inheritable(fd, True)
                    self.memfds.append(fd)
                    token = str(fd)
                elif name == "block":
                    read_end, write_end = os.pipe()
                    os.set_inheritable(read_end, True)
                    self.block = (read_end, write_end)
                    token = str(read_end)
                else:  # info, json-status: bwrap writes, nobody needs to read here
                    token = str(self.null)
            argv.append(token)
        self.argv = argv

    def prepare(self) -> None:
        for fd in self.memfds:
            os.lseek(fd, 0, os.SEEK_SET)
        if self.block is not None:
            os.write(self.block[1], b"x")


def tidy(project: Path) -> None:
    """Remove the empty placeholders raw bwrap leaves in the project (mount points for absent
    protected paths; agent-sandbox removes its own), so every variant starts from the same
    project."""
    for path in project.iterdir():
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()
        elif path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
            path.unlink()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per variant first")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bwsandbox-bench-"))
    try:
        return _bench(args.runs, args.warmup, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _bench(runs: int, warmup: int, scratch: Path) -> int:
    project = scratch / "project"
    project.mkdir()
    env = dict(os.environ)
    env["AGENT_SANDBOX_CONFIG_DIR"] = str(scratch / "config")
    env["AGENT_SANDBOX_DATA_DIR"] = str(scratch / "data")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure imports as an installed wheel has them
    env.pop("AGENT_SANDBOX_PLAN_CACHE", None)
    os.environ.clear()
    os.environ.update(env)  # so the cache dir computed here is the children's
    import bwsandbox
    from bwsandbox.cli import _plancache

    compileall.compile_dir(str(Path(bwsandbox.__file__).parent), quiet=1)
    cli = agent_sandbox()
    done = subprocess.run(
        [*cli, "explain", "--json", "--", "true"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"explain failed ({done.returncode}): {done.stderr.strip()}", file=sys.stderr)
        return 1
    raw = RawBwrap(json.loads(done.stdout), scratch)
    cache = _plancache.cache_dir()
    hits = _warm_runs_hit(cli, env, project)

    def cold() -> None:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)

    true = shutil.which("true") or "/bin/true"
    variants: list[tuple[str, list[str], Callable[[], None] | None]] = [
        ("true", [true], None),
        ("bwrap (same argv) true", raw.argv, raw.prepare),
        ("agent-sandbox run -- true (warm)", [*cli, "run", "--", "true"], None),
        ("agent-sandbox run -- true (cold)", [*cli, "run", "--", "true"], cold),
    ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for round_ in range(warmup + runs):
        for name, command, prepare in variants:
            if prepare is not None:
                prepare()
            elapsed, status = spawn_wait(command, env, str(project))
            tidy(project)
            if status != 0:
                print(f"{name}: exit status {status}", file=sys.stderr)
                return 1
            if round_ >= warmup:
                times[name].append(elapsed)
    _report(times, runs, hits)
    return 0


def _warm_runs_hit(cli: list[str], env: dict[str, str], project: Path) -> bool:
    """Whether a repeated ``run -- true`` is a cache hit (it never loads the policy code)."""
    traced = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    stderr = ""
    for _ in range(2):
        stderr = subprocess.run(
            [*cli, "run", "--", "true"],
            cwd=project,
            env=traced,
            capture_output=True,
            text=True,
            check=False,
        ).stderr
    return "bwsandbox.cli._fastlaunch" in stderr and "bwsandbox.cli._resolve" not in stderr


def _report(times: dict[str, list[float]], runs: int, hits: bool) -> None:
    names = list(times)
    base = statistics.median(times[names[1]])
    print(f"bwsandbox start-up benchmark: {runs} runs per variant, interleaved")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, uid {os.getuid()}")
    if not hits:
        print("WARNING: repeated runs are not cache hits here (AGENT_SANDBOX_PLAN_CACHE=0, or the")
        print("runtime changed since the fast launcher was reviewed): 'warm' is the full path")
    print()
    print(f"{'variant':<36} {'median ms':>10} {'p90 ms':>8} {'+ms vs bwrap':>13} {'x bwrap':>8}")
    for name in names:
        median = statistics.median(times[name])
        p90 = percentile(times[name], 0.9)
        print(
            f"{name:<36} {median:>10.1f} {p90:>8.1f} {median - base:>+13.1f} {median / base:>8.2f}"
        )
    warm = statistics.median(times[names[2]]) - base
    verdict = "meets" if warm <= TARGET_MS else "MISSES"
    print()
    print(f"warm run adds {warm:.1f} ms over raw bwrap: {verdict} the {TARGET_MS:.0f} ms target")
    command = shlex.join([sys.executable, str(HERE / "startup.py"), "--runs", str(runs)])
    print(f"reproduce: {command}")


if __name__ == "__main__":
    sys.exit(main())

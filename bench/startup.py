"""Start-up benchmark: ``agent-sandbox run -- true`` against raw bwrap and plain ``true``.

One run measures, interleaved round by round (so drift hits every variant alike):

- ``true``                        the process-spawn floor;
- ``bwrap <same argv> true``      the exact argv agent-sandbox uses (from ``explain --json``),
                                  with a work dir and the generated files as memfds; one such
                                  raw row per argv: the cold one, the filtered one (one more
                                  bind: resolv.conf) and the agent's (its binary, bin dir and
                                  state binds, running the same stub agent). Each agent-sandbox
                                  row is measured against the raw row of ITS OWN argv: bwrap
                                  pays for every mount (it re-reads /proc/self/mountinfo each
                                  time), and that cost is bwrap's, not agent-sandbox's;
- ``agent-sandbox run -- true``   warm (the compiled-plan cache hit), cold (no plan cache at
                                  all, ``AGENT_SANDBOX_PLAN_CACHE=0``: parse, load, probe,
                                  compile, launch) and a cache miss (the cache on but emptied
                                  before each run: what a first run costs, storing included);
- ``run --network filtered``      with an allow rule (never cached): netns, proxy, launch;
- ``agent-sandbox claude``        the agent profile up to the exec of the agent, with a stub
                                  agent binary (a script that exits 0) and a fake API key;
- the peers, when installed and working here: ``codex sandbox`` (npm ``@openai/codex``),
  without and with its managed network proxy, and ``srt`` (npm
  ``@anthropic-ai/sandbox-runtime``), each allowing ``example.com``.

It prints median and p90 per variant, the time added over raw bwrap, the ratios, the targets
(issue 11: cold +35 ms, filtered +40 ms, agent +45 ms; warm +35 ms), the command of each row
and the exact command that reproduces the figures. A peer that is missing or fails here is
skipped with the reason.

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
from dataclasses import dataclass
from pathlib import Path

TARGET_MS = 35.0  # warm (the plan-cache hit)
#: issue 11's targets without any plan cache: ms added over raw bwrap, per row
TARGETS = {"cold": 35.0, "filtered": 40.0, "agent": 45.0}
#: the raw bwrap rows, one per argv (each agent-sandbox row is measured against its own)
RAW_COLD = "bwrap (same argv) true"
RAW_FILTERED = "bwrap (filtered argv) true"
RAW_AGENT = "bwrap (agent argv) stub"
HERE = Path(__file__).resolve().parent
ALLOW = "example.com"
#: where scripts/install-agents.sh puts the npm CLIs (root, then an ordinary user)
AGENT_CACHES = (
    Path("/var/cache/bwsandbox/agents"),
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bwsandbox" / "agents",
)
#: codex's managed proxy wants a permissions profile with network rules (its config file)
CODEX_CONFIG = f"""default_permissions = "bench"
[permissions.bench]
extends = ":workspace"
[permissions.bench.network]
enabled = true
[permissions.bench.network.domains]
"{ALLOW}" = "allow"
"""
SRT_SETTINGS = {
    "network": {"allowedDomains": [ALLOW], "deniedDomains": []},
    "filesystem": {"denyRead": [], "allowWrite": ["."], "denyWrite": []},
}


@dataclass(frozen=True, slots=True)
class Variant:
    """One row: what runs, with which environment, and what is done (untimed) before."""

    name: str
    argv: list[str]
    env: dict[str, str]
    prepare: Callable[[], None] | None = None
    target: str = ""  # a key of TARGETS, or "" (no target)
    shown_env: tuple[str, ...] = ()  # variables to print in front of the command
    base: str = ""  # the raw bwrap row with this row's own argv ("": the cold one)


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
    parser.add_argument("--no-peers", action="store_true", help="skip the codex and srt rows")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bwsandbox-bench-"))
    # codex refuses to set up its helpers under /tmp: its home lives in ~/.cache instead
    codex_home = Path.home() / ".cache" / f"bwsandbox-bench-codex-{os.getpid()}"
    try:
        return _bench(args.runs, args.warmup, scratch, codex_home, peers=not args.no_peers)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(codex_home, ignore_errors=True)


#: prints ``explain --json``'s document for an agent profile (the CLI's explain has no agent
#: form): the same resolve and compile as ``agent-sandbox claude``, with the symbolic work dir
AGENT_EXPLAIN = """
import sys
from bwsandbox.cli._explain import WORKDIR, explain_lines
from bwsandbox.cli._resolve import resolve
session = resolve(sys.argv[1], {}, (), workdir=WORKDIR).prepare()
print("\\n".join(explain_lines({}, session.plan, as_json=True)))
"""


def _explained(argv: list[str], env: dict[str, str], project: Path) -> dict[str, object] | None:
    """The ``explain --json`` document ``argv`` prints, or None (the error is printed)."""
    done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"explain failed ({done.returncode}): {done.stderr.strip()}", file=sys.stderr)
        return None
    document: dict[str, object] = json.loads(done.stdout)
    return document


def _bench(runs: int, warmup: int, scratch: Path, codex_home: Path, *, peers: bool) -> int:
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
    explained = _explained([*cli, "explain", "--json", "--", "true"], env, project)
    if explained is None:
        return 1
    raw = RawBwrap(explained, scratch / "cold")
    cache = _plancache.cache_dir()
    hits = _warm_runs_hit(cli, env, project)

    def empty_cache() -> None:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)

    no_cache = {**env, _plancache.DISABLE_VAR: "0"}

    stub = scratch / "bin" / "claude"  # the agent binary: exits at once
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    agent_env = {
        **no_cache,
        "BWSANDBOX_AGENT_BIN_CLAUDE": str(stub),
        "ANTHROPIC_API_KEY": "sk-ant-bench-not-a-real-key",
    }
    filtered_argv = ["--network", "filtered", "--allow", ALLOW, "--", "true"]
    explained = _explained([*cli, "explain", "--json", *filtered_argv], no_cache, project)
    agent_explained = _explained(
        [sys.executable, "-c", AGENT_EXPLAIN, "claude"], agent_env, project
    )
    if explained is None or agent_explained is None:
        return 1
    raw_filtered = RawBwrap(explained, scratch / "filtered")
    raw_agent = RawBwrap(agent_explained, scratch / "agent")  # runs the stub, like the agent
    true = shutil.which("true") or "/bin/true"
    variants = [
        Variant("true", [true], env),
        Variant(RAW_COLD, raw.argv, env, raw.prepare),
        Variant(RAW_FILTERED, raw_filtered.argv, env, raw_filtered.prepare),
        Variant(RAW_AGENT, raw_agent.argv, agent_env, raw_agent.prepare),
        Variant("agent-sandbox run -- true (warm)", [*cli, "run", "--", "true"], env),
        Variant(
            "agent-sandbox run -- true (cold)",
            [*cli, "run", "--", "true"],
            no_cache,
            target="cold",
            shown_env=(_plancache.DISABLE_VAR,),
        ),
        Variant("run -- true (cache miss)", [*cli, "run", "--", "true"], env, empty_cache),
        Variant(
            "run --network filtered --allow",
            [*cli, "run", *filtered_argv],
            no_cache,
            target="filtered",
            shown_env=(_plancache.DISABLE_VAR,),
            base=RAW_FILTERED,
        ),
        Variant(
            "agent-sandbox claude (stub agent)",
            [*cli, "claude"],
            agent_env,
            target="agent",
            shown_env=(
                _plancache.DISABLE_VAR,
                "BWSANDBOX_AGENT_BIN_CLAUDE",
                "ANTHROPIC_API_KEY",
            ),
            base=RAW_AGENT,
        ),
    ]
    skipped: list[str] = []
    if peers:
        found, notes = _peers(env, scratch, codex_home, project)
        variants.extend(found)
        skipped.extend(notes)
    else:
        skipped.append("codex, srt: --no-peers")
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    for round_ in range(warmup + runs):
        for variant in variants:
            if variant.prepare is not None:
                variant.prepare()
            elapsed, status = spawn_wait(variant.argv, variant.env, str(project))
            tidy(project)
            if status != 0:
                print(f"{variant.name}: exit status {status}", file=sys.stderr)
                return 1
            if round_ >= warmup:
                times[variant.name].append(elapsed)
    _report(times, variants, runs, hits, skipped, scratch, codex_home)
    return 0


def _find_peer(name: str) -> Path | None:
    """A peer's executable: on PATH, else in the install-agents.sh cache."""
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    for cache in AGENT_CACHES:
        candidate = cache / "node_modules" / ".bin" / name
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _peers(
    env: dict[str, str], scratch: Path, codex_home: Path, project: Path
) -> tuple[list[Variant], list[str]]:
    """The codex and srt rows that run here, and a note for each one that does not."""
    rows: list[Variant] = []
    notes: list[str] = []
    codex = _find_peer("codex")
    if codex is None:
        notes.append("codex: not installed (scripts/install-agents.sh codex)")
    else:
        codex_home.mkdir(parents=True, exist_ok=True)
        (codex_home / "config.toml").write_text(CODEX_CONFIG)
        codex_env = {**env, "CODEX_HOME": str(codex_home)}
        for name, flags in (
            ("codex sandbox (no proxy)", ["--disable", "network_proxy"]),
            ("codex sandbox (managed proxy)", ["--enable", "network_proxy"]),
        ):
            row = Variant(
                name,
                [str(codex), "sandbox", *flags, "--", "true"],
                codex_env,
                shown_env=("CODEX_HOME",),
            )
            why = _trial(row, project)
            if why:
                notes.append(f"{name}: {why}")
            else:
                rows.append(row)
    srt = _find_peer("srt")
    if srt is None:
        notes.append("srt: not installed (scripts/install-agents.sh srt)")
    else:
        settings = scratch / "srt-settings.json"
        settings.write_text(json.dumps(SRT_SETTINGS))
        row = Variant("srt (allow example.com)", [str(srt), "-s", str(settings), "true"], env)
        why = _trial(row, project)
        if why:
            notes.append(f"srt: {why}")
        else:
            rows.append(row)
    return rows, notes


def _trial(variant: Variant, project: Path) -> str:
    """Why the variant does not work here ("" when it does)."""
    try:
        done = subprocess.run(
            variant.argv,
            cwd=project,
            env=variant.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"fails here: {exc}"
    finally:
        tidy(project)
    if done.returncode == 0:
        return ""
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    last = next((line for line in lines if "rror" in line), lines[-1] if lines else "")
    return f"fails here (exit {done.returncode}): {last}"


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


def _shown(variant: Variant, scratch: Path, codex_home: Path) -> str:
    """The row's command line, with the bench's temporary dirs as $SCRATCH and $CODEX_HOME."""
    words = [f"{key}={variant.env[key]}" for key in variant.shown_env]
    words += variant.argv
    text = shlex.join(words)
    return text.replace(str(codex_home), "$CODEX_HOME").replace(str(scratch), "$SCRATCH")


def _report(
    times: dict[str, list[float]],
    variants: list[Variant],
    runs: int,
    hits: bool,
    skipped: list[str],
    scratch: Path,
    codex_home: Path,
) -> None:
    names = list(times)
    base = statistics.median(times[RAW_COLD])
    own = {v.name: statistics.median(times[v.base or RAW_COLD]) for v in variants}
    print(f"bwsandbox start-up benchmark: {runs} runs per variant, interleaved")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, uid {os.getuid()}")
    if not hits:
        print("WARNING: repeated runs are not cache hits here (AGENT_SANDBOX_PLAN_CACHE=0, or the")
        print("runtime changed since the fast launcher was reviewed): 'warm' is the full path")
    print()
    print("(+ms vs bwrap: over the raw bwrap row with the row's own argv; +ms vs cold argv:")
    print("over the raw bwrap row with the cold argv, as earlier versions of this bench printed)")
    print(
        f"{'variant':<36} {'median ms':>10} {'p90 ms':>8} {'+ms vs bwrap':>13}"
        f" {'+ms vs cold argv':>17} {'x bwrap':>8}"
    )
    for name in names:
        median = statistics.median(times[name])
        p90 = percentile(times[name], 0.9)
        print(
            f"{name:<36} {median:>10.1f} {p90:>8.1f} {median - own[name]:>+13.1f}"
            f" {median - base:>+17.1f} {median / own[name]:>8.2f}"
        )
    for note in skipped:
        print(f"skipped: {note}")
    warm = statistics.median(times["agent-sandbox run -- true (warm)"]) - base
    verdict = "meets" if warm <= TARGET_MS else "MISSES"
    print()
    print(f"warm run adds {warm:.1f} ms over raw bwrap: {verdict} the {TARGET_MS:.0f} ms target")
    for variant in variants:
        if variant.target:
            added = statistics.median(times[variant.name]) - own[variant.name]
            target = TARGETS[variant.target]
            verdict = "meets" if added <= target else "MISSES"
            print(
                f"{variant.target} ({variant.name}) adds {added:.1f} ms over raw bwrap"
                f" ({variant.base or RAW_COLD}): {verdict} the {target:.0f} ms target (issue 11)"
            )
    print()
    print("commands ($SCRATCH, $CODEX_HOME: temporary dirs the benchmark makes and removes;")
    print("the stub agent is `#!/bin/sh` + `exit 0`; each raw bwrap argv is `explain --json`'s,")
    print("the agent's from the same resolve and compile as `agent-sandbox claude`):")
    for variant in variants:
        if variant.name.startswith("bwrap"):
            continue
        print(f"  {variant.name}: {_shown(variant, scratch, codex_home)}")
    command = shlex.join([sys.executable, str(HERE / "startup.py"), "--runs", str(runs)])
    print(f"reproduce: {command}")


if __name__ == "__main__":
    sys.exit(main())

"""The plan cache end to end: a hit runs the same sandbox as the full path, and goes stale
whenever something the plan depended on changes."""

from __future__ import annotations

import json
import marshal
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import Cli, CliResult

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

#: what a sandbox looks like from inside (no timestamps, no per-session values)
PROBE = (
    "id; pwd; hostname; env | sort; cat /etc/passwd /etc/group /etc/hosts; "
    "ls -A / /tmp ~ /etc; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; "
    "touch /usr/x 2>&1; echo x > ./written && cat written; ls -l /proc/self/fd | wc -l"
)
#: never imported on a cache hit (tests/unit/test_cli_cache.py checks the modules themselves)
HEAVY = (
    "typer",
    "rich",
    "dataclasses",
    "tomllib",
    "subprocess",
    "platformdirs",
    "bwsandbox.policy",
    "bwsandbox.compile",
    "bwsandbox.runtime._sandbox",
    "bwsandbox.runtime._launch",
    "bwsandbox._api",
)


FAST_MARK = "bwsandbox.cli._fastlaunch"
FULL_MARK = "bwsandbox.cli._resolve"  # loading policies: never on a hit


@pytest.fixture
def runtime_dir(cli: Cli) -> Path:
    """The CLI's private runtime dir: the plan cache lives there."""
    assert cli.env["XDG_RUNTIME_DIR"] == str(cli.runtime_dir)
    return cli.runtime_dir


@pytest.fixture
def cached(cli: Cli) -> Cli:
    """The CLI with import tracing on (to tell the fast path from the full one)."""
    cli.env["PYTHONPROFILEIMPORTTIME"] = "1"
    cli.env.pop("AGENT_SANDBOX_PLAN_CACHE", None)
    cli.env.pop("PYTHONDONTWRITEBYTECODE", None)
    return cli


def path_taken(result: CliResult) -> str:
    if FULL_MARK in result.stderr:
        return "full"
    assert FAST_MARK in result.stderr, result.describe()
    return "fast"


def user_stderr(result: CliResult) -> str:
    return "\n".join(line for line in result.stderr.splitlines() if "import time:" not in line)


def entries(runtime_dir: Path) -> list[Path]:
    plans = runtime_dir / "agent-sandbox" / "plans"
    return sorted(plans.iterdir()) if plans.is_dir() else []


def sessions(cli: Cli) -> list[list[dict[str, object]]]:
    root = Path(cli.env["AGENT_SANDBOX_DATA_DIR"]) / "clients" / "default" / "sessions"
    logs = sorted(root.glob("*/audit.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    return [[json.loads(line) for line in log.read_text().splitlines()] for log in logs]


def comparable(event: dict[str, object]) -> dict[str, object]:
    workdir = str(event.get("workdir", "\0"))
    out = {k: v for k, v in event.items() if k not in ("time", "session", "workdir", "duration")}
    argv = out.get("argv")
    if isinstance(argv, list):
        out["argv"] = [str(t).replace(workdir, "{workdir}") for t in argv]
    return out


def test_a_hit_runs_the_same_sandbox(cached: Cli, runtime_dir: Path, project: Path) -> None:
    first = cached("run", "--", "sh", "-c", PROBE)
    assert first.returncode == 0, first.describe()
    assert path_taken(first) == "full"
    [entry] = entries(runtime_dir)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert [p.name for p in project.iterdir()] == ["written"], "placeholders are removed"
    (project / "written").unlink()
    second = cached("run", "--", "sh", "-c", PROBE)
    assert path_taken(second) == "fast"
    imported = [line.split("|")[-1].strip() for line in second.stderr.splitlines() if "|" in line]
    heavy = [n for n in imported if any(n == h or n.startswith(h + ".") for h in HEAVY)]
    assert second.returncode == 0
    assert second.stdout == first.stdout
    assert user_stderr(second) == user_stderr(first)
    full, fast = sessions(cached)
    assert [comparable(e) for e in fast] == [comparable(e) for e in full]
    assert [e["event"] for e in fast] == ["start", "exit"]
    assert cached.leftovers() == [], "the hit removes its work dir too"
    assert [p.name for p in project.iterdir()] == ["written"], "and the placeholders"
    assert heavy == [], "a hit imports none of the heavy modules"


@pytest.mark.parametrize(
    ("script", "status"),
    [("exit 7", 7), ("kill -TERM $$", 143), ("kill -KILL $$", 137), ("exit 0", 0)],
)
def test_exit_statuses_on_a_hit(cached: Cli, script: str, status: int) -> None:
    results = [cached("run", "--", "sh", "-c", script) for _ in range(2)]
    assert [path_taken(r) for r in results] == ["full", "fast"]
    assert [r.returncode for r in results] == [status, status]
    full, fast = sessions(cached)
    assert [comparable(e) for e in fast] == [comparable(e) for e in full]


def test_stdin_and_arguments_pass_through_on_a_hit(cached: Cli) -> None:
    args = ("run", "--", "sh", "-c", 'cat; printf "<%s>" "$@"', "sh", "a b", "-c", "--x")
    results = [cached(*args, input="hello\n") for _ in range(2)]
    assert [path_taken(r) for r in results] == ["full", "fast"]
    assert results[0].stdout == results[1].stdout == "hello\n<a b><-c><--x>"


def test_policy_file_edit_invalidates(cached: Cli, tmp_path: Path) -> None:
    policy = tmp_path / "mine.toml"
    policy.write_text('extends = ["base"]\n[env.set]\nBWSBX_V = "one"\n')
    args = ("run", "--policy", str(policy), "--", "sh", "-c", "echo $BWSBX_V")
    one = [cached(*args) for _ in range(2)]
    assert [(path_taken(r), r.stdout) for r in one] == [("full", "one\n"), ("fast", "one\n")]
    policy.write_text('extends = ["base"]\n[env.set]\nBWSBX_V = "two"\n')
    two = cached(*args)
    assert (path_taken(two), two.stdout) == ("full", "two\n")


@pytest.mark.parametrize("delay", ["0", "1"])
def test_a_policy_edited_by_the_missing_run_itself_is_not_cached_stale(
    cached: Cli, runtime_dir: Path, project: Path, delay: str
) -> None:
    """A miss stores its entry while the command runs: a command that rewrites the policy
    file it was launched with (in place: same inode, same size), before or after that store,
    leaves no entry that launches the old policy."""
    policy = project / "mine.toml"
    policy.write_text('extends = ["base"]\n[env.set]\nBWSBX_V = "one"\n')
    edit = f"sleep {delay}; printf '%s\\n' 'extends = [\"base\"]' '[env.set]' 'BWSBX_V = \"two\"'"
    first = cached("run", "--policy", str(policy), "--", "sh", "-c", f"{edit} > mine.toml")
    assert first.returncode == 0, first.describe()
    assert path_taken(first) == "full"
    assert "two" in policy.read_text(), "the sandbox rewrote the policy (the control)"
    if delay != "0":  # the entry was stored before the edit: its stamps are the old file's
        assert len(entries(runtime_dir)) == 1
    second = cached("run", "--policy", str(policy), "--", "sh", "-c", "echo $BWSBX_V")
    assert second.returncode == 0, second.describe()
    assert (path_taken(second), second.stdout) == ("full", "two\n")


def test_a_policy_broken_by_the_missing_run_keeps_its_exit_status(
    cached: Cli, runtime_dir: Path, project: Path
) -> None:
    """The miss reads the policy again while the command runs: a command that breaks its
    policy file meanwhile (before or after that read) still exits with its own status, and
    the next run reads the broken file (tests/unit/test_cli_cache.py: the read failing)."""
    policy = project / "mine.toml"
    policy.write_text('extends = ["base"]\n')
    args = ("run", "--policy", str(policy), "--", "sh", "-c")
    first = cached(*args, "echo '[broken' > mine.toml; exit 3")
    assert first.returncode == 3, first.describe()
    assert "error:" not in user_stderr(first)
    second = cached(*args, "true")
    assert path_taken(second) == "full"
    assert second.returncode == 125, "control: the policy file is broken for the next run"


def test_new_user_policy_shadowing_a_shipped_one_invalidates(cached: Cli) -> None:
    args = ("run", "--policy", "shell", "--", "sh", "-c", "echo ${BWSBX_SHADOW:-shipped}")
    first = [cached(*args) for _ in range(2)]
    assert [r.stdout for r in first] == ["shipped\n", "shipped\n"]
    user_dir = Path(cached.env["AGENT_SANDBOX_CONFIG_DIR"]) / "policies"
    user_dir.mkdir(parents=True)
    (user_dir / "shell.toml").write_text('extends = ["base"]\n[env.set]\nBWSBX_SHADOW = "user"\n')
    after = cached(*args)
    assert (path_taken(after), after.stdout) == ("full", "user\n")


def test_environment_and_cwd_are_part_of_the_key(
    cached: Cli, project: Path, tmp_path: Path
) -> None:
    args = ("run", "--", "sh", "-c", "echo $LANG; pwd")
    c = cached(*args, env={"LANG": "C"})
    utf8 = cached(*args, env={"LANG": "C.UTF-8"})
    assert (c.stdout, utf8.stdout) == (f"C\n{project}\n", f"C.UTF-8\n{project}\n")
    assert path_taken(utf8) == "full"
    other = tmp_path / "other"
    other.mkdir()
    elsewhere = cached(*args, env={"LANG": "C"}, cwd=other)
    assert (path_taken(elsewhere), elsewhere.stdout) == ("full", f"C\n{other}\n")


def test_a_protected_file_created_later_is_protected_on_the_next_run(
    cached: Cli, project: Path
) -> None:
    """The plan depends on which protected paths exist: creating one must recompile."""
    (project / ".git").mkdir()
    for _ in range(2):
        assert cached("run", "--", "true").returncode == 0
    hooks = project / ".git" / "hooks"
    hooks.mkdir()
    attack = cached("run", "--", "sh", "-c", "echo evil > .git/hooks/pre-commit")
    assert path_taken(attack) == "full"
    assert attack.returncode != 0, attack.describe()
    assert not (hooks / "pre-commit").exists()


def test_a_command_removed_later_is_not_found(cached: Cli, project: Path) -> None:
    tool = project / "tool.sh"
    tool.write_text("#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    for _ in range(2):
        assert cached("run", "--", "./tool.sh").stdout == "tool\n"
    tool.chmod(0o644)
    assert cached("run", "--", "./tool.sh").returncode == 126
    tool.unlink()
    assert cached("run", "--", "./tool.sh").returncode == 127


def test_a_sandbox_that_can_write_the_cache_dir_poisons_nothing(
    cached: Cli, runtime_dir: Path
) -> None:
    """Binding the runtime dir (or the cache in it) is refused before anything runs.

    (The cache also drops every entry a sandbox could have touched; with the bind refused,
    that second defence is no longer reachable from the command line.)
    """
    assert cached("run", "--", "true").returncode == 0
    before = {path: path.read_bytes() for path in entries(runtime_dir)}
    assert before
    plans = runtime_dir / "agent-sandbox" / "plans"
    plant = f"for f in {plans}/*; do echo bad > $f; done; echo bad > {plans}/planted"
    for bound in (runtime_dir, plans):
        result = cached("run", "--rw", str(bound), "--", "sh", "-c", plant)
        assert result.returncode == 125, result.describe()
        assert len(result.error_lines) == 1, result.describe()
    assert {path: path.read_bytes() for path in entries(runtime_dir)} == before, "untouched"
    assert not (plans / "planted").exists()
    again = cached("run", "--", "true")
    assert again.returncode == 0, again.describe()


def test_keep_workdir_on_a_hit(cached: Cli) -> None:
    results = [cached("run", "--keep-workdir", "--", "sh", "-c", "echo hi > /tmp/f") for _ in "ab"]
    assert [path_taken(r) for r in results] == ["full", "fast"]
    kept = [
        line.rsplit(" ", 1)[1]
        for r in results
        for line in r.stderr.splitlines()
        if "kept the work dir" in line
    ]
    assert len(kept) == 2
    assert kept[0] != kept[1]
    assert (Path(kept[1]) / "tmp" / "f").read_text() == "hi\n"


def test_cache_off(cached: Cli, runtime_dir: Path) -> None:
    for _ in range(2):
        result = cached("run", "--", "true", env={"AGENT_SANDBOX_PLAN_CACHE": "0"})
        assert path_taken(result) == "full"
    assert entries(runtime_dir) == []


def test_hit_keeps_the_uid_mapping(cached: Cli) -> None:
    expected = "1000" if os.geteuid() == 0 else str(os.getuid())
    results = [cached("run", "--", "id", "-u") for _ in "ab"]
    assert [path_taken(r) for r in results] == ["full", "fast"]
    assert [r.stdout.strip() for r in results] == [expected, expected]


def test_setup_failure_on_a_hit_is_one_error_and_drops_the_entry(
    cached: Cli, runtime_dir: Path
) -> None:
    """A cached plan that bwrap cannot set up (forced here) fails like the full path does."""
    assert cached("run", "--", "true").returncode == 0
    [entry] = entries(runtime_dir)
    data = marshal.loads(entry.read_bytes())
    argv = data["recipe"]["argv"]
    cut = argv.index("--")
    argv[cut:cut] = ["--bind", "/nonexistent/bwsbx-src", "/bwsbx-dest"]
    entry.write_bytes(marshal.dumps(data))
    result = cached("run", "--", "true")
    assert path_taken(result) == "fast"
    assert result.returncode == 125, result.describe()
    [line] = result.error_lines
    assert "bwrap could not set up the sandbox" in line
    assert "bwsbx-src" in line, "bwrap's own message, from a silent second try"
    assert entries(runtime_dir) == [], "the entry is dropped: the next run takes the full path"
    assert cached.leftovers() == []
    exit_event = sessions(cached)[-1][-1]
    assert exit_event["event"] == "exit"
    assert "bwsbx-src" in str(exit_event["error"])
    again = cached("run", "--", "true")
    assert (path_taken(again), again.returncode) == ("full", 0)


def test_a_replaced_protected_symlink_is_restored_after_a_hit(cached: Cli, project: Path) -> None:
    """The runtime's after-session checks of protected paths run on a hit too."""
    (project / ".git").mkdir()
    (project / "real-config").write_text("[core]\n")
    (project / ".git" / "config").symlink_to("../real-config")
    attack = "rm -f .git/config && echo evil > .git/config"
    results = [cached("run", "--", "sh", "-c", attack) for _ in "ab"]
    assert [path_taken(r) for r in results] == ["full", "fast"]
    for result in results:
        assert any(line.startswith("warning: ") for line in result.stderr.splitlines()), (
            result.describe()
        )
    assert (project / ".git" / "config").is_symlink()
    assert (project / ".git" / "config").readlink() == Path("../real-config")
    full, fast = sessions(cached)
    assert [comparable(e)["event"] for e in fast] == [comparable(e)["event"] for e in full]


OPTION_SETS = [
    ["--network", "host"],
    ["--env", "BWSBX_SET=1", "--env", "BWSBX_PASSED", "--env", "LANG"],
    ["--policy", "shell"],
    ["--ro", "/usr/share/doc", "--client", "c2"],
    ["--keep-workdir"],
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=" ".join)
def test_same_sandbox_for_each_option_set(cached: Cli, project: Path, options: list[str]) -> None:
    """The same argv (audit), environment and view from inside, full path and hit."""
    env = {"BWSBX_PASSED": "host-value", "LANG": "C.UTF-8"}
    args = ("run", *options, "--", "sh", "-c", "env | sort; ls -A / /usr/share/doc | wc -l")
    first, second = (cached(*args, env=env) for _ in "ab")
    assert [path_taken(r) for r in (first, second)] == ["full", "fast"]
    assert first.returncode == second.returncode == 0, first.describe()
    assert second.stdout == first.stdout
    client = options[options.index("--client") + 1] if "--client" in options else "default"
    root = Path(cached.env["AGENT_SANDBOX_DATA_DIR"]) / "clients" / client / "sessions"
    logs = sorted(root.glob("*/audit.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    full, fast = ([json.loads(line) for line in log.read_text().splitlines()] for log in logs)
    assert [comparable(e) for e in fast] == [comparable(e) for e in full]
    if "BWSBX_SET=1" in options:
        assert "BWSBX_PASSED=host-value\nBWSBX_SET=1\n" in first.stdout

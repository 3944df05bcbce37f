"""What the start-up path imports, without the plan cache (issue 11: cold, filtered, agent).

Each row of ``bench/startup.py`` runs here for real (``python -X importtime``, the cache off)
and the modules it loaded are read from the trace. A module that has no business on a row
(``ssl`` before any TLS, ``ipaddress`` with no IP rule, the network for ``--network none``,
typer on a well-formed command line, the plan cache's recipe when the cache is off) shows up
here, not as a millisecond lost in the benchmark's noise. No timing is asserted.

The controls: each test also finds, in the same trace, a module its row does load (the
launch; the network session; the key injector), and ``python -X importtime -c 'import ssl,
ipaddress, dataclasses'`` is read by the same parser and caught, so an empty finding is not a
blind parser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.unit.test_startup_imports import TYPING_TRIPWIRE, typing_users

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

#: on no start-up row before the command runs: TLS is loaded on the first inspected or
#: injected request, the plan cache's recipe and fast launcher only with the cache on
NEVER = (
    "ssl",
    "_ssl",
    "cryptography",
    "typer",
    "click",
    "asyncio",
    "subprocess",
    "tempfile",
    "shutil",
    "pathlib",
    "platformdirs",
    "hashlib",
    "bwsandbox.cli._app",
    "bwsandbox.cli._recipe",
    "bwsandbox.cli._fastlaunch",
    "bwsandbox.compile._gpu",
    # the shipped policies' syscall filters are stored (compile/_seccomp_shipped.py)
    "bwsandbox.compile._seccomp",
    "bwsandbox.policy._syscalls",
    "bwsandbox.doctor",
    "bwsandbox.mcp",
    # the value classes are @record (bwsandbox/_record.py), not dataclasses: no dataclasses,
    # and none of the inspect (ast, dis, tokenize) it imports
    "dataclasses",
    "inspect",
    "ast",
    "dis",
    "tokenize",
)
#: ``run -- true`` (network none, no rules, no secrets) loads none of the network, no agent
#: code, no threads
NOT_COLD = (
    *NEVER,
    "ipaddress",
    "socket",
    "ctypes",
    "threading",
    "tomllib",  # only user or edited policies are parsed: the shipped ones are stored
    "datetime",
    "json",  # JSON is written by bwsandbox._jsontext; read only off the start-up path
    "fnmatch",  # the shipped env globs (TERM, LC_*) are matched without it
    "string",  # came with tomllib
    "typing",  # came with tomllib; bwsandbox's modules use TYPE_CHECKING = False
    "bwsandbox.net",
    "bwsandbox.agents",
    "bwsandbox._netrules",  # the rule grammar: loaded for a plan with rules
    "bwsandbox.compile._delivery",  # secret deliveries: loaded for a plan with secrets
)


#: a filtered run that makes no connection: the proxy, the DNS responder and what they use
#: load with the first connection or lookup, the watchers' queue with the first watcher
#: (the namespace helper's ctypes and netlink modules are in the trace: it shares stderr)
FILTERED_IDLE = (
    "queue",
    "json",  # the control socket's messages: with the first one
    "typing",  # the gate's Protocols and AuditSink are for the type checker only
    "bwsandbox.net._proxy",
    "bwsandbox.net._dns",
    "bwsandbox.net._http1",
    "bwsandbox.net._sniff",
    "bwsandbox.net._inject",
    "bwsandbox.net._remember",
)


#: nor, before its command runs or after: the network modules read no JSON (the control
#: socket's first request loads json) and use no ``typing`` (their Protocols are type-only)
FILTERED_NEVER = ("json", "typing")


def imported(stderr: str) -> set[str]:
    """The module names in a ``-X importtime`` trace."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def loaded(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


@pytest.fixture
def traced(cli: Cli) -> Cli:
    """The CLI without the plan cache, tracing its imports, bytecode as installed."""
    cli.env["PYTHONPROFILEIMPORTTIME"] = "1"
    cli.env["AGENT_SANDBOX_PLAN_CACHE"] = "0"
    cli.env.pop("PYTHONDONTWRITEBYTECODE", None)
    return cli


def test_the_trace_parser_sees_what_is_loaded() -> None:
    """Control for the parser: a process that does import ssl is seen doing it."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ssl, ipaddress, dataclasses"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    found = set(loaded(imported(result.stderr), NOT_COLD))
    assert {"ssl", "_ssl", "ipaddress", "dataclasses", "inspect", "ast", "dis"} <= found


def test_cold_run_imports_no_network_tls_or_cache(traced: Cli) -> None:
    result = traced("run", "--", "true")
    assert result.returncode == 0, result.describe()
    names = imported(result.stderr)
    assert "bwsandbox.runtime._sandbox" in names, "control: the trace covers the launch"
    assert loaded(names, NOT_COLD) == []


#: a plan-cache miss (the first run of a command line) loads what a cold run does, plus the
#: cache's own modules: no tempfile (shutil, bz2, lzma, random), no json, no hashlib
NOT_MISS = tuple(n for n in NOT_COLD if n != "bwsandbox.cli._recipe")


def test_cache_miss_imports_what_a_cold_run_does(traced: Cli) -> None:
    traced.env.pop("AGENT_SANDBOX_PLAN_CACHE")
    result = traced("run", "--", "true")
    assert result.returncode == 0, result.describe()
    names = imported(result.stderr)
    plans = traced.runtime_dir / "agent-sandbox" / "plans"
    assert "bwsandbox.cli._recipe" in names, "control: the trace covers the miss"
    assert len(list(plans.iterdir())) == 1, "control: the miss stored its entry"
    assert loaded(names, NOT_MISS) == []


@pytest.mark.netns
def test_filtered_run_imports_the_network_but_no_tls(traced: Cli) -> None:
    result = traced("run", "--network", "filtered", "--allow", "example.com", "--", "true")
    assert result.returncode == 0, result.describe()
    names = imported(result.stderr)
    # control: what the filtered row needs is there (the same trace, the same parser)
    assert {"bwsandbox.net._session", "bwsandbox.net._netns", "ipaddress"} <= names
    assert loaded(names, NEVER) == []
    assert "bwsandbox.net._summary" not in names, "nothing was denied: no denial report"
    assert loaded(names, FILTERED_IDLE) == [], "no connection, no lookup: no proxy"
    assert loaded(names, FILTERED_NEVER) == []


@pytest.mark.netns
def test_control_a_denial_loads_the_report(traced: Cli) -> None:
    """Control for the checks above: a denied lookup and a denied connection (the proxy
    resets it: ``cat`` waits for that) load the DNS responder, the proxy and the report."""
    script = (
        "exec 3<>/dev/tcp/example.org/80 2>/dev/null; "
        "exec 4<>/dev/tcp/192.0.2.1/80 2>/dev/null && cat <&4 >/dev/null 2>&1; true"
    )
    result = traced(
        "run", "--network", "filtered", "--allow", "example.com", "--", "bash", "-c", script
    )
    assert result.returncode == 0, result.describe()
    names = imported(result.stderr)
    assert "bwsandbox.net._summary" in names
    assert {"bwsandbox.net._proxy", "bwsandbox.net._dns"} <= names
    assert "example.org" in result.stderr
    assert "192.0.2.1" in result.stderr


@pytest.mark.netns
def test_agent_profile_with_key_injection_loads_no_tls_before_a_request(
    traced: Cli, tmp_path: Path
) -> None:
    """The claude profile with an API key: the proxy injects it, but ``ssl`` waits for the
    first request to the API (none here: the stub agent exits at once)."""
    stub = tmp_path / "bin" / "claude"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    env = {"BWSANDBOX_AGENT_BIN_CLAUDE": str(stub), "ANTHROPIC_API_KEY": "sk-ant-fake-key"}
    result = traced("claude", env=env)
    assert result.returncode == 0, result.describe()
    names = imported(result.stderr)
    # control: the key is injected (the injector is loaded), the agent code ran
    assert {"bwsandbox.net._inject", "bwsandbox.agents._prepare"} <= names
    assert loaded(names, NEVER) == []


def _python(cli: Cli, code: str, *args: str) -> str:
    """Run ``code`` (``python -c``) as the CLI would run, the cache off; its stderr."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**cli.env, "AGENT_SANDBOX_PLAN_CACHE": "0"},
        cwd=cli.cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def _run_with_typing_tripwire(cli: Cli, prelude: str = "") -> list[str]:
    code = (
        TYPING_TRIPWIRE
        + prelude
        + "import runpy\nsys.argv = ['agent-sandbox', 'run', '--', 'true']\n"
        + "runpy.run_module('bwsandbox.cli', run_name='__main__')\n"
    )
    return typing_users(_python(cli, code))


def test_cold_run_bwsandbox_modules_do_not_use_typing(cli: Cli) -> None:
    """No bwsandbox module of ``run -- true`` uses ``typing`` at run time (``tomllib`` still
    imports it for the policy files: the pin is on our modules, see the unit test)."""
    assert _run_with_typing_tripwire(cli) == []


def test_control_the_tripwire_sees_a_module_that_uses_typing(cli: Cli) -> None:
    assert "bwsandbox._api" in _run_with_typing_tripwire(cli, "import bwsandbox._api\n")


#: what ``run -- true`` loads only once bwrap is spawned, while bwrap sets up its mounts on
#: another core: the audit log and the ``start`` record, the command lookup, the git
#: snapshot, the supervisor, the scan for planted repositories, the session registry
AFTER_SPAWN = (
    # with the cache off only its exposure check runs (a writable bind over the cache dir
    # clears it), after the spawn: cli/_spec.py may_cache
    "bwsandbox.cli._plancache",
    "_blake2",
    "bwsandbox._audit",
    "bwsandbox.policy._digest",
    "bwsandbox.policy._render",
    "bwsandbox.runtime._resolve",
    "bwsandbox.runtime._githistory",
    "bwsandbox.runtime._gitstate",
    "bwsandbox.runtime._gitscan",
    "bwsandbox.runtime._nested",
    "bwsandbox.runtime._supervise",
    "bwsandbox.runtime._registry",
    "select",
    "signal",  # its enums; the launcher spawns with _signal's numbers
)
#: Python that prints the loaded modules when bwrap is spawned and at the end, then runs the
#: command line in ``sys.argv`` as ``python -m bwsandbox.cli`` does
_AT_SPAWN = """
import sys
import bwsandbox.runtime._launcher as launcher

real = launcher.spawn_bwrap

def spawn(*args, **kwargs):
    print("at spawn:", *sorted(sys.modules), file=sys.stderr)
    return real(*args, **kwargs)

launcher.spawn_bwrap = spawn
from bwsandbox.cli._dispatch import dispatch

status = dispatch(sys.argv[1:])
print("at the end:", *sorted(sys.modules), file=sys.stderr)
sys.exit(status)
"""


def _modules_at(cli: Cli, *args: str) -> dict[str, set[str]]:
    found = {}
    stderr = _python(cli, _AT_SPAWN, *args)
    for line in stderr.splitlines():
        when, sep, names = line.partition(": ")
        if sep and when in ("at spawn", "at the end"):
            found[when] = set(names.split())
    assert set(found) == {"at spawn", "at the end"}, stderr
    return found


def test_cold_run_loads_the_rest_after_bwrap_is_spawned(cli: Cli, project: Path) -> None:
    """What the command must not start without, but bwrap's argv does not need, is loaded
    and done while bwrap sets up (a project with a git repository: the git snapshot runs)."""
    (project / ".git" / "refs" / "heads").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    found = _modules_at(cli, "run", "--", "true")
    # control: the compiler and the launcher are loaded before the spawn, and every module
    # of AFTER_SPAWN is loaded by the end of the same run
    assert {"bwsandbox.compile._compiler", "bwsandbox.runtime._launcher"} <= found["at spawn"]
    assert set(AFTER_SPAWN) <= found["at the end"]
    assert sorted(set(AFTER_SPAWN) & found["at spawn"]) == []

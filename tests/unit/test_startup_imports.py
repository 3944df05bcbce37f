"""The modules of the cold start-up path (``run -- true``, no plan cache) import no TLS, no IP
parsing, no network and no threads at module level. tests/sandbox/test_startup_imports.py
runs the real command lines; this one needs no bwrap. No timing is asserted."""

from __future__ import annotations

import functools
import subprocess
import sys

#: the modules ``agent-sandbox run -- true`` loads with the cache off (see the sandbox test)
RUN_PATH = (
    "bwsandbox.cli",
    "bwsandbox.cli._dispatch",
    "bwsandbox.cli._runcmd",
    "bwsandbox.cli._plancache",
    "bwsandbox.cli._resolve",
    "bwsandbox._prepare",
    "bwsandbox._audit",
    "bwsandbox.policy._load",
    "bwsandbox.compile._compiler",
    "bwsandbox.compile._seccomp",
    "bwsandbox.runtime._prepared",
    "bwsandbox.runtime._probe",
    "bwsandbox.runtime._workdir",
    "bwsandbox.runtime._sandbox",
)
FORBIDDEN = (
    "ssl",
    "_ssl",
    "cryptography",
    "ipaddress",
    "socket",
    "threading",
    "ctypes",
    "typer",
    "subprocess",
    "tempfile",
    "pathlib",
    "platformdirs",
    "bwsandbox.net",
    "bwsandbox._netrules",
    "bwsandbox.compile._delivery",
    "bwsandbox.agents",
    "bwsandbox.cli._recipe",
    "bwsandbox.cli._fastlaunch",
)


def _loaded_after(modules: tuple[str, ...]) -> list[str]:
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted(n for n in out if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))


def test_the_cold_run_path_imports_none_of_them() -> None:
    assert _loaded_after(RUN_PATH) == []


def test_control_the_filtered_path_does_import_the_network() -> None:
    """The same check sees the modules a filtered session needs when it loads them."""
    found = _loaded_after((*RUN_PATH, "bwsandbox.net._session"))
    assert {"bwsandbox.net._session", "socket", "ipaddress", "ctypes"} <= set(found)
    assert "ssl" not in found, "TLS waits for the first inspected or injected request"


#: what an agent profile with key injection loads on top of the filtered path (the agent
#: code, the secret deliveries, the proxy's injector)
AGENT_PATH = (
    "bwsandbox.agents._prepare",
    "bwsandbox.compile._secrets",
    "bwsandbox.runtime._secrets",
    "bwsandbox.net._inject",
)
FILTERED_PATH = (*RUN_PATH, "bwsandbox.net._session")


@functools.cache
def _modules(loaded: tuple[str, ...]) -> frozenset[str]:
    code = f"import sys\nfor m in {loaded!r}: __import__(m)\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return frozenset(done.stdout.split())


def _added(extra: tuple[str, ...]) -> set[str]:
    """The modules ``extra`` loads on top of the filtered path."""
    return set(_modules((*FILTERED_PATH, *extra)) - _modules(FILTERED_PATH))


def test_the_agent_path_adds_only_its_own_modules() -> None:
    """No stdlib module (json, subprocess, ssl, hashlib...) and no client listing or SSH
    signing: an agent profile costs its own few modules over ``--network filtered``."""
    added = _added(AGENT_PATH)
    assert "bwsandbox.agents._specs" in added, "control: the agent code is loaded"
    assert sorted(n for n in added if not n.startswith("bwsandbox.")) == []
    assert not added & {"bwsandbox.agents._clients", "bwsandbox.runtime._ssh"}


def test_control_ssh_signing_adds_stdlib_modules() -> None:
    """The same check sees what a heavier secret delivery (SSH certificates) would add."""
    added = _added((*AGENT_PATH, "bwsandbox.runtime._ssh"))
    assert {"subprocess", "tempfile"} <= added

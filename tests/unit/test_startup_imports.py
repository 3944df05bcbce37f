"""The modules of the cold start-up path (``run -- true``, no plan cache) import no TLS, no IP
parsing, no network and no threads at module level. tests/sandbox/test_startup_imports.py
runs the real command lines; this one needs no bwrap. No timing is asserted."""

from __future__ import annotations

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

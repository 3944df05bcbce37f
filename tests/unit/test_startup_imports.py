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


#: what a filtered session loads before its command runs: the session, then in ``attach``
#: the gate, the serving loop and the control socket
ATTACH_PATH = (
    "bwsandbox.net._session",
    "bwsandbox.net._gate",
    "bwsandbox.net._serve",
    "bwsandbox.net._control",
    "bwsandbox.net._live",
)
#: loaded by the namespace helper (after its fork), by the first connection or lookup
#: (the proxy, the DNS responder), by the first watcher (queue), or at teardown after a
#: denial: never by the session before its command runs
NOT_ATTACH = (
    "ssl",
    "ctypes",
    "queue",
    "shlex",
    "bwsandbox.net._netlink",
    "bwsandbox.net._nft",
    "bwsandbox.net._proxy",
    "bwsandbox.net._dns",
    "bwsandbox.net._http1",
    "bwsandbox.net._sniff",
    "bwsandbox.net._inject",
    "bwsandbox.net._tls_ca",
    "bwsandbox.net._tls_inspect",
    "bwsandbox.net._remember",
    "bwsandbox.net._summary",
)


def _loaded_after(modules: tuple[str, ...], forbidden: tuple[str, ...] = FORBIDDEN) -> list[str]:
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted(n for n in out if any(n == f or n.startswith(f + ".") for f in forbidden))


def test_the_cold_run_path_imports_none_of_them() -> None:
    assert _loaded_after(RUN_PATH) == []


def test_control_the_filtered_path_does_import_the_network() -> None:
    """The same check sees the modules a filtered session needs when it loads them."""
    found = _loaded_after((*RUN_PATH, "bwsandbox.net._session"))
    assert {"bwsandbox.net._session", "socket", "ipaddress"} <= set(found)
    assert "ssl" not in found, "TLS waits for the first inspected or injected request"


def test_a_filtered_session_loads_no_proxy_helper_or_tls_before_the_command() -> None:
    assert _loaded_after((*RUN_PATH, *ATTACH_PATH), NOT_ATTACH) == []


def test_control_the_first_connection_loads_the_proxy() -> None:
    """The same check sees the proxy's modules when the first connection loads them."""
    found = _loaded_after((*RUN_PATH, *ATTACH_PATH, "bwsandbox.net._proxy"), NOT_ATTACH)
    assert {"bwsandbox.net._proxy", "bwsandbox.net._http1", "bwsandbox.net._sniff"} <= set(found)

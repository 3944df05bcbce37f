"""An agent profile adds only its own modules to the filtered start-up path: the agent code
(``agents/``) and the key injection (secret deliveries, the proxy's injector), and no module
of the standard library (no ``json``, ``subprocess``, ``ssl``, ``hashlib``...). The real
command line is checked in tests/sandbox/test_startup_imports_agent.py. No timing is asserted.
"""

from __future__ import annotations

import subprocess
import sys

from tests.unit.test_startup_imports import RUN_PATH

#: what an agent profile with key injection loads on top of the filtered path
AGENT_PATH = (
    "bwsandbox.agents._prepare",
    "bwsandbox.compile._secrets",
    "bwsandbox.runtime._secrets",
    "bwsandbox.net._inject",
)
FILTERED_PATH = (*RUN_PATH, "bwsandbox.net._session")
#: agent code that belongs to other commands (``clients``), to other secret deliveries, or to
#: the first injected request (the proxy's HTTP side of key injection)
NOT_AGENT = ("bwsandbox.agents._clients", "bwsandbox.runtime._ssh", "bwsandbox.net._inject_http")

_SEEN: dict[tuple[str, ...], frozenset[str]] = {}


def _modules(imports: tuple[str, ...]) -> frozenset[str]:
    if imports not in _SEEN:
        code = f"import sys\nfor m in {imports!r}: __import__(m)\nprint('\\n'.join(sys.modules))"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        _SEEN[imports] = frozenset(done.stdout.split())
    return _SEEN[imports]


def _added(extra: tuple[str, ...]) -> set[str]:
    """The modules ``extra`` loads on top of the filtered path."""
    return set(_modules((*FILTERED_PATH, *extra)) - _modules(FILTERED_PATH))


def test_the_agent_path_adds_only_its_own_modules() -> None:
    added = _added(AGENT_PATH)
    assert "bwsandbox.agents._specs" in added, "control: the agent code is loaded"
    assert sorted(n for n in added if not n.startswith("bwsandbox.")) == []
    assert not added & set(NOT_AGENT)


def test_control_ssh_signing_adds_stdlib_modules() -> None:
    """The same check sees what a heavier secret delivery (SSH certificates) would add."""
    added = _added((*AGENT_PATH, "bwsandbox.runtime._ssh"))
    assert {"subprocess", "tempfile"} <= added


#: a session's injector answering one (malformed) request from the sandbox, as the proxy does
_FIRST_REQUEST = """
import socket, sys
from bwsandbox.net._inject import Injector
from bwsandbox.net._injection import Injection

class Gate:
    def deny(self, denied, proto, **extra):
        print("denied", denied.reason)

injector = Injector([Injection("key", "api.example.com.proxy.internal", "api.example.com", 443,
                               "x-api-key", "secret")])
print("before", "bwsandbox.net._inject_http" in sys.modules)
ours, theirs = socket.socketpair()
theirs.sendall(b"GET / HTTP/1.1\\nHost: x\\r\\n\\r\\n")
injector.serve(Gate(), ours, "api.example.com.proxy.internal", b"")
print("after", "bwsandbox.net._inject_http" in sys.modules)
"""


def test_control_the_first_injected_request_loads_the_http_side() -> None:
    """The injector is made at start-up without its HTTP side; the first request loads it."""
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUEST], capture_output=True, text=True, check=True
    )
    before, denied, after = done.stdout.splitlines()[:3]
    assert (before, after) == ("before False", "after True")
    assert denied.startswith("denied HTTP: "), "control: the request was answered (refused)"

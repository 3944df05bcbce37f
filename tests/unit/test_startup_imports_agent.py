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
#: agent code that belongs to other commands (``clients``), or to other secret deliveries
NOT_AGENT = ("bwsandbox.agents._clients", "bwsandbox.runtime._ssh")

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

"""Test helpers for code that uses bwsandbox, and for bwsandbox's own tests (public API).

::

    fake_host_facts(...)          a HostFacts for the pure compiler, without probing the host
    MemoryAudit()                 an audit sink keeping events in a list (``.events``)
    serve_http()                  loopback servers (context managers, 127.0.0.1) for sandboxes
    serve_tcp_recorder()            to reach through allowed names, or to prove they did not
    serve_tls(dir) / serve_lenient_http()
    start_sandbox(cmd, allow=...) a real sandbox through the library's launch path: talk to
    run_sandbox(cmd, allow=...)     it (stdin, stdout, child_pid), then finish() -> SandboxResult

The pytest plugin (``-p bwsandbox``, see :mod:`bwsandbox.pytest_plugin`) offers some of these
as fixtures. Attributes load lazily; nothing on the CLI's start-up path imports this package.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False

__all__ = [
    "LenientHttpServer",
    "MemoryAudit",
    "Running",
    "SandboxResult",
    "TcpRecorder",
    "TlsServer",
    "fake_host_facts",
    "run_sandbox",
    "serve_http",
    "serve_lenient_http",
    "serve_tcp_recorder",
    "serve_tls",
    "start_sandbox",
]

_LAZY: dict[str, str] = {
    "MemoryAudit": "bwsandbox._audit",
    "fake_host_facts": "bwsandbox.testing._facts",
    "LenientHttpServer": "bwsandbox.testing._loopback",
    "TcpRecorder": "bwsandbox.testing._loopback",
    "TlsServer": "bwsandbox.testing._loopback",
    "serve_http": "bwsandbox.testing._loopback",
    "serve_lenient_http": "bwsandbox.testing._loopback",
    "serve_tcp_recorder": "bwsandbox.testing._loopback",
    "serve_tls": "bwsandbox.testing._loopback",
    "Running": "bwsandbox.testing._launch",
    "SandboxResult": "bwsandbox.testing._launch",
    "run_sandbox": "bwsandbox.testing._launch",
    "start_sandbox": "bwsandbox.testing._launch",
}

if TYPE_CHECKING:
    from bwsandbox._audit import MemoryAudit
    from bwsandbox.testing._facts import fake_host_facts
    from bwsandbox.testing._launch import Running, SandboxResult, run_sandbox, start_sandbox
    from bwsandbox.testing._loopback import (
        LenientHttpServer,
        TcpRecorder,
        TlsServer,
        serve_http,
        serve_lenient_http,
        serve_tcp_recorder,
        serve_tls,
    )

__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

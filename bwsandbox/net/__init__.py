"""Sandbox networking: modes none/host/filtered. Filtered mode lives in private modules here.

``open_network(plan.network, audit=..., session_id=...)`` returns a :class:`NetworkSession`;
the runtime calls ``attach(child_pid)`` while bwrap waits on ``--block-fd``, then ``close()``
and ``summary()`` at exit. ``start_listeners(child_pid)`` forks the namespace helper before
the session's modules load (``listeners=`` of ``open_network``), so the two overlap.

This face is what other packages import (tests/unit/test_layers.py); attributes load lazily.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

__all__ = [
    "Decision",
    "Injection",
    "NetworkSession",
    "Question",
    "connect",
    "control_path",
    "fill_bundle",
    "limits_for",
    "open_network",
    "send_request",
    "start_listeners",
]

_LAZY: dict[str, str] = {
    "fill_bundle": "bwsandbox.net._tls_ca",
    "connect": "bwsandbox.net._control",
    "Question": "bwsandbox.net._ask",
    "Decision": "bwsandbox.net._ask",
    "NetworkSession": "bwsandbox.net._session",
    "open_network": "bwsandbox.net._session",
    "Injection": "bwsandbox.net._injection",
    "control_path": "bwsandbox.net._control",
    "send_request": "bwsandbox.net._control",
    "limits_for": "bwsandbox.net._live",
    "start_listeners": "bwsandbox.net._netns",
}

if TYPE_CHECKING:
    from bwsandbox.net._ask import Decision, Question
    from bwsandbox.net._control import connect, control_path, send_request
    from bwsandbox.net._injection import Injection
    from bwsandbox.net._live import limits_for
    from bwsandbox.net._netns import start_listeners
    from bwsandbox.net._session import NetworkSession, open_network
    from bwsandbox.net._tls_ca import fill_bundle


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

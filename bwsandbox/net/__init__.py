"""Sandbox networking: modes none/host/filtered. Filtered mode lives in private modules here.

``open_network(plan.network, audit=..., session_id=...)`` returns a :class:`NetworkSession`;
the runtime calls ``attach(child_pid)`` while bwrap waits on ``--block-fd``, then ``close()``
and ``summary()`` at exit. Importing this package is cheap; the session modules load on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bwsandbox._audit import AuditSink
    from bwsandbox.compile._plan import NetworkPlan
    from bwsandbox.net._injection import Injection
    from bwsandbox.net._session import NetworkSession
    from bwsandbox.net._tls_ca import SessionCA

__all__ = ["NetworkSession", "open_network"]


def open_network(
    plan: NetworkPlan,
    *,
    audit: AuditSink | None = None,
    session_id: str = "",
    injections: Sequence[Injection] = (),
    quiet: Sequence[str] = (),
    ca: SessionCA | None = None,
) -> NetworkSession:
    from bwsandbox.net._session import open_network as _open

    return _open(
        plan, audit=audit, session_id=session_id, injections=injections, quiet=quiet, ca=ca
    )


def __getattr__(name: str) -> Any:
    if name == "NetworkSession":
        from bwsandbox.net._session import NetworkSession

        return NetworkSession
    raise AttributeError(name)

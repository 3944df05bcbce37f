"""The session audit log: one JSON object per line, append-only, flushed per event.

Every event has ``time`` (RFC 3339, UTC, ms), ``event`` and ``session``. Network decisions use
``event = "net"`` with at least ``host``, ``port``, ``proto`` and ``decision`` (``allow`` or
``deny``), plus ``rule`` and ``bytes_in``/``bytes_out`` when known. Secrets are recorded by name
only, never by value.
"""

# os.path on purpose: imported on the start-up path, where pathlib costs milliseconds
# ruff: noqa: PTH103, PTH120

from __future__ import annotations

import os
import time
from _thread import allocate_lock  # threading's Lock, without importing threading (0.5 ms)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

__all__ = ["AuditLog", "AuditSink", "MemoryAudit", "NullAudit"]


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


if TYPE_CHECKING:

    class AuditSink(Protocol):
        def event(self, event: str, /, **fields: Any) -> None: ...

else:

    def __getattr__(name: str) -> object:
        """``AuditSink`` at run time (PEP 562): ``typing`` loads when it is used, not before."""
        if name != "AuditSink":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from typing import Protocol

        class AuditSink(Protocol):
            def event(self, event: str, /, **fields: Any) -> None: ...

        AuditSink.__qualname__ = "AuditSink"
        globals()["AuditSink"] = AuditSink
        return AuditSink


class AuditLog:
    """Appends events to ``path`` (created 0600, parent dirs 0700)."""

    def __init__(self, path: str, session: str) -> None:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.path = path
        self.session = session
        self._lock = allocate_lock()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def event(self, event: str, /, **fields: Any) -> None:
        record = {"time": _now(), "event": event, "session": self.session, **fields}
        from bwsandbox._jsontext import dumps  # json.dumps's text without json (start-up)

        line = dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class MemoryAudit:
    """Keeps events in a list (tests, library users)."""

    def __init__(self, session: str = "test") -> None:
        self.session = session
        self.events: list[dict[str, Any]] = []
        self._lock = allocate_lock()

    def event(self, event: str, /, **fields: Any) -> None:
        with self._lock:
            self.events.append({"time": _now(), "event": event, "session": self.session, **fields})


class NullAudit:
    def event(self, event: str, /, **fields: Any) -> None:
        return None

"""``agent-sandbox logs``: print a session's audit log, filtered by event, or follow it.

Following reads new lines as the session appends them (like ``tail -f``) and ends on its own
once the session is over: after the ``exit`` event, when the log has been quiet for
:data:`SETTLE` seconds (teardown events such as ``protected-path`` come after ``exit``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Iterator
from typing import BinaryIO

__all__ = ["POLL", "SETTLE", "audit_lines", "session_dirs"]

#: seconds between reads while following
POLL = 0.2
#: seconds without new lines after ``exit`` before following ends
SETTLE = 1.0


def session_dirs(sessions: str) -> list[os.DirEntry[str]]:
    """The session directories in ``sessions``, oldest first (OSError propagates)."""
    try:
        entries = [e for e in os.scandir(sessions) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    return sorted(entries, key=lambda e: (e.stat(follow_symlinks=False).st_mtime_ns, e.name))


def _event_of(line: bytes) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return ""
    return str(record.get("event", "")) if isinstance(record, dict) else ""


def audit_lines(
    file: BinaryIO,
    *,
    events: Collection[str] = (),
    follow: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """The lines of an audit log (only ``events`` when given); with ``follow``, also those
    written later, until the session has exited and the log settled."""
    pending = b""
    ended_at: float | None = None
    while True:
        chunk = file.readline()
        if chunk:
            pending += chunk
            if not pending.endswith(b"\n"):
                continue  # a line being written: wait for the rest
            line, pending = pending, b""
            name = _event_of(line)
            if name == "exit" or ended_at is not None:
                ended_at = clock()  # the session is over: wait for the log to settle
            if not events or name in events:
                yield line
            continue
        if not follow:
            if pending and (not events or _event_of(pending) in events):
                yield pending
            return
        if ended_at is not None and clock() - ended_at >= SETTLE:
            return
        sleep(POLL)

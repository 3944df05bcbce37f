"""Copy bytes between two connected sockets, one thread per direction, zero-copy via splice.

``splice(2)`` moves data socket -> pipe -> socket inside the kernel; where it is refused
(not a plain TCP socket) a recv/send loop takes over. Blocking sockets only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket

__all__ = ["name_native_thread", "pump", "pump_exact", "reset"]

_CHUNK = 1 << 16
_BULK_CHUNK = 1 << 20
#: once a direction has moved this much it is a bulk transfer: grow its pipe (fewer syscalls)
_BULK_AFTER = 4 << 20
_F_SETPIPE_SZ = 1031


def pump(source: socket.socket, sink: socket.socket) -> int:
    """Copy until EOF or error, then half-close ``sink``; returns the bytes copied."""
    total = 0
    try:
        total = _splice(source, sink)
    except OSError:
        # a reset on either side ends both directions
        for sock in (source, sink):
            _shutdown(sock, socket.SHUT_RDWR)
        return total
    _shutdown(sink, socket.SHUT_WR)
    return total


def pump_exact(source: socket.socket, sink: socket.socket, size: int) -> int:
    """Copy exactly ``size`` bytes (fewer at EOF); no shutdown. Raises ``OSError``."""
    return _splice(source, sink, size) if size else 0


def _splice(source: socket.socket, sink: socket.socket, limit: int | None = None) -> int:
    total = 0
    read_end, write_end = os.pipe()
    try:
        src, dst = source.fileno(), sink.fileno()
        chunk = _CHUNK
        while limit is None or total < limit:
            want = chunk if limit is None else min(chunk, limit - total)
            size = os.splice(src, write_end, want, flags=os.SPLICE_F_MOVE)
            if size == 0:
                return total
            total += size
            if chunk == _CHUNK and total > _BULK_AFTER:
                chunk = _grow(write_end)
            while size:
                size -= os.splice(read_end, dst, size, flags=os.SPLICE_F_MOVE)
        return total
    finally:
        os.close(read_end)
        os.close(write_end)


def _grow(pipe_fd: int) -> int:
    """A 1 MiB pipe if the per-user pipe budget allows it (it may not: keep 64 KiB then)."""
    try:
        fcntl.fcntl(pipe_fd, _F_SETPIPE_SZ, _BULK_CHUNK)
    except OSError:
        return _CHUNK + 1  # do not ask again
    return _BULK_CHUNK


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0) so the peer fails at once instead of waiting."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def name_native_thread(name: str) -> None:
    """Name the calling thread for ``ps -T`` / ``top -H`` (``/proc/PID/task/TID/comm``).

    Written to ``/proc/thread-self/comm`` (what ``prctl(PR_SET_NAME)`` sets), so serving needs
    no ctypes.
    """
    with contextlib.suppress(OSError):
        fd = os.open("/proc/thread-self/comm", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, name.encode()[:15])
        finally:
            os.close(fd)

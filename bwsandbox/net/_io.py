"""Reading what a client sends first and answering it: shared by the proxy handlers.

Bounded in time (:data:`HEAD_TIMEOUT` in all for a head) and size (``HEAD_LIMIT``).
"""

from __future__ import annotations

import contextlib
import socket
import time

from bwsandbox.net._sniff import HEAD_LIMIT, complete, head_end

__all__ = [
    "DENY_PEEK_TIMEOUT",
    "HEAD_TIMEOUT",
    "close_after_answer",
    "read_first",
    "read_head",
    "respond",
    "respond_text",
    "response",
]

#: the time a client has, in all, to send its request head or first bytes (slow clients)
HEAD_TIMEOUT = 10.0
#: how long a denied transparent connection may take to show what it speaks (TLS or HTTP)
DENY_PEEK_TIMEOUT = 2.0


def read_first(client: socket.socket, data: bytes, timeout: float | None = None) -> bytes:
    """The first bytes, until :func:`complete` or the head deadline (no more than that)."""
    deadline = time.monotonic() + (HEAD_TIMEOUT if timeout is None else timeout)
    try:
        while not data or not complete(data):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            client.settimeout(left)
            more = client.recv(HEAD_LIMIT - len(data))
            if not more:
                break
            data += more
    except TimeoutError:
        pass
    finally:
        client.settimeout(None)
    return data


def read_head(client: socket.socket, data: bytes = b"") -> bytes:
    """Read until the end of an HTTP head, HEAD_LIMIT, or the head deadline (slow clients)."""
    deadline = time.monotonic() + HEAD_TIMEOUT
    try:
        while head_end(data) < 0 and len(data) < HEAD_LIMIT:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            client.settimeout(left)
            more = client.recv(HEAD_LIMIT - len(data))
            if not more:
                break
            data += more
    except OSError:
        return data
    finally:
        with contextlib.suppress(OSError):
            client.settimeout(None)
    return data


def close_after_answer(client: socket.socket) -> None:
    """End the connection after an answer without losing it to an RST.

    Closing with unread input makes the kernel reset the connection, which can throw away
    what the client has not read yet: half-close first, and drain (bounded) until it ends.
    """
    try:
        client.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + DENY_PEEK_TIMEOUT
        drained = 0
        while drained < HEAD_LIMIT * 4:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            client.settimeout(left)
            more = client.recv(65536)
            if not more:
                break
            drained += len(more)
    except OSError:
        pass
    client.close()


def response(status: int, text: str) -> bytes:
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    body = text.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def respond(client: socket.socket, status: int, message: str) -> None:
    respond_text(client, status, f"bwsandbox: {message}\n")


def respond_text(client: socket.socket, status: int, text: str) -> None:
    with contextlib.suppress(OSError):
        client.sendall(response(status, text))
    close_after_answer(client)  # a request body still unread must not reset the answer

"""Serving threads: accept loops for the proxy listeners and the DNS responder.

Every loop owns its listening socket and closes it itself when it ends (after
:meth:`Server.stop` shut it down), so no descriptor is closed under a blocked thread.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable

from bwsandbox.net._dns import answer, parse_query, refuse
from bwsandbox.net._gate import Gate
from bwsandbox.net._listeners import Listeners
from bwsandbox.net._proxy import handle_explicit, handle_transparent
from bwsandbox.net._relay import name_native_thread, reset

__all__ = ["Server"]

Handler = Callable[[Gate, socket.socket], None]
_STOP_WAIT = 2.0
#: connections one session serves at once; beyond this new ones are reset. Each holds at
#: most two threads (both directions) and HEAD_LIMIT bytes of head, so this bounds the
#: proxy's threads and memory per sandbox (issue 9, finding 13: a slowloris flood grew an
#: unbounded proxy to 6,000 threads); slow clients are cut at HEAD_TIMEOUT.
MAX_CONNECTIONS = 512
#: DNS questions held for an answer at once (ask on first use); beyond that they are dropped
#: (the resolver retries). Held questions are answered from their own thread, never from
#: the responder's loop, so other lookups go on.
MAX_HELD_LOOKUPS = 64


class Server:
    def __init__(self, gate: Gate, listeners: Listeners) -> None:
        self._gate = gate
        self._listeners = listeners
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._loops: list[threading.Thread] = []
        self._held = threading.BoundedSemaphore(MAX_HELD_LOOKUPS)

    def start(self) -> None:
        loops: list[tuple[str, Callable[[], None]]] = [
            ("tcp4", lambda: self._accept(self._listeners.transparent_v4, handle_transparent)),
            ("tcp6", lambda: self._accept(self._listeners.transparent_v6, handle_transparent)),
            ("proxy", lambda: self._accept(self._listeners.http_proxy, handle_explicit)),
            ("dns-tcp", lambda: self._accept(self._listeners.dns_tcp, _serve_dns_tcp)),
            ("dns-udp", self._serve_dns_udp),
        ]
        for name, target in loops:
            thread = threading.Thread(target=_named(f"bwsbx-{name}", target), daemon=True)
            thread.start()
            self._loops.append(thread)

    def stop(self) -> None:
        """Stop accepting, cut open connections, wait briefly for the threads."""
        self._stopping.set()
        for listener in self._listeners.all():
            _shutdown(listener)
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            _shutdown(client)
        deadline = time.monotonic() + _STOP_WAIT
        for thread in self._loops:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            pending = list(self._clients)
        while pending and time.monotonic() < deadline:
            time.sleep(0.005)
            with self._lock:
                pending = list(self._clients)

    def _accept(self, listener: socket.socket, handler: Handler) -> None:
        with listener:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except OSError:
                    if self._stopping.is_set():
                        return
                    time.sleep(0.01)  # EMFILE and friends: back off, keep serving
                    continue
                with self._lock:
                    full = len(self._clients) >= MAX_CONNECTIONS
                    if not full:
                        self._clients.add(client)
                if full:
                    reset(client)
                    continue
                try:
                    threading.Thread(
                        target=self._run, args=(handler, client), name="bwsbx-conn", daemon=True
                    ).start()
                except RuntimeError:  # no thread to be had: refuse this one, keep serving
                    with self._lock:
                        self._clients.discard(client)
                    reset(client)

    def _run(self, handler: Handler, client: socket.socket) -> None:
        name_native_thread("bwsbx-conn")
        try:
            handler(self._gate, client)
        except Exception:  # noqa: BLE001 - one broken connection must not stop the others
            client.close()
        finally:
            with self._lock:
                self._clients.discard(client)

    def _serve_dns_udp(self) -> None:
        sock = self._listeners.dns_udp
        with sock:
            while not self._stopping.is_set():
                try:
                    data, peer = sock.recvfrom(4096)
                except OSError:
                    continue
                if self._stopping.is_set() or peer is None:
                    return
                if self._defer_held(sock, data, peer):
                    continue
                try:
                    reply = _reply(self._gate, data)
                except Exception:  # noqa: BLE001 - one bad packet must not stop the responder
                    reply = refuse(data)
                if reply:
                    with contextlib.suppress(OSError):
                        sock.sendto(reply, peer)

    def _defer_held(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> bool:
        """Answer a lookup that will be held (ask on first use) from a thread of its own."""
        question = parse_query(data)
        if question is None or not self._gate.would_hold(question.name):
            return False
        if not self._held.acquire(blocking=False):
            return True  # too many held: dropped, the resolver asks again

        def answer_later() -> None:
            try:
                reply = _reply(self._gate, data)
            except Exception:  # noqa: BLE001 - one bad packet must not stop the responder
                reply = refuse(data)
            finally:
                self._held.release()
            if reply and not self._stopping.is_set():
                with contextlib.suppress(OSError):
                    sock.sendto(reply, peer)

        try:
            threading.Thread(target=answer_later, name="bwsbx-dns-ask", daemon=True).start()
        except RuntimeError:
            self._held.release()
        return True


def _named(name: str, target: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        name_native_thread(name)
        target()

    return run


def _reply(gate: Gate, data: bytes) -> bytes:
    question = parse_query(data)
    if question is None:
        return refuse(data)
    return answer(question, gate.lookup)


def _serve_dns_tcp(gate: Gate, client: socket.socket) -> None:
    with client:
        client.settimeout(10.0)
        try:
            while True:
                header = _recv_exact(client, 2)
                if not header:
                    return
                (length,) = struct.unpack("!H", header)
                reply = _reply(gate, _recv_exact(client, length))
                client.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            return b""
        data += more
    return data


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)

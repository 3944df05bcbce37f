"""The serving thread: one loop accepts on every proxy listener and answers DNS over UDP.

One thread (``bwsbx-serve``) polls the five listeners and a wake-up pipe; each accepted
connection gets a thread of its own (``bwsbx-conn``). The loop owns the listening sockets
and closes them itself when it ends (after :meth:`Server.stop` woke it), so no descriptor is
closed under a blocked thread. One loop, not one per listener: starting a thread costs the
start-up a GIL hand-over (measured: five loops took 5-9 ms to start, one well under 1 ms).
The loop is started without waiting for it to run (:class:`~._relay.Daemon`). The proxy's
and the DNS responder's modules are loaded by the first connection or question
that needs them, not at start-up.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

from bwsandbox.net._relay import Daemon, name_native_thread, reset

TYPE_CHECKING = False  # not typing's: the filtered path does not load typing

TYPE_CHECKING = False  # not typing's (2-3 ms)
if TYPE_CHECKING:
    from bwsandbox.net._gate import Gate
    from bwsandbox.net._listeners import Listeners

__all__ = ["Server"]

Handler = Callable[["Gate", socket.socket], None]
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
        self._loops: list[Daemon] = []
        self._held = threading.BoundedSemaphore(MAX_HELD_LOOKUPS)
        self._wake_read = self._wake = -1  # the loop's wake-up pipe (stop writes to it)

    def start(self) -> None:
        """Start the serving thread; raises ``RuntimeError`` when no thread can be had."""
        self._wake_read, self._wake = os.pipe()
        try:
            self._loops.append(Daemon("bwsbx-serve", self._serve))
        except RuntimeError:
            for fd in (self._wake_read, self._wake):
                os.close(fd)
            self._wake = -1
            raise

    def stop(self) -> None:
        """Stop accepting, cut open connections, wait briefly for the threads."""
        self._stopping.set()
        if self._wake >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake, b"x")
            os.close(self._wake)
            self._wake = -1
        if not self._loops:  # never started: the listeners are still ours to close
            for listener in self._listeners.all():
                listener.close()
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

    def _serve(self) -> None:
        listeners = self._listeners
        streams: dict[int, tuple[socket.socket, str]] = {
            listeners.transparent_v4.fileno(): (listeners.transparent_v4, "transparent"),
            listeners.transparent_v6.fileno(): (listeners.transparent_v6, "transparent"),
            listeners.http_proxy.fileno(): (listeners.http_proxy, "explicit"),
            listeners.dns_tcp.fileno(): (listeners.dns_tcp, "dns"),
        }
        dns = listeners.dns_udp
        poller = select.poll()
        for fd in (*streams, dns.fileno(), self._wake_read):
            poller.register(fd, select.POLLIN)
        for sock in listeners.all():
            sock.setblocking(False)
        try:
            while not self._stopping.is_set():
                try:
                    ready = poller.poll()
                except InterruptedError:  # pragma: no cover - PEP 475 retries
                    continue
                for fd, events in ready:
                    if self._stopping.is_set():
                        return
                    if events & select.POLLNVAL:  # pragma: no cover - closed under us
                        poller.unregister(fd)
                    elif fd == dns.fileno():
                        self._answer_udp(dns)
                    elif fd in streams:
                        self._accept(*streams[fd])
        finally:
            for sock in listeners.all():
                sock.close()
            os.close(self._wake_read)

    def _accept(self, listener: socket.socket, kind: str) -> None:
        try:
            client, _ = listener.accept()
        except BlockingIOError:
            return  # gone again (reset before we got to it)
        except OSError:
            time.sleep(0.01)  # EMFILE and friends: back off, keep serving
            return
        client.setblocking(True)
        with self._lock:
            full = len(self._clients) >= MAX_CONNECTIONS
            if not full:
                self._clients.add(client)
        if full:
            reset(client)
            return
        try:
            threading.Thread(
                target=self._run, args=(_handler(kind), client), name="bwsbx-conn", daemon=True
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

    def _answer_udp(self, sock: socket.socket) -> None:
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            return
        if peer is None or self._defer_held(sock, data, peer):
            return
        try:
            reply = _reply(self._gate, data)
        except Exception:  # noqa: BLE001 - one bad packet must not stop the responder
            reply = _refuse(data)
        if reply:
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)

    def _defer_held(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> bool:
        """Answer a lookup that will be held (ask on first use) from a thread of its own."""
        if self._gate.asker is None:
            return False  # nothing is ever held
        from bwsandbox.net._dns import parse_query

        question = parse_query(data)
        if question is None or not self._gate.would_hold(question.name):
            return False
        if not self._held.acquire(blocking=False):
            return True  # too many held: dropped, the resolver asks again

        def answer_later() -> None:
            try:
                reply = _reply(self._gate, data)
            except Exception:  # noqa: BLE001 - one bad packet must not stop the responder
                reply = _refuse(data)
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


def _handler(kind: str) -> Handler:
    """The handler of a listener's connections; the proxy loads with the first one."""
    if kind == "dns":
        return _serve_dns_tcp
    from bwsandbox.net._proxy import handle_explicit, handle_transparent

    return handle_explicit if kind == "explicit" else handle_transparent


def _reply(gate: Gate, data: bytes) -> bytes:
    from bwsandbox.net._dns import answer, parse_query, refuse

    question = parse_query(data)
    if question is None:
        return refuse(data)
    return answer(question, gate.lookup)


def _refuse(data: bytes) -> bytes:
    from bwsandbox.net._dns import refuse

    return refuse(data)


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

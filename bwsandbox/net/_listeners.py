"""The listening sockets a filtered network is served from, and how to obtain them.

The real :func:`~bwsandbox.net._netns.open_listeners` makes them inside the sandbox's
network namespace; :func:`loopback_listeners` is the fake: the same sockets on host loopback
(ephemeral ports, no namespace, no redirect), for tests of the DNS responder and the explicit
proxy without bwrap.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from bwsandbox._record import record

__all__ = ["Listeners", "ListenersFactory", "loopback_listeners"]


@record
class Listeners:
    """Bound sockets (stream ones listening), owned by the caller."""

    transparent_v4: socket.socket
    transparent_v6: socket.socket
    http_proxy: socket.socket
    dns_udp: socket.socket
    dns_tcp: socket.socket

    def all(self) -> tuple[socket.socket, ...]:
        return (
            self.transparent_v4,
            self.transparent_v6,
            self.http_proxy,
            self.dns_udp,
            self.dns_tcp,
        )


#: ``pid -> Listeners``; raises ``OSError``
ListenersFactory = Callable[[int], Listeners]


def loopback_listeners(pid: int) -> Listeners:  # noqa: ARG001 - same signature as the real one
    """Listeners on 127.0.0.1 / ::1 with ephemeral ports (a fake: no namespace is touched)."""

    def stream(address: str, family: int = socket.AF_INET) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((address, 0))
        sock.listen(128)
        return sock

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    return Listeners(
        stream("127.0.0.1"), stream("::1", socket.AF_INET6), stream("127.0.0.1"), udp,
        stream("127.0.0.1"),
    )  # fmt: skip

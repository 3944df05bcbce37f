"""Secret injection: the endpoints of one session, the sandbox's ``HOST.proxy.internal`` names.

The sandbox holds only a placeholder and speaks plain HTTP to ``HOST.proxy.internal``; the
proxy adds the real header and forwards the request to ``https://HOST`` (TLS verified on the
host). The request reaches the proxy either transparently (the name resolves to a synthetic
address) or through the explicit proxy (an absolute ``http://`` URI). What the DNS responder
and the gate ask before any request (is this name an endpoint, which one is at this address,
which injections apply to an inspected host) is answered here; the HTTP side (the strict
parse, the rebuilt head, the masked response: :mod:`._inject_http`) loads with the first
injected request, so an agent session with a key loads none of it before its command runs.
"""

from __future__ import annotations

from bwsandbox.compile import INJECT_DOMAIN
from bwsandbox.net._injection import Injection

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    import ssl
    from collections.abc import Iterable

    from bwsandbox._netrules import IPAddress
    from bwsandbox.net._gate import Gate

__all__ = ["INJECT_DOMAIN", "Injection", "Injector"]


class Injector:
    """The injection endpoints of one session (thread-safe: read-only after creation)."""

    def __init__(self, injections: Iterable[Injection]) -> None:
        self._by_endpoint: dict[str, list[Injection]] = {}
        for injection in injections:
            self._by_endpoint.setdefault(injection.endpoint.lower(), []).append(injection)
        self._contexts: dict[str, ssl.SSLContext] = {}

    def handles(self, name: str) -> bool:
        return name.lower().removesuffix(".") in self._by_endpoint

    def for_host(self, host: str, port: int) -> list[Injection]:
        """The injections for the real ``host:port`` (an inspected HTTPS connection)."""
        return [
            injection
            for injections in self._by_endpoint.values()
            for injection in injections
            if injection.host == host and injection.port == port and injection.tls
        ]

    def endpoint_at(self, gate: Gate, address: IPAddress) -> str | None:
        """The endpoint a (synthetic) address stands for, if it is one."""
        if not gate.names.is_synthetic(address):
            return None
        name = gate.names.name_for(address)
        return name if name is not None and self.handles(name) else None

    def _context(self, ca_file: str) -> ssl.SSLContext:
        context = self._contexts.get(ca_file)
        if context is None:
            import ssl  # on the first injected request, not at start-up

            context = ssl.create_default_context(cafile=ca_file or None)
            self._contexts[ca_file] = context
        return context

    def serve(self, gate: Gate, client: socket.socket, endpoint: str, head: bytes) -> None:
        """Answer one request from the sandbox for ``endpoint`` (``head``: bytes read so far)."""
        from bwsandbox.net._inject_http import serve_injected  # the first request loads it

        endpoint = endpoint.lower().removesuffix(".")
        injections = self._by_endpoint[endpoint]
        serve_injected(gate, client, endpoint, head, injections=injections, context=self._context)

"""Secret injection: the sandbox speaks plain HTTP to ``HOST.proxy.internal``; the proxy adds
the real header and forwards the request to ``https://HOST`` (TLS verified on the host).

The sandbox holds only a placeholder. Its request (one per connection) reaches the proxy
either transparently (the name resolves to a synthetic address) or through the explicit
proxy (an absolute ``http://`` URI). The proxy drops every ``Host`` and injected header the
request carries, sets ``Host`` to the real host and the injected headers to the secret,
connects through :meth:`Gate.open` (so the real host must be allowed by the policy, and
pinned or private addresses follow the usual rules), wraps the connection in TLS, and
relays. The secret never goes back into the sandbox: the response is relayed as it is.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bwsandbox.compile._secrets import INJECT_DOMAIN
from bwsandbox.net._allowlist import Verdict
from bwsandbox.net._gate import Denied
from bwsandbox.net._proxy import read_head
from bwsandbox.net._sniff import parse_request

if TYPE_CHECKING:
    from bwsandbox.net._gate import Gate, Upstream
    from bwsandbox.net._rules import IPAddress

__all__ = ["INJECT_DOMAIN", "Injection", "Injector", "Scrubber"]

_HEAD_TIMEOUT = 30.0
_DROP = frozenset(
    {
        "host",
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "upgrade",
    }
)


@dataclass(frozen=True, slots=True)
class Injection:
    """One header the proxy adds for requests to ``endpoint``. ``value`` holds the secret."""

    secret: str  # the secret's name, for the audit log
    endpoint: str
    host: str
    port: int
    header: str
    value: str = field(repr=False)  # the secret itself
    template: str = "{secret}"
    tls: bool = True
    ca_file: str = ""

    def header_line(self) -> str:
        return f"{self.header}: {self.template.replace('{secret}', self.value)}"


class Injector:
    """The injection endpoints of one session (thread-safe: read-only after creation)."""

    def __init__(self, injections: Iterable[Injection]) -> None:
        self._by_endpoint: dict[str, list[Injection]] = {}
        for injection in injections:
            self._by_endpoint.setdefault(injection.endpoint.lower(), []).append(injection)
        self._contexts: dict[str, ssl.SSLContext] = {}

    def handles(self, name: str) -> bool:
        return name.lower().removesuffix(".") in self._by_endpoint

    def endpoint_at(self, gate: Gate, address: IPAddress) -> str | None:
        """The endpoint a (synthetic) address stands for, if it is one."""
        if not gate.names.is_synthetic(address):
            return None
        name = gate.names.name_for(address)
        return name if name is not None and self.handles(name) else None

    def _context(self, ca_file: str) -> ssl.SSLContext:
        context = self._contexts.get(ca_file)
        if context is None:
            context = ssl.create_default_context(cafile=ca_file or None)
            self._contexts[ca_file] = context
        return context

    def serve(self, gate: Gate, client: socket.socket, endpoint: str, head: bytes) -> None:
        """Answer one request from the sandbox for ``endpoint`` (``head``: bytes read so far)."""
        endpoint = endpoint.lower().removesuffix(".")
        injections = self._by_endpoint[endpoint]
        first = injections[0]
        proto = "inject"
        head = read_head(client, head)
        request = parse_request(head)
        if request is None:
            _respond(client, 400, "expected one HTTP/1 request")
            return
        path = request.target
        if "://" in path:
            rest = path.partition("://")[2]
            path = "/" + rest.partition("/")[2]
        if not path.startswith("/"):
            _respond(client, 400, "expected an origin-form or http:// request target")
            return
        try:
            upstream = gate.open(first.host, first.port)
        except Denied as denied:
            gate.deny(denied, proto, secret=first.secret)
            hint = "" if denied.failed else " (allow it in the policy: network.allow)"
            status = 502 if denied.failed else 403
            _respond(client, status, f"{denied.host}:{denied.port}: {denied.reason}{hint}")
            return
        try:
            sock = self._secure(upstream, first)
        except (OSError, ValueError) as exc:
            upstream.sock.close()
            reason = f"TLS to {first.host}: {exc}" if first.tls else str(exc)
            gate.deny(
                Denied(first.host, first.port, reason, upstream.rule, failed=True),
                proto,
                secret=first.secret,
            )
            _respond(client, 502, reason)
            return
        names = {i.header.lower() for i in injections}
        authority = first.host if first.port == (443 if first.tls else 80) else _hostport(first)
        lines = [f"{request.method} {path} {request.version}", f"Host: {authority}"]
        lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in _DROP | names]
        lines += [i.header_line() for i in injections]
        lines.append("Connection: close")
        forwarded = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        started = time.monotonic()
        scrubber = Scrubber([i.value.encode("latin-1") for i in injections])
        first_bytes = forwarded + head[request.head_size :]
        inbound, outbound = _shuttle(client, sock, first_bytes, scrubber)
        gate.audit(
            first.host,
            first.port,
            proto,
            Verdict(True, upstream.rule),
            address=upstream.address,
            endpoint=endpoint,
            secrets=[i.secret for i in injections],
            bytes_in=inbound,
            bytes_out=outbound,
            seconds=round(time.monotonic() - started, 3),
        )

    def _secure(self, upstream: Upstream, injection: Injection) -> socket.socket:
        if not injection.tls:
            import ipaddress

            if not ipaddress.ip_address(upstream.address).is_loopback:
                raise ValueError("plain-HTTP upstreams are only allowed on loopback (tests)")
            return upstream.sock
        context = self._context(injection.ca_file)
        upstream.sock.settimeout(_HEAD_TIMEOUT)
        tls = context.wrap_socket(upstream.sock, server_hostname=injection.host)
        tls.settimeout(None)
        return tls


def _hostport(injection: Injection) -> str:
    return f"{injection.host}:{injection.port}"


class Scrubber:
    """Masks the secrets in the response stream (an upstream that echoes request headers).

    A masked secret keeps its length (``*`` for each byte), so Content-Length and chunk sizes
    stay right. Only bytes that could be the start of a secret split across two reads are
    held back until the next read, so a stream's events are never delayed otherwise.
    """

    def __init__(self, secrets: Iterable[bytes]) -> None:
        self._secrets = [secret for secret in secrets if secret]
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        data = self._held + data
        for secret in self._secrets:
            data = data.replace(secret, b"*" * len(secret))
        keep = 0
        for secret in self._secrets:
            for size in range(min(len(secret) - 1, len(data)), keep, -1):
                if data.endswith(secret[:size]):
                    keep = size
                    break
        self._held = data[len(data) - keep :] if keep else b""
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held


def _shuttle(
    client: socket.socket, upstream: socket.socket, first: bytes, scrubber: Scrubber
) -> tuple[int, int]:
    """Relay both ways in one thread (an SSL socket must not be used from two at once).

    Ends when either side closes; returns (bytes from upstream, bytes to upstream).
    """
    inbound = outbound = 0
    try:
        upstream.sendall(first)
        outbound = len(first)
        while True:
            pending = isinstance(upstream, ssl.SSLSocket) and upstream.pending() > 0
            ready = [upstream] if pending else select.select([client, upstream], [], [])[0]
            for sock in ready:
                data = _recv(sock)
                if data is None:  # TLS records without application data (session tickets)
                    continue
                if not data:
                    if sock is upstream:
                        client.sendall(scrubber.flush())
                    return inbound, outbound
                if sock is upstream:
                    client.sendall(scrubber.feed(data))
                    inbound += len(data)
                else:
                    upstream.sendall(data)
                    outbound += len(data)
    except (OSError, ValueError):
        return inbound, outbound
    finally:
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _recv(sock: socket.socket) -> bytes | None:
    """What a readable socket has; ``None`` when TLS had no application data for us.

    Without this, a readable TLS socket (a TLS 1.3 session ticket arriving) makes a blocking
    ``recv`` wait for application data, while the server waits for the rest of the request.
    """
    if not isinstance(sock, ssl.SSLSocket):
        return sock.recv(65536)
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except ssl.SSLWantReadError:
        return None
    finally:
        sock.setblocking(True)


def _respond(client: socket.socket, status: int, message: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    body = f"bwsandbox: {message}\n".encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        client.sendall(head.encode() + body)
    client.close()

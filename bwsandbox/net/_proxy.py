"""Connection handlers: transparent (redirected) TCP and the explicit HTTP proxy.

Each accepted connection runs in its own thread; the upstream is connected from the host's
namespace only after :class:`Gate` allowed it. The first bytes the client sends are held back
until their TLS SNI or HTTP Host has been checked against the name the connection is for.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
import time

from bwsandbox.net._allowlist import Verdict
from bwsandbox.net._gate import Denied, Gate, Upstream
from bwsandbox.net._relay import pump, reset
from bwsandbox.net._rules import IPAddress
from bwsandbox.net._sniff import (
    HEAD_LIMIT,
    Request,
    complete,
    host_of,
    is_tls,
    looks_like_http,
    parse_request,
    tls_server_name,
)

__all__ = ["handle_explicit", "handle_transparent", "original_destination"]

_SO_ORIGINAL_DST = 80
_HEAD_TIMEOUT = 30.0
_HOP_HEADERS = frozenset(
    {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate"}
)


def original_destination(sock: socket.socket) -> tuple[IPAddress, int]:
    """Where a redirected connection was going (conntrack's pre-NAT destination)."""
    if sock.family == socket.AF_INET:
        raw = sock.getsockopt(socket.SOL_IP, _SO_ORIGINAL_DST, 16)
        return ipaddress.IPv4Address(raw[4:8]), struct.unpack_from("!H", raw, 2)[0]
    raw = sock.getsockopt(socket.IPPROTO_IPV6, _SO_ORIGINAL_DST, 28)
    return ipaddress.IPv6Address(raw[8:24]), struct.unpack_from("!H", raw, 2)[0]


def handle_transparent(gate: Gate, client: socket.socket) -> None:
    try:
        address, port = original_destination(client)
    except OSError:
        reset(client)
        return
    endpoint = gate.injector.endpoint_at(gate, address) if gate.injector is not None else None
    if endpoint is not None:
        gate.injector.serve(gate, client, endpoint, b"")  # type: ignore[union-attr]
        return
    try:
        upstream = gate.open(address, port)
    except Denied as denied:
        gate.deny(denied, "tcp", address=str(address))
        reset(client)
        return
    _relay_checked(gate, client, upstream, b"", "tcp")


def handle_explicit(gate: Gate, client: socket.socket) -> None:
    """``CONNECT host:port`` and ``GET http://host/...`` (absolute URI) requests."""
    head = read_head(client)
    request = parse_request(head) if head else None
    if request is None:
        _respond(client, 400, "bad proxy request")
        return
    try:
        host, port, authority, path = _target(request.method, request.target)
    except ValueError as exc:
        _respond(client, 400, str(exc))
        return
    proto = "connect" if request.method == "CONNECT" else "http"
    if gate.injector is not None and gate.injector.handles(host):
        if request.method == "CONNECT":
            _respond(client, 400, f"{host} speaks plain HTTP: use http://{host}/")
        else:
            gate.injector.serve(gate, client, host, head)
        return
    if request.method != "CONNECT":
        carried = request.header("host")
        if carried is not None and _host_or_none(carried) != host:
            reason = f"Host header {carried!r} does not match the URI"
            denied = Denied(host, port, reason, smuggling=True)
            gate.deny(denied, proto)
            _respond(client, 403, denied.reason)
            return
    try:
        upstream = gate.open(host, port)
    except Denied as denied:
        gate.deny(denied, proto)
        hint = "" if denied.failed else " (not allowed by the sandbox policy)"
        _respond(
            client, 502 if denied.failed else 403, f"{denied.host}:{port}: {denied.reason}{hint}"
        )
        return
    rest_bytes = head[request.head_size :]
    if request.method == "CONNECT":
        try:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        except OSError:
            upstream.sock.close()
            client.close()
            return
        _relay_checked(gate, client, upstream, rest_bytes, proto)
        return
    lines = [f"{request.method} {path} {request.version}", f"Host: {authority}"]
    lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in _HOP_HEADERS | {"host"}]
    lines.append("Connection: close")
    forwarded = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + rest_bytes
    _relay(gate, client, upstream, forwarded, proto)


def _target(method: str, target: str) -> tuple[str, int, str, str]:
    """(host, port, authority, origin-form path) of a proxy request.

    Raises ``ValueError`` for what is not proxied. The authority drops any userinfo.
    """
    if method == "CONNECT":
        host, port = host_of(target)
        if port is None:
            raise ValueError("CONNECT needs host:port")
        return host, port, target, ""
    scheme, _, rest = target.partition("://")
    if scheme.lower() != "http" or not rest:
        raise ValueError("only CONNECT and absolute http:// URIs are proxied")
    authority, slash, path = rest.partition("/")
    authority = authority.rpartition("@")[2]
    host, port = host_of(authority)
    return host, port or 80, authority, slash + path if slash else "/"


def _host_or_none(authority: str) -> str | None:
    try:
        return host_of(authority)[0]
    except ValueError:
        return None


class _Relay:
    """Both directions of one allowed connection; audited once when it ends."""

    def __init__(self, gate: Gate, client: socket.socket, upstream: Upstream, proto: str) -> None:
        self.gate = gate
        self.client = client
        self.upstream = upstream
        self.proto = proto
        self.started = time.monotonic()
        self.inbound = 0
        self.downstream = threading.Thread(target=self._pump_down, daemon=True)
        self.downstream.start()  # server bytes flow at once: ssh must not wait

    def _pump_down(self) -> None:
        self.inbound = pump(self.upstream.sock, self.client)

    def refuse(self, reason: str) -> None:
        up = self.upstream
        self.gate.deny(Denied(up.host, up.port, reason, up.rule, smuggling=True), self.proto)
        with contextlib.suppress(OSError):
            up.sock.shutdown(socket.SHUT_RDWR)  # wakes the pump; never close under it
        self.downstream.join()
        up.sock.close()
        reset(self.client)

    def finish(self, first: bytes) -> None:
        up = self.upstream
        outbound = 0
        try:
            if first:
                up.sock.sendall(first)
                outbound = len(first)
            outbound += pump(self.client, up.sock)
        except OSError:
            for sock in (self.client, up.sock):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self.downstream.join()
        self.client.close()
        up.sock.close()
        self.gate.audit(
            up.host,
            up.port,
            self.proto,
            Verdict(True, up.rule),
            address=up.address,
            bytes_in=self.inbound,
            bytes_out=outbound,
            seconds=round(time.monotonic() - self.started, 3),
        )


def _relay_checked(
    gate: Gate, client: socket.socket, upstream: Upstream, first: bytes, proto: str
) -> None:
    """Relay, holding the client's first bytes until SNI/Host match the connection's name."""
    relay = _Relay(gate, client, upstream, proto)
    try:
        first = _read_first(client, first)
    except OSError:
        first = b""
    mismatch, first = _check_first(upstream.name, first)
    if mismatch:
        relay.refuse(mismatch)
    else:
        relay.finish(first)


def _relay(gate: Gate, client: socket.socket, upstream: Upstream, first: bytes, proto: str) -> None:
    _Relay(gate, client, upstream, proto).finish(first)


def _check_first(name: str | None, first: bytes) -> tuple[str, bytes]:
    """("", bytes to forward) or (why the first bytes contradict ``name``, b"").

    TLS: the SNI must be ``name``. HTTP: Host and an absolute target must be ``name``, and
    the request is sent with ``Connection: close`` so that no later request on the same
    connection (unchecked) can name another host.
    """
    if name is None or not first:
        return "", first
    if is_tls(first):
        try:
            server_name = tls_server_name(first)
        except ValueError as exc:
            return f"TLS: {exc}", b""
        if server_name is not None and server_name != name:
            return f"TLS SNI {server_name!r} does not match {name!r}", b""
        return "", first
    request = parse_request(first)
    if request is None:
        if looks_like_http(first):  # a head that never completed must not slip through
            return "incomplete or malformed HTTP request head", b""
        return "", first
    carried = request.header("host")
    if carried is not None and _host_or_none(carried) != name:
        return f"HTTP Host {carried!r} does not match {name!r}", b""
    if "://" in request.target:
        target = request.target.partition("://")[2].split("/", 1)[0].rpartition("@")[2]
        if _host_or_none(target) != name:
            return f"HTTP request target {request.target!r} does not match {name!r}", b""
    return "", _with_connection_close(request, first)


def _with_connection_close(request: Request, data: bytes) -> bytes:
    """The request with ``Connection: close`` (``Connection: Upgrade`` for upgrades)."""
    upgrade = request.header("upgrade") is not None
    lines = [f"{request.method} {request.target} {request.version}"]
    lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in _HOP_HEADERS]
    lines.append("Connection: Upgrade" if upgrade else "Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + data[request.head_size :]


def _read_first(client: socket.socket, data: bytes) -> bytes:
    client.settimeout(_HEAD_TIMEOUT)
    try:
        if not data:
            data = client.recv(HEAD_LIMIT)
        while data and not complete(data):
            more = client.recv(HEAD_LIMIT)
            if not more:
                break
            data += more
    except TimeoutError:
        pass
    finally:
        client.settimeout(None)
    return data


def read_head(client: socket.socket, data: bytes = b"") -> bytes:
    """Read until the end of an HTTP head (or HEAD_LIMIT, or the head timeout)."""
    client.settimeout(_HEAD_TIMEOUT)
    try:
        while b"\r\n\r\n" not in data and len(data) < HEAD_LIMIT:
            more = client.recv(HEAD_LIMIT)
            if not more:
                break
            data += more
    except OSError:
        return b""
    finally:
        with contextlib.suppress(OSError):
            client.settimeout(None)
    return data


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

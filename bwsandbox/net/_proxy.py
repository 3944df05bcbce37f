"""Connection handlers: transparent (redirected) TCP and the explicit HTTP proxy.

Each accepted connection runs in its own thread (a second one relays the server's bytes);
the upstream is connected from the host's namespace only after :class:`Gate` allowed it. The
first bytes the client sends are held back until their TLS SNI or HTTP Host has been
checked against the name the connection is for. An HTTP request is parsed strictly and is
the only one forwarded on its connection: its head rebuilt, exactly its body, nothing after
it unless the server accepted an upgrade (``101``). Slow clients get :data:`HEAD_TIMEOUT`
in all for their first bytes.

A denial is said where the client looks (docs/network.md, "What the agent sees when
something is denied"): an HTTP client (explicit proxy, CONNECT, or a transparent plain-HTTP
request) gets ``403 Forbidden`` whose body (:func:`deny_text`, one builder for every path:
:mod:`._denytext`) names the host, the reason and both ways to allow it (this session, next
time); a TLS client gets a fatal ``access_denied`` alert; anything else a reset.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import struct
import threading
import time

from bwsandbox._netrules import IPAddress
from bwsandbox.net._allowlist import Verdict
from bwsandbox.net._gate import Denied, Gate, Upstream
from bwsandbox.net._http1 import Body, connection_options
from bwsandbox.net._io import (
    DENY_PEEK_TIMEOUT,
    close_after_answer,
    read_first,
    read_head,
    respond,
    respond_text,
    response,
)
from bwsandbox.net._relay import name_native_thread, pump, pump_exact, reset
from bwsandbox.net._sniff import (
    HEAD_LIMIT,
    HeadError,
    Request,
    host_of,
    is_tls,
    looks_like_http,
    read_request,
    tls_server_name,
)

__all__ = [
    "TLS_ACCESS_DENIED",
    "deny_text",
    "handle_explicit",
    "handle_transparent",
    "original_destination",
]

_SO_ORIGINAL_DST = 80
_STATUS_LIMIT = 8192
#: a TLS 1.2 record: fatal alert (2) ``access_denied`` (49), understood by every TLS client
TLS_ACCESS_DENIED = b"\x15\x03\x03\x00\x02\x02\x31"
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


def _no_delay(client: socket.socket) -> None:
    """Small writes to the client go out at once: with Nagle, the second small record of a
    reply waits for the client's delayed ACK (~40 ms per TLS handshake, measured)."""
    with contextlib.suppress(OSError):
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def handle_transparent(gate: Gate, client: socket.socket) -> None:
    try:
        address, port = original_destination(client)
    except OSError:
        reset(client)
        return
    _no_delay(client)
    endpoint = gate.injector.endpoint_at(gate, address) if gate.injector is not None else None
    if endpoint is not None:
        gate.injector.serve(gate, client, endpoint, b"")  # type: ignore[union-attr]
        return
    try:
        upstream = gate.open(address, port)
    except Denied as denied:
        gate.deny(denied, "tcp", address=str(address))
        _refuse_transparent(gate, client, denied)
        return
    _relay_checked(gate, client, upstream, b"", "tcp")


def deny_text(denied: Denied, gate: Gate | None = None) -> str:
    """The body of a denial: the host, the reason, and both ways to allow it
    (:func:`bwsandbox.net._denytext.deny_text`, with the gate's session)."""
    from bwsandbox.net._denytext import deny_text as text

    if gate is None:
        return text(denied)
    return text(denied, session=gate.session, asks=gate.asker is not None)


def _refuse_transparent(gate: Gate, client: socket.socket, denied: Denied) -> None:
    """Tell a denied transparent client in its own protocol; reset it if it speaks neither.

    The first bytes are awaited for :data:`DENY_PEEK_TIMEOUT` at most (a client that waits
    for the server to speak first, ssh, gets the reset then).
    """
    try:
        first = read_first(client, b"", DENY_PEEK_TIMEOUT)
    except OSError:
        first = b""
    answer = _refusal(gate, first, denied)
    if answer is None:
        reset(client)
        return
    with contextlib.suppress(OSError):
        client.sendall(answer)
    close_after_answer(client)


def _refusal(gate: Gate, first: bytes, denied: Denied) -> bytes | None:
    """What a denied client gets, by what its first bytes speak: an alert, a 403, or None."""
    if first and is_tls(first):
        return TLS_ACCESS_DENIED
    if first and looks_like_http(first):
        return response(403, deny_text(denied, gate))
    return None


def handle_explicit(gate: Gate, client: socket.socket) -> None:
    """``CONNECT host:port`` and ``GET http://host/...`` (absolute URI) requests."""
    _no_delay(client)
    head = read_head(client)
    try:
        request = read_request(head)
    except HeadError as exc:
        respond(client, 400, f"bad proxy request: {exc}")
        return
    try:
        host, port, authority, path = _target(request.method, request.target)
    except ValueError as exc:
        respond(client, 400, str(exc))
        return
    proto = "connect" if request.method == "CONNECT" else "http"
    if gate.injector is not None and gate.injector.handles(host):
        if request.method == "CONNECT":
            respond(client, 400, f"{host} speaks plain HTTP: use http://{host}/")
        else:
            gate.injector.serve(gate, client, host, head)
        return
    if request.method != "CONNECT":
        carried = request.header("host")
        if carried is not None and _host_or_none(carried) != host:
            reason = f"Host header {carried!r} does not match the URI"
            denied = Denied(host, port, reason, smuggling=True)
            gate.deny(denied, proto)
            respond_text(client, 403, deny_text(denied, gate))
            return
    try:
        upstream = gate.open(host, port, proto)
    except Denied as denied:
        gate.deny(denied, proto)
        respond_text(client, 502 if denied.failed else 403, deny_text(denied, gate))
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
    if upstream.inspect and _refuse_request(gate, client, upstream, request.method, path):
        return
    relay = _Relay(gate, client, upstream, proto)
    relay.finish_http(request, f"{request.method} {path} {request.version}", authority, rest_bytes)


def _refuse_request(
    gate: Gate, client: socket.socket, upstream: Upstream, method: str, path: str
) -> bool:
    """A plain ``http://`` request through the proxy to an inspected name: checked like
    every request of an inspected connection (one per connection here); True if refused."""
    from bwsandbox.net._tls_inspect import refusal_text, request_verdict

    rule, reason = request_verdict(upstream.inspect, method, path)
    host, port = upstream.name or upstream.host, upstream.port
    if not reason:
        gate.request(host, port, method, path, decision="allow", rule=rule)
        return False
    upstream.sock.close()
    gate.request(host, port, method, path, decision="deny", reason=reason, status=403)
    rules = ", ".join(str(r) for r in upstream.inspect)
    text = refusal_text(gate, method, host, port, path, reason=reason, rules=rules)
    respond_text(client, 403, text)
    return True


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
    """Both directions of one allowed connection; audited once when it ends.

    The downstream (server to client) direction starts at once (ssh must not wait). For an
    HTTP request the upstream direction forwards one request head, rebuilt, and exactly its
    body; nothing after it, unless the request asked for an upgrade and the server answered
    ``101`` (WebSocket): then both directions are relayed as they are.
    """

    def __init__(self, gate: Gate, client: socket.socket, upstream: Upstream, proto: str) -> None:
        self.gate = gate
        self.client = client
        self.upstream = upstream
        self.proto = proto
        self.started = time.monotonic()
        self.inbound = 0
        self._lock = threading.Lock()
        self._mode = ""  # "raw": the server spoke first; "watch": read its status line
        self._answered = threading.Event()
        self._upgraded = False
        self._http = False
        self.downstream = threading.Thread(target=self._pump_down, name="bwsbx-relay", daemon=True)
        self.downstream.start()

    def _pump_down(self) -> None:
        name_native_thread("bwsbx-relay")
        up = self.upstream.sock
        with contextlib.suppress(OSError, ValueError):
            poller = select.poll()
            poller.register(up, select.POLLIN)
            poller.poll()
        with self._lock:
            self._mode = self._mode or "raw"
            watch = self._mode == "watch"
        status = b""
        if watch:
            try:
                while b"\n" not in status and len(status) < _STATUS_LIMIT:
                    more = up.recv(_STATUS_LIMIT - len(status))
                    if not more:
                        break
                    status += more
                code = status.split(b" ", 2)[1:2]
                self._upgraded = status.startswith(b"HTTP/1.") and code == [b"101"]
                self.client.sendall(status)
            except OSError:
                pass
            finally:
                self._answered.set()
        self.inbound = len(status) + pump(up, self.client)
        if self._http:  # wake the other thread waiting for the client (see _hold)
            with contextlib.suppress(OSError):
                self.client.shutdown(socket.SHUT_RD)

    def _watch_status(self) -> bool:
        """Read the server's status line before relaying it; False if it already spoke."""
        with self._lock:
            if self._mode:
                return False
            self._mode = "watch"
            return True

    def refuse(self, reason: str, first: bytes = b"") -> None:
        """Deny after the first bytes contradicted the name: alert, 403 or reset (``first``)."""
        up = self.upstream
        denied = Denied(up.host, up.port, reason, up.rule, smuggling=True)
        self.gate.deny(denied, self.proto)
        answer = _refusal(self.gate, first, denied)
        if answer is not None:  # before the pump half-closes the client (upstream's EOF)
            with contextlib.suppress(OSError):
                self.client.sendall(answer)
        with contextlib.suppress(OSError):
            up.sock.shutdown(socket.SHUT_RDWR)  # wakes the pump; never close under it
        self.downstream.join()
        up.sock.close()
        if answer is None:
            reset(self.client)
        else:
            close_after_answer(self.client)

    def finish(self, first: bytes) -> None:
        """Relay everything as it is (TLS after its SNI was checked, other protocols)."""
        up = self.upstream
        outbound = 0
        try:
            if first:
                up.sock.sendall(first)
                outbound = len(first)
            outbound += pump(self.client, up.sock)
        except OSError:
            self._cut()
        self._end(outbound)

    def finish_http(self, request: Request, line: str, host: str | None, rest: bytes) -> None:
        """Forward one request (its head rebuilt: ``line``, ``Host: host``) and its body."""
        up = self.upstream.sock
        self._http = True
        upgrade = request.header("upgrade") is not None and self._watch_status()
        head = _rebuild(request, line, host, upgrade=upgrade)
        outbound = 0
        extra = b""
        try:
            body = Body(request)
            used = body.feed(rest)
            up.sendall(head + rest[:used])
            outbound, extra = len(head) + used, rest[used:]
            left = body.left
            if left:
                outbound += pump_exact(self.client, up, left)
            while not body.done and left is None:
                data = self.client.recv(65536)
                if not data:
                    break
                used = body.feed(data)
                up.sendall(data[:used])
                outbound, extra = outbound + used, data[used:]
            if upgrade:
                self._answered.wait()
                if self._upgraded:
                    if extra:
                        up.sendall(extra)
                    outbound += len(extra) + pump(self.client, up)
                    extra = b""
            if not self._upgraded:
                extra = self._hold(extra)
        except (OSError, ValueError) as exc:
            if isinstance(exc, ValueError):
                self._deny(f"HTTP request body: {exc}")
            self._cut()
        self._end(outbound, extra)

    def _hold(self, extra: bytes) -> bytes:
        """After the one request: forward nothing more, until the client or the server ends.

        What the client still sends is read and dropped (kept for the audit, bounded). Its
        end is passed on as a half-close, as a plain relay would.
        """
        poller = select.poll()
        poller.register(self.client, select.POLLIN)
        while True:
            poller.poll()
            try:
                data = self.client.recv(65536)
            except OSError:
                break
            if not data:
                break
            if len(extra) < HEAD_LIMIT:
                extra += data[: HEAD_LIMIT - len(extra)]
        with contextlib.suppress(OSError):
            self.upstream.sock.shutdown(socket.SHUT_WR)
        return extra

    def _deny(self, reason: str) -> None:
        up = self.upstream
        self.gate.deny(Denied(up.host, up.port, reason, up.rule, smuggling=True), self.proto)

    def _cut(self) -> None:
        for sock in (self.client, self.upstream.sock):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _end(self, outbound: int, extra: bytes = b"") -> None:
        self.downstream.join()
        if extra.strip():
            self._deny("a second request on the connection was not forwarded (one per connection)")
        self.client.close()
        up = self.upstream
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
    """Relay, holding the client's first bytes until SNI/Host match the connection's name.

    A destination only inspecting rules allow goes to HTTPS inspection instead."""
    if upstream.inspect:
        _inspect(gate, client, upstream, first, proto)
        return
    relay = _Relay(gate, client, upstream, proto)
    try:
        first = read_first(client, first)
    except OSError:
        first = b""
    mismatch, request = _check_first(upstream.name, first)
    if mismatch:
        relay.refuse(mismatch, first)
    elif request is not None:
        line = f"{request.method} {request.target} {request.version}"
        relay.finish_http(request, line, None, first[request.head_size :])
    else:
        relay.finish(first)


def _inspect(
    gate: Gate, client: socket.socket, upstream: Upstream, first: bytes, proto: str
) -> None:
    if gate.inspector is None:  # an inspecting rule added live to a session without a CA
        upstream.sock.close()
        reason = "inspecting rules need a session started with one (its CA is trusted inside)"
        denied = Denied(upstream.host, upstream.port, reason)  # a plain rule would do
        gate.deny(denied, proto)
        _refuse_transparent(gate, client, denied)
        return
    gate.inspector.serve(gate, client, upstream, first, proto)


def _check_first(name: str | None, first: bytes) -> tuple[str, Request | None]:
    """("", the HTTP request or None) or (why the first bytes contradict ``name``, None).

    TLS: the SNI must be ``name``. HTTP: the head must be well-formed, and Host and an
    absolute target must be ``name``; the caller forwards that one request only.
    """
    if name is None or not first:
        return "", None
    if is_tls(first):
        try:
            server_name = tls_server_name(first)
        except ValueError as exc:
            return f"TLS: {exc}", None
        if server_name is not None and server_name != name:
            return f"TLS SNI {server_name!r} does not match {name!r}", None
        return "", None
    if not looks_like_http(first):
        return "", None
    try:
        request = read_request(first)
    except HeadError as exc:
        return f"HTTP: {exc}", None
    carried = request.header("host")
    if carried is not None and _host_or_none(carried) != name:
        return f"HTTP Host {carried!r} does not match {name!r}", None
    if "://" in request.target:
        target = request.target.partition("://")[2].split("/", 1)[0].rpartition("@")[2]
        if _host_or_none(target) != name:
            return f"HTTP request target {request.target!r} does not match {name!r}", None
    return "", request


def _rebuild(request: Request, line: str, host: str | None, *, upgrade: bool) -> bytes:
    """A head from the parsed request: ``Connection: close`` (or ``Upgrade``), one Host, no
    hop-by-hop fields (the fixed ones and those its ``Connection`` names, RFC 9110 7.6.1)."""
    lines = [line]
    if host is not None:
        lines.append(f"Host: {host}")
    skip = _HOP_HEADERS | connection_options(request.values("connection"))
    skip |= {"host"} if host is not None else set()
    if upgrade:
        skip -= {"upgrade"}  # named by "Connection: Upgrade", and what the request is for
    else:
        skip |= {"upgrade"}
    lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in skip]
    lines.append("Connection: Upgrade" if upgrade else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

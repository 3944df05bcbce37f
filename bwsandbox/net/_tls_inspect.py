"""HTTPS inspection: terminate TLS for an inspected name and check every request on it.

A connection whose destination only inspecting rules allow (``GET,HEAD github.com/myorg/*``,
see :mod:`bwsandbox._netrules`) comes here instead of the byte relay. The proxy

1. checks the ClientHello's SNI against the connection's name (as for any connection),
2. completes the client's handshake with a leaf certificate for that name signed by the
   session's CA (:mod:`._tls_ca`), offering only ``http/1.1`` in ALPN,
3. connects TLS to the real upstream, verified against the host's CA store or the policy's
   ``network.upstream_ca_file`` (an untrusted upstream gets a ``502`` naming why),
4. then, for **every** request on the connection (keep-alive: one after the other), parses
   the head strictly (``_sniff.read_request``), checks ``Host``, the target and the method
   and path against the rules, forwards the head rebuilt from its parsed fields (without the
   hop-by-hop ones, RFC 9110 7.6.1; in the client's HTTP version, so an HTTP/1.0 client gets
   an HTTP/1.0 answer) and exactly its body (Content-Length or chunked), then relays exactly
   one response (its own framing, its head without hop-by-hop fields) and records a
   ``request`` audit event with the method, path and status.

A refused request gets a ``403`` whose body (:mod:`._denytext`) names the method, host, path,
the reason and both ways to allow it; then the connection closes. Upgrades (WebSocket) and
``CONNECT`` inside are refused: nothing after an upgrade could be checked. A plain-HTTP
connection to an inspected name gets the same request loop without TLS.

One thread per connection does both directions in turn (an ``SSLObject`` is never shared
between threads); one upstream connection per client connection.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time

from bwsandbox._netrules import has_dot_segment
from bwsandbox.net._allowlist import Verdict
from bwsandbox.net._gate import Denied
from bwsandbox.net._http1 import (
    Body,
    Chunked,
    ResponseError,
    ResponseFilter,
    connection_options,
)
from bwsandbox.net._io import HEAD_TIMEOUT, close_after_answer, read_first, response
from bwsandbox.net._relay import reset
from bwsandbox.net._sniff import (
    HEAD_LIMIT,
    HeadError,
    Request,
    head_end,
    host_of,
    is_tls,
    looks_like_http,
    read_request,
    tls_server_name,
)
from bwsandbox.net._tls_stream import (
    HOP_BY_HOP,
    ServerTLS,
    Stream,
    forward_response,
    response_framing,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox._netrules import Rule
    from bwsandbox.net._gate import Gate, Upstream
    from bwsandbox.net._inject import Injection
    from bwsandbox.net._tls_ca import SessionCA

__all__ = ["Inspector", "request_verdict", "unsafe_target"]

#: how long a kept-alive connection may wait for its next request
IDLE_TIMEOUT = 120.0
_CHUNK = 65536
#: request fields never forwarded: hop-by-hop ones, and those the proxy sets itself
_HOP = HOP_BY_HOP | {"proxy-authorization", "expect", "host"}


def unsafe_target(target: str) -> str:
    """Why an origin-form target could reach another path than it reads ("" if it cannot).

    A server decodes ``%2e`` to ``.``, and some ``%2f``/``%5c`` or ``\\`` to ``/``: a dot
    segment so hidden (``/myorg/..%2fother``) would escape a path glob.
    """
    if not target.startswith("/"):
        return "the request target is not a path (origin form)"
    path = target.partition("?")[0]
    decoded = path.lower().replace("%2f", "/").replace("%5c", "/").replace("\\", "/")
    if has_dot_segment(decoded) or "#" in target:
        return "the path has a dot segment (also encoded) or a fragment"
    return ""


def request_verdict(rules: tuple[Rule, ...], method: str, target: str) -> tuple[str, str]:
    """(the rule that allows ``method target``, "") or ("", why not)."""
    why = unsafe_target(target)
    if why:
        return "", why
    for rule in rules:
        if rule.allows_request(method, target):
            return str(rule), ""
    methods = sorted({m for rule in rules for m in rule.methods})
    if methods and all(rule.methods for rule in rules) and method not in methods:
        return "", f"method {method} is not allowed (allowed: {', '.join(methods)})"
    return "", "no rule allows this method and path"


def refusal_text(
    gate: Gate, method: str, name: str, port: int, target: str, *, reason: str, rules: str
) -> str:
    """The body of a refused request: what, where, why, and both ways to allow it
    (:func:`bwsandbox.net._denytext.deny_text`)."""
    from bwsandbox.net._denytext import Refusal, deny_text

    return deny_text(
        Denied(name, port, reason),
        session=gate.session,
        asks=gate.asker is not None,
        refusal=Refusal(method, target, rules),
    )


class Inspector:
    """Inspection for one session: its CA, and how upstreams are verified."""

    def __init__(self, ca: SessionCA, upstream_ca_file: str = "") -> None:
        self.ca = ca
        self._upstream_ca_file = upstream_ca_file
        self._contexts: dict[str, ssl.SSLContext] = {}
        self.client_context(upstream_ca_file)  # a bad file fails at start, not per request

    def client_context(self, ca_file: str) -> ssl.SSLContext:
        context = self._contexts.get(ca_file)
        if context is None:
            context = ssl.create_default_context(cafile=ca_file or None)
            context.set_alpn_protocols(["http/1.1"])
            self._contexts[ca_file] = context
        return context

    def serve(
        self, gate: Gate, client: socket.socket, upstream: Upstream, first: bytes, proto: str
    ) -> None:
        """Serve one inspected connection to its end (always closes both sockets)."""
        started = time.monotonic()
        connection = _Connection(self, gate, client, upstream, proto)
        try:
            connection.run(first)
        finally:
            with contextlib.suppress(OSError):
                upstream.sock.close()
            close_after_answer(client)  # a 403 must not be lost to a reset
            gate.audit(
                upstream.host,
                upstream.port,
                proto,
                Verdict(True, upstream.rule),
                address=upstream.address,
                inspected=connection.requests,
                seconds=round(time.monotonic() - started, 3),
            )


class _Connection:
    def __init__(
        self, inspector: Inspector, gate: Gate, client: socket.socket, up: Upstream, proto: str
    ) -> None:
        self.inspector = inspector
        self.gate = gate
        self.sock = client
        self.up = up
        self.proto = proto
        self.name = up.name or up.host
        self.rules = up.inspect
        self.tls = False
        self.requests = 0  # requests seen on the connection (allowed or refused)
        self.injections: list[Injection] = []
        if gate.injector is not None:
            self.injections = gate.injector.for_host(self.name, up.port)

    # -- set-up ----------------------------------------------------------------------------
    def run(self, first: bytes) -> None:
        try:
            first = read_first(self.sock, first)
        except OSError:
            return
        if is_tls(first):
            self._run_tls(first)
        elif looks_like_http(first):
            self._loop(self.sock, self.up.sock, first)
        else:
            self._deny("an inspected host speaks neither TLS nor HTTP here")
            reset(self.sock)

    def _run_tls(self, first: bytes) -> None:
        try:
            server_name = tls_server_name(first)
        except ValueError as exc:
            server_name, bad = None, f"TLS: {exc}"
        else:
            bad = ""
            if server_name is not None and server_name != self.name:
                bad = f"TLS SNI {server_name!r} does not match {self.name!r}"
        if bad:
            self._deny(bad)
            with contextlib.suppress(OSError):
                self.sock.sendall(b"\x15\x03\x03\x00\x02\x02\x31")
            close_after_answer(self.sock)
            return
        client = ServerTLS(self.sock, self.inspector.ca.server_context(self.name), first)
        self.sock.settimeout(HEAD_TIMEOUT)
        try:
            client.handshake()
        except (OSError, ssl.SSLError) as exc:  # e.g. the client does not trust the CA
            self._deny(f"TLS handshake with the sandbox failed: {exc}", failed=True)
            return
        finally:
            self.sock.settimeout(None)
        self.tls = True
        ca_file = self.injections[0].ca_file if self.injections else ""
        context = self.inspector.client_context(ca_file or self.inspector._upstream_ca_file)
        try:
            self.up.sock.settimeout(HEAD_TIMEOUT * 3)
            upstream = context.wrap_socket(self.up.sock, server_hostname=self.name)
            upstream.settimeout(None)
        except (OSError, ssl.SSLError, ValueError) as exc:
            from bwsandbox.net._denytext import deny_text

            reason = f"the upstream's TLS certificate was refused: {exc}"
            self._deny(reason, failed=True)
            text = deny_text(Denied(self.name, self.up.port, reason, failed=True))
            with contextlib.suppress(OSError, ssl.SSLError):
                client.sendall(response(502, text))
            client.close()
            return
        try:
            self._loop(client, upstream, b"")
        finally:
            client.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                upstream.close()

    # -- the request loop ------------------------------------------------------------------
    def _loop(self, client: Stream, upstream: Stream, buffered: bytes) -> None:
        first = True
        while True:
            try:
                head, buffered = self._read_head(client, buffered, first=first)
            except (OSError, ssl.SSLError):
                return
            if not head:
                return
            first = False
            self.requests += 1
            try:
                keep, buffered = self._exchange(client, upstream, head, buffered)
            except (OSError, ssl.SSLError, ValueError) as exc:
                if isinstance(exc, ValueError):
                    self._deny(f"HTTP: {exc}")
                return
            if not keep:
                return

    def _read_head(self, client: Stream, data: bytes, *, first: bool) -> tuple[bytes, bytes]:
        """(a request head and whatever followed it) or (b"", b"") at the client's end."""
        started = time.monotonic()
        idle = not data
        while head_end(data) < 0 and len(data) < HEAD_LIMIT:
            limit = HEAD_TIMEOUT if (first or not idle) else IDLE_TIMEOUT
            left = started + limit - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            more = client.recv(_CHUNK)
            if not more:
                return b"", b""
            if idle:
                idle, started = False, time.monotonic()
            data += more
        self.sock.settimeout(None)
        end = head_end(data)
        if end < 0:
            return data, b""
        return data[:end], data[end:]

    def _exchange(
        self, client: Stream, upstream: Stream, head: bytes, buffered: bytes
    ) -> tuple[bool, bytes]:
        """One request and its response; (whether the connection goes on, bytes after)."""
        try:
            request = read_request(head)
        except HeadError as exc:
            self._refuse(client, "?", "?", f"malformed request: {exc}", status=400)
            return False, b""
        target, why = self._target(request)
        verdict = ("", why) if why else request_verdict(self.rules, request.method, target)
        rule, reason = verdict
        if not reason and request.header("upgrade") is not None:
            reason = "upgrades (WebSocket) are not inspected, so they are refused"
        if reason:
            self._refuse(client, request.method, target, reason)
            return False, b""
        old = request.version == "HTTP/1.0"
        if old and request.values("transfer-encoding"):
            reason = "an HTTP/1.0 request cannot be chunked (RFC 9112 6.1): send Content-Length"
            self._refuse(client, request.method, target, reason, status=400)
            return False, b""
        options = connection_options(request.values("connection"))
        closing = old or "close" in options or bool(self.injections)
        if not old and (request.header("expect") or "").lower() == "100-continue":
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        upstream.sendall(self._rebuild(request, target, options, closing=closing))
        sent, buffered = self._send_body(client, upstream, request, buffered)
        status, received, keep = self._relay_response(client, upstream, request, closing)
        self.gate.request(
            self.name,
            self.up.port,
            request.method,
            target,
            decision="allow",
            rule=rule,
            status=status,
            bytes_out=sent,
            bytes_in=received,
            **({"secrets": [i.secret for i in self.injections]} if self.injections else {}),
        )
        return keep and not closing, buffered

    def _target(self, request: Request) -> tuple[str, str]:
        """(the origin-form target, "") or ("", why the request contradicts the connection)."""
        carried = request.header("host")
        if carried is not None:
            try:
                host = host_of(carried)[0]
            except ValueError:
                host = ""
            if host != self.name:
                return "", f"Host {carried!r} does not match {self.name!r}"
        target = request.target
        if "://" in target:
            scheme, _, rest = target.partition("://")
            authority, slash, path = rest.partition("/")
            try:
                host = host_of(authority.rpartition("@")[2])[0]
            except ValueError:
                host = ""
            if scheme.lower() not in ("http", "https") or host != self.name:
                return "", f"request target {target!r} does not match {self.name!r}"
            target = "/" + path if slash else "/"
        if request.method == "CONNECT":
            return "", "CONNECT inside an inspected connection"
        return target, ""

    def _rebuild(
        self, request: Request, target: str, options: frozenset[str], *, closing: bool
    ) -> bytes:
        """The head forwarded upstream: in the client's HTTP version (an HTTP/1.0 request
        gets an HTTP/1.0 answer: no chunked body), without hop-by-hop fields (RFC 9110 7.6.1:
        :data:`_HOP` and the ``options`` its ``Connection`` named)."""
        port = self.up.port
        default = 443 if self.tls else 80
        authority = self.name if port == default else f"{self.name}:{port}"
        injected = {i.header.lower() for i in self.injections}
        version = "HTTP/1.0" if request.version == "HTTP/1.0" else "HTTP/1.1"
        lines = [f"{request.method} {target} {version}", f"Host: {authority}"]
        lines += [
            f"{k}: {v}"
            for k, v in request.headers
            if k.lower() not in _HOP
            and k.lower() not in options
            and k.lower() not in injected
            and not (self.injections and k.lower() == "accept-encoding")
        ]
        if self.injections:
            lines.append("Accept-Encoding: identity")
            lines += [i.header_line() for i in self.injections]
        if closing:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_body(
        self, client: Stream, upstream: Stream, request: Request, buffered: bytes
    ) -> tuple[int, bytes]:
        body = Body(request)
        used = body.feed(buffered)
        if used:
            upstream.sendall(buffered[:used])
        sent, buffered = used, buffered[used:]
        while not body.done:
            self.sock.settimeout(HEAD_TIMEOUT * 6)
            data = client.recv(_CHUNK)
            if not data:
                raise OSError("the client ended inside a request body")
            used = body.feed(data)
            upstream.sendall(data[:used])
            sent += used
            buffered = data[used:]
        self.sock.settimeout(None)
        return sent, buffered

    def _relay_response(
        self, client: Stream, upstream: Stream, request: Request, closing: bool
    ) -> tuple[int, int, bool]:
        """Relay one response: (status, bytes, whether the connection may carry another).

        Its head goes without hop-by-hop fields, with ``Connection: close`` when the
        connection ends after it."""
        if self.injections:
            return self._relay_filtered(client, upstream, request)
        data = b""
        while True:
            while (end := data.find(b"\r\n\r\n")) < 0:
                if len(data) > HEAD_LIMIT:
                    raise ValueError("response head too large")
                more = upstream.recv(_CHUNK)
                if not more:
                    raise OSError("the upstream closed without a response")
                data += more
            head, data = data[: end + 4], data[end + 4 :]
            status, framing, keep = response_framing(head, request.method)
            final = not 100 <= status < 200
            ends = final and (closing or not keep or framing == "close")
            head = forward_response(head, close=ends)
            client.sendall(head)
            if not final:
                if status == 101:
                    raise ValueError("the upstream switched protocols on an inspected host")
                continue
            break
        total = len(head)
        if framing == "none":
            pass
        elif framing == "close":
            keep = False
            while True:
                if data:
                    client.sendall(data)
                    total += len(data)
                data = upstream.recv(_CHUNK)
                if not data:
                    break
        elif framing == "chunked":
            chunked = Chunked()
            while True:
                used, _ = chunked.feed(data)
                client.sendall(data[:used])
                total += used
                if chunked.done:
                    break
                data = upstream.recv(_CHUNK)
                if not data:
                    raise OSError("the upstream ended inside a chunked body")
        else:
            left = int(framing)
            while left:
                piece = data[:left]
                if piece:
                    client.sendall(piece)
                    total += len(piece)
                    left -= len(piece)
                if left:
                    data = upstream.recv(min(left, _CHUNK))
                    if not data:
                        raise OSError("the upstream ended inside a response body")
        return status, total, keep

    def _relay_filtered(
        self, client: Stream, upstream: Stream, request: Request
    ) -> tuple[int, int, bool]:
        """A response to an injected request: secrets masked, then the connection ends."""
        secrets = [i.value.encode("latin-1") for i in self.injections]
        masked = ResponseFilter(
            secrets,
            head_request=request.method == "HEAD",
            forward=lambda head: forward_response(head, close=True),
        )
        total = 0
        status = 0
        while True:
            data = upstream.recv(_CHUNK)
            if not data:
                client.sendall(masked.flush())
                return status, total, False
            if not status and data.startswith(b"HTTP/1."):
                with contextlib.suppress(ValueError, IndexError):
                    status = int(data.split(b" ", 2)[1])
            total += len(data)
            try:
                client.sendall(masked.feed(data))
            except ResponseError as exc:
                if not masked.started:
                    client.sendall(response(502, f"bwsandbox: {exc}\n"))
                return status, total, False

    # -- refusals --------------------------------------------------------------------------
    def _refuse(
        self, client: Stream, method: str, target: str, reason: str, status: int = 403
    ) -> None:
        if status == 403:
            self.gate.request(
                self.name, self.up.port, method, target, decision="deny", reason=reason, status=403
            )
        else:
            self._deny(reason)
        rules = ", ".join(str(rule) for rule in self.rules) or "none"
        if status == 403:
            text = refusal_text(
                self.gate, method, self.name, self.up.port, target, reason=reason, rules=rules
            )
        else:
            text = f"bwsandbox: {reason}\n"
        with contextlib.suppress(OSError, ssl.SSLError):
            client.sendall(response(status, text))

    def _deny(self, reason: str, *, failed: bool = False) -> None:
        up = self.up
        denied = Denied(up.host, up.port, reason, up.rule, failed=failed, smuggling=not failed)
        self.gate.deny(denied, "inspect")

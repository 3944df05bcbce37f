"""Secret injection, the HTTP side: the sandbox speaks plain HTTP to ``HOST.proxy.internal``;
the proxy adds the real header and forwards the request to ``https://HOST`` (TLS verified on
the host). Loaded with the first injected request (the endpoints are :mod:`._inject`'s).

One request per connection. The head is parsed strictly (no bare CR or LF, no
control bytes, no folding: issue 9, finding 7) and the forwarded head is *rebuilt* from it:
the request line, ``Host`` set to the real host, the headers on :data:`PASSED` (others are
dropped, and so are ``Range``, ``TE``, ``Upgrade`` ... that would transform the response),
``Accept-Encoding: identity``, the injected headers, ``Connection: close``. Exactly one
body follows (Content-Length or chunked); nothing after it is forwarded. The proxy connects
through :meth:`Gate.open` (so the real host must be allowed by the policy, and pinned or
private addresses follow the usual rules) and wraps the connection in TLS. The response is
masked on the way back (:class:`~bwsandbox.net._http1.ResponseFilter`), after undoing the
chunked framing; a compressed response is refused.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time

from bwsandbox.net._allowlist import Verdict
from bwsandbox.net._gate import Denied
from bwsandbox.net._http1 import Body, ResponseError, ResponseFilter, Scrubber
from bwsandbox.net._injection import Injection
from bwsandbox.net._io import read_head
from bwsandbox.net._sniff import HeadError, Request, read_request

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from bwsandbox.net._gate import Gate, Upstream

__all__ = ["PASSED", "PASSED_PREFIXES", "Scrubber", "passed", "serve_injected"]

_TLS_TIMEOUT = 30.0
_EXTRA_LIMIT = 65536
#: request headers passed on to the upstream of an injected request (with their prefixes
#: below); everything else the sandbox sent is dropped. Never: Host, the injected headers,
#: hop-by-hop headers, Range/If-Range (a key returned in pieces), Accept-Encoding (replaced
#: by identity: a compressed echo hides the key), TE, Upgrade, Expect, Trailer, Cookie.
PASSED = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "baggage",
        "cache-control",
        "chatgpt-account-id",
        "content-encoding",
        "content-length",
        "content-type",
        "conversation_id",
        "idempotency-key",
        "originator",
        "pragma",
        "session_id",
        "traceparent",
        "tracestate",
        "transfer-encoding",
        "user-agent",
        "version",
    }
)
PASSED_PREFIXES = ("x-", "anthropic-", "openai-")
_NEVER = frozenset(
    {
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-original-url",
        "x-rewrite-url",
        "x-http-method-override",
    }
)


def serve_injected(
    gate: Gate,
    client: socket.socket,
    endpoint: str,
    head: bytes,
    *,
    injections: list[Injection],
    context: Callable[[str], ssl.SSLContext],
) -> None:
    """Answer one request from the sandbox for ``endpoint`` (``head``: bytes read so far) with
    its ``injections``; ``context`` gives the TLS context for a CA file ("": the system's)."""
    first = injections[0]
    proto = "inject"
    head = read_head(client, head)
    try:
        request = read_request(head)
    except HeadError as exc:
        gate.deny(Denied(endpoint, 80, f"HTTP: {exc}", smuggling=True), proto)
        _respond(client, 400, f"expected one well-formed HTTP/1 request: {exc}")
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
        sock = _secure(upstream, first, context)
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
    forwarded, dropped = _rebuild(request, path, _authority(first), injections)
    started = time.monotonic()
    secrets = [i.value.encode("latin-1") for i in injections]
    response = ResponseFilter(secrets, head_request=request.method == "HEAD")
    body_start = head[request.head_size :]
    inbound, outbound, extra = _shuttle(
        client, sock, forwarded + body_start, request=request, response=response
    )
    fields: dict[str, object] = {}
    if dropped:
        fields["dropped_headers"] = sorted(set(dropped))
    if extra:
        fields["refused"] = "a second request on the connection was not forwarded"
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
        **fields,
    )


def _secure(
    upstream: Upstream, injection: Injection, context: Callable[[str], ssl.SSLContext]
) -> socket.socket:
    if not injection.tls:
        import ipaddress

        if not ipaddress.ip_address(upstream.address).is_loopback:
            raise ValueError("plain-HTTP upstreams are only allowed on loopback (tests)")
        return upstream.sock
    tls_context = context(injection.ca_file)
    upstream.sock.settimeout(_TLS_TIMEOUT)
    tls = tls_context.wrap_socket(upstream.sock, server_hostname=injection.host)
    tls.settimeout(None)
    return tls


def _authority(injection: Injection) -> str:
    default = 443 if injection.tls else 80
    return injection.host if injection.port == default else f"{injection.host}:{injection.port}"


def passed(name: str) -> bool:
    """Whether a request header the sandbox sent is passed on to an injected upstream."""
    name = name.lower()
    if name in _NEVER:
        return False
    return name in PASSED or name.startswith(PASSED_PREFIXES)


def _rebuild(
    request: Request, path: str, authority: str, injections: list[Injection]
) -> tuple[bytes, list[str]]:
    """The head sent upstream, built from parsed fields only; and the names dropped."""
    injected = {i.header.lower() for i in injections}
    lines = [f"{request.method} {path} {request.version}", f"Host: {authority}"]
    dropped: list[str] = []
    for name, value in request.headers:
        if passed(name) and name.lower() not in injected:
            lines.append(f"{name}: {value}")
        elif name.lower() != "host" and name.lower() not in injected:
            dropped.append(name.lower())
    lines.append("Accept-Encoding: identity")
    lines += [i.header_line() for i in injections]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), dropped


def _shuttle(
    client: socket.socket,
    upstream: socket.socket,
    first: bytes,
    *,
    request: Request,
    response: ResponseFilter,
) -> tuple[int, int, bytes]:
    """Relay one request and its response in one thread (an SSL socket must not be used
    from two at once). Only the request's body follows its head; client bytes after it are
    kept back (returned as the third value). Ends when either side closes."""
    import ssl  # loaded already: the upstream came from an SSL context

    inbound = outbound = 0
    body = Body(request)
    extra = b""
    try:
        head_size = len(first) - len(first[first.find(b"\r\n\r\n") + 4 :])
        used = body.feed(first[head_size:])
        extra = first[head_size + used :]
        upstream.sendall(first[: head_size + used])
        outbound = head_size + used
        poller = select.poll()
        poller.register(upstream, select.POLLIN)
        poller.register(client, select.POLLIN)
        while True:
            pending = isinstance(upstream, ssl.SSLSocket) and upstream.pending() > 0
            ready = [upstream.fileno()] if pending else [fd for fd, _ in poller.poll()]
            for fd in ready:
                sock = upstream if fd == upstream.fileno() else client
                data = _recv(sock)
                if data is None:  # TLS records without application data (session tickets)
                    continue
                if sock is client:
                    if not data:
                        return inbound, outbound, extra
                    used = 0 if body.done else body.feed(data)
                    if used:
                        upstream.sendall(data[:used])
                        outbound += used
                    if len(extra) < _EXTRA_LIMIT:  # after the one request: kept, not sent
                        extra += data[used:]
                    continue
                if not data:
                    client.sendall(response.flush())
                    return inbound, outbound, extra
                inbound += len(data)
                try:
                    client.sendall(response.feed(data))
                except ResponseError as exc:
                    if not response.started:
                        _respond(client, 502, str(exc))
                    return inbound, outbound, extra
    except (OSError, ValueError):
        return inbound, outbound, extra
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
    import ssl  # loaded already (see _shuttle)

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

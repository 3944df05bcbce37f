"""The control channel of a filtered session: live ``allow``/``deny`` (owner only).

The supervisor serves a unix socket ``<runtime dir>/agent-sandbox/control/<session>.sock``
(the directory 0700, the socket 0600, both owned by the session's uid). The runtime dir is
refused as a bind, so the socket is never inside a sandbox. Besides the file modes, every
peer's uid is checked with ``SO_PEERCRED``: only the session's own uid may change it (root
included: root's session refuses an ordinary user even if the modes were loosened).

One request per connection: a JSON line ``{"op": "allow"|"deny", "rules": [...]}``
(:mod:`._live`), answered by ``{"ok": true, "cut": N}`` or ``{"ok": false, "error": "..."}``;
``{"op": "answer", "id": N, "decision": ...}`` answers a held question (:mod:`._ask`).
Garbage, an oversized line or a silent client gets a refusal (or is dropped after
:data:`_TIMEOUT`), and the session goes on. Every accepted change is an audit event
``net-change``.

``{"op": "watch"}`` turns the connection into a stream (``agent-sandbox watch``): the server
sends JSON lines, first ``{"event": "hello", "session": ..., "ask": bool, "timeout": s,
"pending": [questions]}``, then every network event of the session as it happens (``net``,
``net-change``, ``question``, ``answered``); the client may send answer lines at any time,
each acknowledged by ``{"event": "reply", ...}`` in the stream (a bad line by ``{"event":
"error", ...}``). At most :data:`_MAX_WATCHERS` watchers at once; one that does not read
its events is dropped, never waited for (:class:`._ask.Hub`); one that disconnects leaves
its unanswered questions to the others or to the timeout.
"""

# os-level paths on purpose, like the session registry next to it (str paths, no pathlib)
# ruff: noqa: PTH101, PTH102, PTH106, PTH108, PTH118, PTH119, PTH120

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence

from bwsandbox._netrules import Rule
from bwsandbox.net._live import MAX_REQUEST, LiveLimits, Refused, Request, parse_request
from bwsandbox.net._relay import Daemon

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bwsandbox.net._ask import Asker, Hub

__all__ = ["ControlServer", "connect", "control_path", "send_request"]

_TIMEOUT = 5.0
_MAX_CLIENTS = 8
_MAX_WATCHERS = 8
_MAX_ADDRESS = 100
_DRAIN_CHUNKS = 16


def control_path(runtime: str, session: str) -> str:
    return os.path.join(runtime, "agent-sandbox", "control", f"{session}.sock")


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the peer of a connected unix socket."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", data)
    return pid, uid, gid


class ControlServer:
    """Serves :func:`control_path` for one session; ``apply(op, rules) -> cut`` makes the
    change (the gate), ``audit(**fields)`` records it."""

    def __init__(
        self,
        path: str,
        apply: Callable[[str, Sequence[Rule]], int],
        audit: Callable[..., None],
        limits: LiveLimits,
    ) -> None:
        self.path = path
        self._apply = apply
        self._audit = audit
        self._limits = limits
        self._uid = os.getuid()
        self._lock = threading.Lock()
        self._busy = threading.BoundedSemaphore(_MAX_CLIENTS)
        self._watching = threading.BoundedSemaphore(_MAX_WATCHERS)
        #: the live event stream and ask on first use (None: not served)
        self.hub: Hub | None = None
        self.asker: Asker | None = None
        self.session = ""
        self._listener: socket.socket | None = None
        self._thread: Daemon | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Bind and serve; OSError when the socket cannot be made (the session still runs)."""
        self.bind()
        self.serve()

    def bind(self) -> None:
        """Make the socket and listen: a client may connect from now on (it waits in the
        backlog until :meth:`serve`); OSError when the socket cannot be made."""
        directory = os.path.dirname(self.path)
        _private_dir(directory)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a leftover of a session with the same id: not possible
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)
        try:
            with _addressable(self.path) as address:
                listener.bind(address)
        except OSError:
            listener.close()
            raise
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        listener.listen(16)
        self._listener = listener

    def serve(self) -> None:
        """Start answering: one accept thread, not waited for; RuntimeError when no thread
        can be had."""
        listener = self._listener
        if listener is None:
            raise RuntimeError("the control socket is not bound")
        self._thread = Daemon("bwsbx-control", lambda: self._accept(listener))

    def stop(self) -> None:
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._thread is not None:
            self._thread.join(1.0)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.path))  # the last one leaves nothing behind

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            if not self._busy.acquire(blocking=False):
                _reply(client, {"ok": False, "error": "busy: too many control clients"})
                client.close()
                continue
            try:
                threading.Thread(
                    target=self._serve, args=(client,), name="bwsbx-ctl", daemon=True
                ).start()
            except RuntimeError:
                self._busy.release()
                client.close()

    def _serve(self, client: socket.socket) -> None:
        busy = True
        try:
            with client:
                client.settimeout(_TIMEOUT)
                pid, uid, _ = peer_credentials(client)
                request: Request | None = None
                if uid != self._uid:
                    self._audit(
                        op="refused", rules=[], peer_pid=pid, peer_uid=uid, error="not the owner"
                    )
                    reply: dict[str, object] = {
                        "ok": False,
                        "error": f"refused: uid {uid} does not own this session",
                    }
                else:
                    try:
                        request = parse_request(_read_line(client))
                    except Refused as exc:
                        reply = {"ok": False, "error": str(exc)}
                if request is not None and request.op == "watch":
                    busy = False
                    self._busy.release()  # a watcher holds a watcher's slot instead
                    self._watch(client, pid)
                    return
                if request is not None:
                    reply = self._handle(request, pid, uid)
                _reply(client, reply)
                _drain(client)
        except OSError:
            pass
        finally:
            if busy:
                self._busy.release()

    def _handle(self, request: Request, pid: int, uid: int) -> dict[str, object]:
        if request.op == "answer":
            return self._answer(request, f"watch (pid {pid})", peer_pid=pid, peer_uid=uid)
        try:
            if request.op == "allow":
                for rule in request.rules:
                    self._limits.check_allow(rule)
        except Refused as exc:
            return {"ok": False, "error": str(exc)}
        with self._lock:  # one change at a time, in the order they arrive
            cut = self._apply(request.op, request.rules)
            texts = [str(r) for r in request.rules]
            self._audit(op=request.op, rules=texts, peer_pid=pid, peer_uid=uid, cut=cut)
        return {"ok": True, "rules": texts, "cut": cut}

    def _answer(self, request: Request, by: str, **peer: Any) -> dict[str, object]:
        from bwsandbox.net._ask import Decision

        if self.asker is None:
            return {"ok": False, "error": "this session does not ask (start it with --ask)"}
        return self.asker.answer(request.question, Decision(request.decision), by=by, **peer)

    def _watch(self, client: socket.socket, pid: int) -> None:
        """Stream the session's events to ``client`` and take its answers (see the module
        docstring); returns when either side ends."""
        hub = self.hub
        if hub is None or not self._watching.acquire(blocking=False):
            error = "busy: too many watchers" if hub is not None else "no live events here"
            _reply(client, {"ok": False, "error": error})
            return
        watcher = hub.subscribe()
        try:
            asker = self.asker
            hello: dict[str, Any] = {
                "event": "hello",
                "ok": True,
                "session": self.session,
                "ask": asker is not None,
                "timeout": asker.timeout if asker is not None else None,
                "pending": [q.as_dict() for q in asker.pending()] if asker is not None else [],
            }
            client.settimeout(None)  # a watch may be idle for hours; the reader waits
            # but a watch that stops reading does not hold the writer: its send times out
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 10, 0))
            client.sendall(_json_line(hello))
            writer = threading.Thread(
                target=_write_events, args=(client, watcher), name="bwsbx-watch", daemon=True
            )
            writer.start()
            try:
                self._read_answers(client, watcher, pid)
            finally:
                hub.unsubscribe(watcher)  # ends the writer, which shuts the socket down
                writer.join(_TIMEOUT)
        finally:
            hub.unsubscribe(watcher)
            self._watching.release()

    def _read_answers(self, client: socket.socket, watcher: Any, pid: int) -> None:
        data = b""
        while not self._stopping.is_set() and not watcher.dropped:
            more = client.recv(4096)
            if not more:
                return
            data += more
            while b"\n" in data:
                line, _, data = data.partition(b"\n")
                try:
                    request = parse_request(line)
                except Refused as exc:
                    watcher.put({"event": "error", "error": str(exc)})
                    continue
                if request.op != "answer":
                    watcher.put({"event": "error", "error": "a watch takes answers only"})
                    continue
                by = f"watch (pid {pid})"
                reply = self._answer(request, by, peer_pid=pid, peer_uid=self._uid)
                watcher.put({"event": "reply", **reply, "id": request.question})
            if len(data) > MAX_REQUEST:
                watcher.put({"event": "error", "error": f"line longer than {MAX_REQUEST} bytes"})
                return


def _write_events(client: socket.socket, watcher: Any) -> None:
    """Send the watcher's events until it is closed or the client is gone."""
    try:
        while True:
            event = watcher.events.get()
            if event is None:
                break
            client.sendall(_json_line(event, default=str))
    except OSError:
        pass
    finally:
        watcher.close()
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)


def _private_dir(path: str) -> None:
    """Create ``path`` (and its parent) 0700; OSError for one that is not ours and private."""
    import stat

    uid = os.getuid()
    for directory in (os.path.dirname(path), path):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
            raise OSError(f"{directory} is not a private directory owned by uid {uid}")


@contextlib.contextmanager
def _addressable(path: str) -> Iterator[str]:
    """``path``, or ``/proc/self/fd/N/NAME`` through its directory when ``path`` is too long
    for a unix socket address (108 bytes)."""
    if len(os.fsencode(path)) < _MAX_ADDRESS:
        yield path
        return
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{os.path.basename(path)}"
    finally:
        os.close(fd)


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        if len(data) > MAX_REQUEST:
            raise Refused(f"request longer than {MAX_REQUEST} bytes")
        try:
            more = sock.recv(4096)
        except TimeoutError:
            raise Refused("no complete request line in time") from None
        if not more:
            break
        data += more
    line, _, _ = data.partition(b"\n")
    if len(line) > MAX_REQUEST:
        raise Refused(f"request longer than {MAX_REQUEST} bytes")
    return line


def _drain(sock: socket.socket) -> None:
    """Read what the client still sends (bounded) so that closing does not reset it before it
    reads the reply."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        for _ in range(_DRAIN_CHUNKS):
            if not sock.recv(65536):
                return


def _json_line(value: object, **options: Any) -> bytes:
    """One JSON line; ``json`` loads with the first message, not with every session."""
    import json

    return json.dumps(value, **options).encode() + b"\n"


def _reply(sock: socket.socket, value: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(_json_line(value))


def connect(path: str, timeout: float | None = 10.0) -> socket.socket:
    """A client socket connected to the session's control socket at ``path`` (OSError)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        with _addressable(path) as address:
            sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def send_request(
    path: str, op: str, rules: list[str] | None = None, timeout: float = 10.0, **fields: object
) -> dict[str, object]:
    """Send one request to the session at ``path`` and return its JSON reply (OSError when
    it cannot be reached; ValueError for a reply that is not JSON)."""
    message: dict[str, object] = {"op": op, **fields}
    if rules is not None:
        message["rules"] = rules
    with connect(path, timeout) as sock:
        sock.sendall(_json_line(message))
        data = b""
        while b"\n" not in data:
            more = sock.recv(4096)
            if not more:
                break
            data += more
    import json

    value = json.loads(data.partition(b"\n")[0] or b"null")
    if not isinstance(value, dict):
        return {"ok": False, "error": "no reply from the session"}
    return value

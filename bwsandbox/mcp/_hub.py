"""Policy-declared MCP servers (``[mcp.servers.NAME]``), each in a sibling sandbox.

An agent in a sandbox cannot start ``agent-sandbox mcp`` itself (no nested user namespaces),
so the supervisor on the host does it for the agent::

    agent sandbox                              host (the agent's supervisor)
    ─────────────                              ─────────────────────────────
    claude --mcp-config /run/agent-sandbox/mcp/mcp.json
      └─ python3 bridge.py NAME.sock ──connect──▶ NAME.sock (listening, in a 0700 dir)
                                                   └─ accept: agent-sandbox mcp [server's
                                                      options] -- COMMAND, on two pipes
                                                      that a relay joins to the connection

Each connection gets a fresh sibling sandbox built from the ``mcp`` policy and the server's
own ``allow``/``ro``/``rw``/``env``/``policy``: the agent never holds the server's grants and
the server never sees the agent's files beyond what its own table binds. The agent's sandbox
sees the hub dir read-only at :data:`MOUNT` (the sockets, ``bridge.py``, ``mcp.json``).
Only bytes cross between the two sandboxes (:class:`_Relay`): the server gets pipes, never
the socket, so no file descriptor passes either way. Closing the bridge's stdin ends the
connection's agent side: the relay closes the server's stdin pipe, which the server's
supervisor sees as its client hanging up (``_hangup``). At most :data:`MAX_CONNECTIONS` live
servers per name (an agent looping on connect gets its connection closed, not a new
sandbox). Closing the hub stops accepting, sends TERM to every server's supervisor (which
forwards it), then KILL, and removes the hub dir's files (regular files and sockets it
created, never following links).
"""

# os-level on purpose: plain string paths and fd-level calls
# ruff: noqa: PTH103, PTH106, PTH108, PTH118, PTH123

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from bwsandbox._errors import LaunchError, PolicyError
from bwsandbox._record import record
from bwsandbox.mcp._bridge import BRIDGE_SOURCE
from bwsandbox.policy import McpServer

__all__ = [
    "BRIDGE",
    "CONFIG",
    "MAX_CONNECTIONS",
    "MOUNT",
    "McpHub",
    "ServerLaunch",
    "agent_args",
    "client_config",
    "hub_overlay",
    "server_argv",
]

#: where the agent's sandbox sees the hub dir (read-only)
MOUNT = "/run/agent-sandbox/mcp"
BRIDGE = "bridge.py"
CONFIG = "mcp.json"
#: live sibling sandboxes per server name
MAX_CONNECTIONS = 4
_STOP_WAIT = 5.0
_CHUNK = 65536

#: starts one server: (agent-sandbox arguments, stdin fd, stdout fd, stderr file) -> child
Spawn = Callable[[Sequence[str], int, int, IO[bytes]], "subprocess.Popen[bytes]"]


@record
class ServerLaunch:
    """One declared server: its name and the ``agent-sandbox`` arguments that run it."""

    name: str
    argv: tuple[str, ...]


def _expand(text: str, variables: Mapping[str, str], where: str) -> str:
    out = text
    for name, value in variables.items():
        out = out.replace("{" + name + "}", value)
    if "{" in out and "}" in out.split("{", 1)[1]:
        raise PolicyError(
            f"{text!r}: only {{project}} and {{host_home}} are known to an MCP server's table",
            key=where,
        )
    return out


def server_argv(server: McpServer, *, project: str, client: str, host_home: str) -> tuple[str, ...]:
    """``agent-sandbox`` arguments for ``server`` (pure): ``mcp [options] -- COMMAND``."""
    variables = {"project": project, "host_home": host_home}
    where = f"mcp.servers.{server.name}"
    argv = ["mcp", "--project", project, "--client", client]
    for option, values in (
        ("--policy", server.policy),
        ("--ro", server.ro),
        ("--rw", server.rw),
        ("--allow", server.allow),
        ("--env", server.env),
    ):
        for value in values:
            argv += [option, _expand(value, variables, f"{where}.{option[2:]}")]
    argv.append("--")
    argv += [_expand(word, variables, f"{where}.command") for word in server.command]
    return tuple(argv)


def client_config(names: Sequence[str], *, mount: str = MOUNT) -> dict[str, object]:
    """The ``mcpServers`` configuration the agent reads: each name runs the bridge."""
    return {
        "mcpServers": {
            name: {
                "type": "stdio",
                "command": "python3",
                "args": [f"{mount}/{BRIDGE}", f"{mount}/{name}.sock"],
            }
            for name in names
        }
    }


def agent_args(agent: str, names: Sequence[str], *, mount: str = MOUNT) -> tuple[str, ...]:
    """Arguments that point ``agent`` at the servers (ahead of the user's own): Claude Code
    reads the config file (``--mcp-config``), Codex takes ``-c mcp_servers.NAME...``
    overrides; other commands get none (``AGENT_SANDBOX_MCP_CONFIG`` names the file)."""
    if agent == "claude":
        return ("--mcp-config", f"{mount}/{CONFIG}")
    if agent == "codex":
        args: list[str] = []
        for name in names:
            bridge = [f"{mount}/{BRIDGE}", f"{mount}/{name}.sock"]
            args += ["-c", f'mcp_servers.{name}.command="python3"']
            args += ["-c", f"mcp_servers.{name}.args={json.dumps(bridge)}"]
        return tuple(args)
    return ()


def hub_overlay(hub_dir: str) -> dict[str, object]:
    """The policy layer that shows the hub dir to the agent's sandbox."""
    return {
        "filesystem": {"ro": [{"src": hub_dir, "dest": MOUNT, "optional": False}]},
        "env": {"set": {"AGENT_SANDBOX_MCP_CONFIG": f"{MOUNT}/{CONFIG}"}},
    }


def _spawn_cli(
    argv: Sequence[str], stdin: int, stdout: int, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """The default spawn: this package's own CLI, ``agent-sandbox mcp ...``."""
    return subprocess.Popen(
        [sys.executable, "-m", "bwsandbox.cli", *argv],
        stdin=stdin,
        stdout=stdout,
        stderr=log,
        close_fds=True,
        start_new_session=True,  # the terminal's Ctrl-C is the agent's, not the servers'
    )


class _Relay:
    """Bytes between the agent's connection and the server's pipes, in two daemon threads.

    Only bytes cross: ``recv`` drops any file descriptor the agent sends (SCM_RIGHTS), and
    the server holds pipes, which cannot carry one. So two compromised sandboxes cannot pool
    their grants (the server's open sockets or files for the agent, or the reverse).
    """

    __slots__ = ("conn", "from_server", "to_server", "up")

    def __init__(self, conn: socket.socket, to_server: int, from_server: int) -> None:
        self.conn = conn
        self.to_server = to_server
        self.from_server = from_server
        self.up = threading.Thread(target=self._up, name="mcp-relay-up", daemon=True)

    def start(self) -> None:
        self.up.start()
        threading.Thread(target=self._down, name="mcp-relay-down", daemon=True).start()

    def _up(self) -> None:
        """Agent -> server; at the agent's EOF the server's stdin closes (its hang-up)."""
        try:
            while data := self.conn.recv(_CHUNK):
                view = memoryview(data)
                while view:
                    view = view[os.write(self.to_server, view) :]
        except OSError:
            pass
        finally:
            os.close(self.to_server)

    def _down(self) -> None:
        """Server -> agent; at the server's EOF the connection ends both ways."""
        try:
            while data := os.read(self.from_server, _CHUNK):
                self.conn.sendall(data)
        except OSError:
            pass
        finally:
            os.close(self.from_server)
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            self.up.join()
            self.conn.close()


class McpHub:
    """The sockets, the accept thread and the sibling sandboxes of one agent session."""

    def __init__(
        self,
        servers: Sequence[ServerLaunch],
        *,
        parent_dir: str,
        log_dir: str,
        spawn: Spawn | None = None,
    ) -> None:
        self.servers = tuple(servers)
        self.parent_dir = parent_dir
        self.log_dir = log_dir
        self._spawn = spawn or _spawn_cli
        self.path = ""
        self._listeners: dict[int, tuple[ServerLaunch, socket.socket]] = {}
        self._children: dict[str, list[subprocess.Popen[bytes]]] = {}
        self._logs: list[IO[bytes]] = []
        self._files: list[str] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        #: connections refused because MAX_CONNECTIONS servers of that name were live
        self.refused = 0

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> str:
        """Create the hub dir, the bridge, the config and a listening socket per server."""
        try:
            self.path = tempfile.mkdtemp(prefix="agent-sandbox-mcp-", dir=self.parent_dir)
            self._write(BRIDGE, BRIDGE_SOURCE, 0o444)
            config = client_config([s.name for s in self.servers])
            self._write(CONFIG, json.dumps(config, indent=2).encode() + b"\n", 0o444)
            for server in self.servers:
                path = os.path.join(self.path, f"{server.name}.sock")
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind(path)
                self._files.append(path)
                listener.listen(MAX_CONNECTIONS)
                listener.setblocking(False)
                self._listeners[listener.fileno()] = (server, listener)
            os.makedirs(self.log_dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            self.close()
            raise LaunchError(
                f"cannot set up the MCP servers' sockets in {self.parent_dir}: {exc.strerror}",
                hint="the runtime dir (XDG_RUNTIME_DIR, else TMPDIR) must be writable",
            ) from exc
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._serve, name="mcp-hub", daemon=True)
        self._thread.start()
        return self.path

    def close(self) -> None:
        """Stop accepting; TERM, wait, KILL every server; remove what :meth:`open` made."""
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(_STOP_WAIT)
            self._thread = None
        for _, listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        self._stop_children()
        for log in self._logs:
            log.close()
        self._logs.clear()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        for path in self._files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # unlink never follows a link
        self._files.clear()
        if self.path:
            with contextlib.suppress(OSError):
                os.rmdir(self.path)
            self.path = ""

    def __enter__(self) -> McpHub:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def live(self, name: str) -> int:
        """How many sibling sandboxes of ``name`` are running."""
        with self._lock:
            return sum(1 for child in self._children.get(name, ()) if child.poll() is None)

    # -- inside ----------------------------------------------------------------------------

    def _write(self, name: str, content: bytes, mode: int) -> None:
        path = os.path.join(self.path, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        self._files.append(path)
        with os.fdopen(fd, "wb") as out:
            out.write(content)

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ)
            for fd in self._listeners:
                selector.register(fd, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fd == self._wake_r:
                        return
                    self._accept(*self._listeners[key.fd])

    def _accept(self, server: ServerLaunch, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        if self.live(server.name) >= MAX_CONNECTIONS:
            self.refused += 1
            conn.close()
            return
        conn.setblocking(True)
        to_server, from_server = os.pipe(), os.pipe()
        log = open(os.path.join(self.log_dir, f"mcp-{server.name}.log"), "ab")  # noqa: SIM115
        self._logs.append(log)
        try:
            child = self._spawn(server.argv, to_server[0], from_server[1], log)
        except OSError:
            for fd in (*to_server, *from_server):
                os.close(fd)
            conn.close()
            return  # the bridge sees EOF
        os.close(to_server[0])
        os.close(from_server[1])
        with self._lock:
            self._children.setdefault(server.name, []).append(child)
        _Relay(conn, to_server[1], from_server[0]).start()

    def _stop_children(self) -> None:
        with self._lock:
            children = [c for group in self._children.values() for c in group]
            self._children.clear()
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_WAIT
        for child in children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

"""Run a command in a real sandbox from a test, through the library's one launch path.

:func:`start_sandbox` builds a policy (the shipped ``base`` plus the test's network rules),
starts :class:`bwsandbox.runtime.Sandbox` with pipes for stdin, stdout and stderr and an
in-memory audit, and gives the test the running sandbox to talk to; :meth:`Running.finish`
waits and returns a :class:`SandboxResult`. Nothing here launches bwrap itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence

from bwsandbox._audit import MemoryAudit
from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

    from bwsandbox.policy._model import Policy

__all__ = ["Running", "SandboxResult", "run_sandbox", "start_sandbox"]

#: how long :meth:`Running.finish` waits for the command before stopping it
TIMEOUT = 30.0


@record
class SandboxResult:
    """What one sandboxed command did: its status, output, and the session's audit events."""

    returncode: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]]
    #: the network's denial summary lines (the ``network`` audit events)
    summary: list[str]
    seconds: float

    def net(self, decision: str | None = None) -> list[dict[str, Any]]:
        """The ``net`` events (each connection or name decided), optionally one decision."""
        return [
            e
            for e in self.events
            if e["event"] == "net" and (decision is None or e["decision"] == decision)
        ]

    def denied(self, host: str, port: int | None = None) -> bool:
        """Whether a connection to ``host`` (and ``port``) was denied."""
        return any(
            e["host"] == host and (port is None or e["port"] == port) for e in self.net("deny")
        )

    def describe(self) -> str:
        """Everything, for an assertion message."""
        return (
            f"rc={self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}\n"
            f"events:\n" + "\n".join(json.dumps(e, default=str) for e in self.events)
        )


def _policy(
    *,
    network: str,
    allow: Sequence[str],
    deny: Sequence[str],
    add_hosts: Sequence[tuple[str, str]],
    proxy_env: bool,
    ro_binds: Sequence[str],
) -> Policy:
    from bwsandbox._netconst import PROXY_ENV
    from bwsandbox.policy import load_policy

    table: dict[str, Any] = {"mode": network}
    if allow:
        table["allow"] = list(allow)
    if deny:
        table["deny"] = list(deny)
    if add_hosts:
        table["add_hosts"] = dict(add_hosts)
    overlay: dict[str, object] = {"network": table}
    if not proxy_env:
        overlay["env"] = {"unset": [name for name, _ in PROXY_ENV]}
    if ro_binds:
        overlay["filesystem"] = {"ro": [os.fspath(path) for path in ro_binds]}
    return load_policy(("base",), overlays=[("bwsandbox.testing", overlay)])


class Running:
    """A sandbox started by :func:`start_sandbox`: talk to it, then :meth:`finish`.

    ``stdin`` is the command's standard input (binary, writable), ``stdout`` its standard
    output (binary, readable); ``child_pid`` the host pid of its pid 1; ``sandbox`` the
    :class:`~bwsandbox.runtime.Sandbox`; ``audit`` the session's events so far.
    """

    def __init__(self, command: Sequence[str], policy: Policy, project: str | None) -> None:
        from bwsandbox.runtime import Sandbox

        self.audit = MemoryAudit("bwsandbox-testing")
        self._own_project = project is None
        self.project = project or tempfile.mkdtemp(prefix="bwsandbox-testing-")
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self.sandbox = Sandbox(
            policy,
            project=self.project,
            command=command,
            stdin=in_r,
            stdout=out_w,
            stderr=err_w,
            interactive=False,
            audit=self.audit,
            forward_signals=False,
        )
        self.stdin: IO[bytes] = os.fdopen(in_w, "wb")
        self.stdout: IO[bytes] = os.fdopen(out_r, "rb")
        self._stderr: IO[bytes] = os.fdopen(err_r, "rb")
        self.started = time.monotonic()
        try:
            self.sandbox.start()
        except BaseException:
            for stream in (self.stdin, self.stdout, self._stderr):
                stream.close()
            self._remove_project()
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)

    @property
    def child_pid(self) -> int:
        pid = self.sandbox.child_pid
        if pid is None:  # start() returned: bwrap told its child's pid
            raise RuntimeError("the sandbox has no child pid")
        return pid

    def finish(self, stdin: bytes = b"", timeout: float = TIMEOUT) -> SandboxResult:
        """Write ``stdin`` and close it, wait for the command (stop it after ``timeout``)."""
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [
            threading.Thread(target=lambda: out.append(self.stdout.read()), daemon=True),
            threading.Thread(target=lambda: err.append(self._stderr.read()), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            try:
                if stdin:
                    self.stdin.write(stdin)
                self.stdin.close()
            except BrokenPipeError:
                pass
            try:
                code = self.sandbox.wait(timeout)
            except TimeoutError:
                self.sandbox.stop()
                code = self.sandbox.returncode if self.sandbox.returncode is not None else -9
        finally:
            self.sandbox.stop()
            for reader in readers:
                reader.join(10)
            self.stdout.close()
            self._stderr.close()
            self._remove_project()
        events = list(self.audit.events)
        return SandboxResult(
            code,
            b"".join(out).decode(errors="replace"),
            b"".join(err).decode(errors="replace"),
            events,
            [str(e["summary"]) for e in events if e["event"] == "network" and "summary" in e],
            time.monotonic() - self.started,
        )

    def _remove_project(self) -> None:
        if self._own_project:
            shutil.rmtree(self.project, ignore_errors=True)


def start_sandbox(
    command: Sequence[str],
    *,
    network: str = "filtered",
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    add_hosts: Sequence[tuple[str, str]] = (),
    proxy_env: bool = True,
    ro_binds: Sequence[str] = (),
    project: str | None = None,
    policy: Policy | None = None,
) -> Running:
    """Start ``command`` in a sandbox of the shipped ``base`` policy with these network rules.

    ``proxy_env=False`` leaves the ``HTTP_PROXY`` family unset (transparent proxying only);
    ``ro_binds`` are host paths bound read-only at the same place; ``project`` defaults to a
    fresh empty directory, removed afterwards. A ``policy`` given replaces all of that.
    """
    if policy is None:
        policy = _policy(
            network=network,
            allow=allow,
            deny=deny,
            add_hosts=add_hosts,
            proxy_env=proxy_env,
            ro_binds=ro_binds,
        )
    return Running(command, policy, project)


def run_sandbox(
    command: Sequence[str],
    *,
    network: str = "filtered",
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    add_hosts: Sequence[tuple[str, str]] = (),
    proxy_env: bool = True,
    ro_binds: Sequence[str] = (),
    stdin: bytes = b"",
) -> SandboxResult:
    """:func:`start_sandbox`, then :meth:`Running.finish` with ``stdin``."""
    running = start_sandbox(
        command,
        network=network,
        allow=allow,
        deny=deny,
        add_hosts=add_hosts,
        proxy_env=proxy_env,
        ro_binds=ro_binds,
    )
    return running.finish(stdin)

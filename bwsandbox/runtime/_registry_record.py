"""One running sandbox as the registry recorded it, and the checks that it is still that one.

A record names processes by pid *and* start time, so a pid the kernel has given to another
process since is never mistaken for the session. :meth:`SessionRecord.verify` also checks the
chain supervisor -> bwrap -> the sandbox's pid 1, so a record that was tampered with cannot
send ``exec`` into some other process's namespaces.
"""

# ruff: noqa: PTH123, SIM105

from __future__ import annotations

import os
import select
import signal
import time

from bwsandbox._errors import LaunchError
from bwsandbox._record import record
from bwsandbox.runtime._workdir import proc_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ProcessRef", "SessionRecord"]


@record
class ProcessRef:
    """A host process: its pid and its start time (clock ticks since boot)."""

    pid: int
    start: int

    def alive(self) -> bool:
        return self.pid > 0 and proc_start_time(self.pid) == self.start

    def parent(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as file:
                data = file.read()
        except OSError:
            return None
        fields = data[data.rfind(b")") + 2 :].split()
        return int(fields[1]) if len(fields) > 1 else None

    @classmethod
    def from_json(cls, value: Any) -> ProcessRef:
        return cls(pid=int(value["pid"]), start=int(value["start"]))


@record
class SessionRecord:
    """What ``ps`` shows and what ``exec`` needs to enter the sandbox."""

    id: str
    client: str
    policy: str
    project: str
    started: str
    network: str
    supervisor: ProcessRef
    bwrap: ProcessRef
    init: ProcessRef  # the sandbox's pid 1; shares every namespace with the command
    env: tuple[tuple[str, str], ...]
    cwd: str
    uid: int
    gid: int
    seccomp: bytes = b""  # the BPF program of bwrap's --seccomp (empty: none)
    path: str = ""  # the record file

    @classmethod
    def from_json(cls, raw: dict[str, Any], path: str = "") -> SessionRecord | None:
        """Parse a record; None when a field is missing or has the wrong type."""
        try:
            env = tuple((str(name), str(value)) for name, value in raw["env"])
            record = cls(
                id=str(raw["id"]),
                client=str(raw["client"]),
                policy=str(raw["policy"]),
                project=str(raw["project"]),
                started=str(raw["started"]),
                network=str(raw["network"]),
                supervisor=ProcessRef.from_json(raw["supervisor"]),
                bwrap=ProcessRef.from_json(raw["bwrap"]),
                init=ProcessRef.from_json(raw["init"]),
                env=env,
                cwd=str(raw["cwd"]),
                uid=int(raw["uid"]),
                gid=int(raw["gid"]),
                seccomp=bytes.fromhex(str(raw.get("seccomp", ""))),
                path=path,
            )
        except (KeyError, TypeError, ValueError):
            return None
        return record

    def alive(self) -> bool:
        """The supervisor that wrote the record is still running."""
        return self.supervisor.alive()

    def verify(self) -> None:
        """Check that the recorded processes are still this sandbox's; LaunchError if not."""
        chain = (
            (self.supervisor, None),
            (self.bwrap, self.supervisor.pid),
            (self.init, self.bwrap.pid),
        )
        for process, parent in chain:
            if not process.alive() or (parent is not None and process.parent() != parent):
                raise LaunchError(
                    f"sandbox {self.id} is no longer running",
                    hint="`agent-sandbox ps` lists the running ones",
                )

    def command_pid(self) -> int | None:
        """Host pid of the sandboxed command: pid 1's first child (pid 1 itself without one)."""
        try:
            with open(f"/proc/{self.init.pid}/task/{self.init.pid}/children", "rb") as file:
                children = [int(pid) for pid in file.read().split()]
        except (OSError, ValueError):
            return None
        if not self.init.alive():
            return None
        if not children:
            return self.init.pid
        return min(children, key=lambda pid: (proc_start_time(pid) or 0, pid))

    def supervisor_usage(self) -> tuple[int, int] | None:
        """The supervisor's resident memory (KiB) and threads, from ``/proc/PID/status``.

        The supervisor is the host-side process that holds the session's proxy and DNS
        responder (filtered network), outside every limit set for the sandbox.
        """
        if not self.supervisor.alive():
            return None
        try:
            with open(f"/proc/{self.supervisor.pid}/status", "rb") as file:
                lines = file.read().splitlines()
        except OSError:
            return None
        fields = dict(line.split(b":", 1) for line in lines if b":" in line)
        try:
            rss = int(fields[b"VmRSS"].split()[0])
            threads = int(fields[b"Threads"].split()[0])
        except (KeyError, IndexError, ValueError):
            return None
        return rss, threads

    def to_json(self) -> dict[str, object]:
        """What ``ps --json`` prints (no environment: it may hold secrets)."""
        usage = self.supervisor_usage()
        return {
            "id": self.id,
            "client": self.client,
            "agent": self.policy,
            "project": self.project,
            "started": self.started,
            "network": self.network,
            "supervisor_pid": self.supervisor.pid,
            "supervisor_rss_kib": usage[0] if usage else None,
            "supervisor_threads": usage[1] if usage else None,
            "bwrap_pid": self.bwrap.pid,
            "init_pid": self.init.pid,
            "command_pid": self.command_pid(),
            "cwd": self.cwd,
            "uid": self.uid,
            "gid": self.gid,
        }

    def stop(self, timeout: float = 10.0) -> bool:
        """TERM the supervisor (it stops the sandbox: TERM, wait, KILL); wait up to ``timeout``.

        Still running after that: KILL bwrap (the supervisor then tears down as usual) and wait
        once more. True when the supervisor has exited.
        """
        try:
            pidfd = os.pidfd_open(self.supervisor.pid)
        except ProcessLookupError:
            return True
        except OSError as exc:
            raise LaunchError(f"cannot signal sandbox {self.id}: {exc.strerror}") from exc
        try:
            if not self.supervisor.alive():  # the pid was reused before we opened it
                return True
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
            if _wait_readable(pidfd, timeout):
                return True
            if self.bwrap.alive():
                try:
                    os.kill(self.bwrap.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return _wait_readable(pidfd, timeout)
        finally:
            os.close(pidfd)


def _wait_readable(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if select.select([fd], [], [], remaining)[0]:
            return True

"""What ``doctor`` reports (:class:`Check`, :class:`Diagnosis`) and what it probes through
(:class:`HostProbe`). The check modules import these; nothing here imports them back.
"""

from __future__ import annotations

import enum
from typing import Protocol

from bwsandbox._record import record

__all__ = ["Check", "Diagnosis", "HostProbe", "Status"]


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but a later feature or a defence is degraded
    FAIL = "fail"  # the sandbox cannot work until this is fixed
    INFO = "info"


@record
class Check:
    name: str
    status: Status
    summary: str
    fix: tuple[str, ...] = ()  # lines to show under the check (commands, caveats)


@record
class Diagnosis:
    checks: tuple[Check, ...]

    @property
    def sandbox_works(self) -> bool:
        return not any(check.status is Status.FAIL for check in self.checks)


class HostProbe(Protocol):
    """The side effects doctor needs; :class:`RealHost` is the real one."""

    uid: int

    def read(self, path: str) -> str | None:
        """A small file's stripped text, or None when it cannot be read."""

    def exists(self, path: str) -> bool: ...

    def writable(self, path: str) -> bool: ...

    def which(self, name: str) -> str | None: ...

    def run(self, argv: list[str]) -> tuple[int, str]:
        """Exit status and stderr+stdout; status 127 when the program cannot be started."""

    def has_library(self, soname: str) -> bool: ...

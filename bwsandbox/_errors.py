"""The one exception tree of bwsandbox.

::

    SandboxError                     exit status 125 at the CLI
    ├── PolicyError                  a policy file or option is wrong (file, key path, hint)
    ├── DependencyError              a host tool or kernel feature is missing (bwrap, userns)
    ├── WorkspaceError               the project, work dir or a bind source is unusable
    ├── LaunchError                  bwrap could not be started or failed before the command ran
    │   ├── CommandNotFoundError     the command does not exist in the sandbox (exit 127)
    │   └── CommandNotExecutableError  the command exists but cannot be run (exit 126)
    ├── NetworkError                 the sandbox network could not be set up
    │   └── ProxyError               the egress proxy or DNS responder failed
    └── SecretError                  a secret could not be resolved (never carries its value)

Every error renders as one line (``str(exc)``) that says what went wrong and, where there is
one, what to do (``exc.hint``). Third-party and OS errors are converted at one seam with
``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "CommandNotExecutableError",
    "CommandNotFoundError",
    "DependencyError",
    "LaunchError",
    "NetworkError",
    "PolicyError",
    "ProxyError",
    "SandboxError",
    "SecretError",
    "WorkspaceError",
]


class SandboxError(Exception):
    """Base of every error bwsandbox raises on purpose."""

    exit_status: int = 125

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class PolicyError(SandboxError):
    """A policy is invalid: names the file, the key path and what was expected."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.key = key

    def __str__(self) -> str:
        where = ""
        if self.file and self.key:
            where = f"{self.file}: {self.key}: "
        elif self.file:
            where = f"{self.file}: "
        elif self.key:
            where = f"{self.key}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class DependencyError(SandboxError):
    """A host dependency (bwrap, user namespaces, nftables...) is missing or unusable."""


class WorkspaceError(SandboxError):
    """The project directory, work dir or a bind source cannot be used."""


class LaunchError(SandboxError):
    """The sandbox could not be started."""


class CommandNotFoundError(LaunchError):
    """The command does not exist inside the sandbox."""

    exit_status = 127


class CommandNotExecutableError(LaunchError):
    """The command exists inside the sandbox but cannot be executed."""

    exit_status = 126


class NetworkError(SandboxError):
    """The sandbox network could not be set up."""


class ProxyError(NetworkError):
    """The egress proxy or DNS responder failed."""


class SecretError(SandboxError):
    """A secret could not be resolved. Never carries the secret's value."""

    def __init__(self, message: str, *, name: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.name = name

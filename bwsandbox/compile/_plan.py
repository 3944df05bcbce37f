"""The compiler's output: everything the runtime needs to start one sandbox.

Imports point down only: the mount table's :class:`MountEntry` comes from the options that
state it (:mod:`._options`), secret deliveries from :mod:`._delivery`; nothing here imports
the compiler's steps (``_secrets`` imports this module, not the other way round).
"""

from __future__ import annotations

from bwsandbox._record import field, record
from bwsandbox.compile._limits import ResourceLimits
from bwsandbox.compile._options import BwrapOption, FdRef, MountEntry, MountKind, render_all
from bwsandbox.policy import NetworkMode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from bwsandbox._netrules import Rule
    from bwsandbox.compile._delivery import SecretUse, SshPlan

__all__ = ["DataFile", "MountEntry", "MountKind", "NetworkPlan", "SandboxPlan", "SandboxUser"]


@record
class DataFile:
    """Content the runtime writes into a pipe for ``--ro-bind-data`` (never to disk)."""

    fd: FdRef
    content: bytes
    secret: bool = False  # redacted in explain, logs and errors


@record
class SandboxUser:
    """Who the command runs as inside: name, ids and home."""

    name: str
    uid: int
    gid: int
    home: str


@record
class NetworkPlan:
    """The network of one sandbox: its mode and its rules, parsed once (by the compiler)."""

    mode: NetworkMode
    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()
    add_hosts: tuple[tuple[str, str], ...] = ()
    #: CA file the proxy verifies inspected upstreams against ("": the host's CA store)
    upstream_ca_file: str = ""

    @classmethod
    def parse(
        cls,
        mode: NetworkMode,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        add_hosts: Iterable[tuple[str, str]] = (),
        *,
        upstream_ca_file: str = "",
    ) -> NetworkPlan:
        """A plan from rule texts (raises ``ValueError`` for a malformed one)."""
        allow, deny = tuple(allow), tuple(deny)
        if not allow and not deny:  # the rule grammar is not loaded for a plan without rules
            return cls(mode, (), (), tuple(add_hosts), upstream_ca_file)
        from bwsandbox._netrules import parse_rule

        return cls(
            mode,
            tuple(parse_rule(text, allow=True) for text in allow),
            tuple(parse_rule(text) for text in deny),
            tuple(add_hosts),
            upstream_ca_file,
        )

    @property
    def inspecting(self) -> bool:
        """Whether an allow rule inspects HTTPS requests (methods or a path glob)."""
        return any(rule.inspecting for rule in self.allow)


@record
class SandboxPlan:
    """argv with symbolic fds, environment, cwd, and what the runtime must set up."""

    bwrap: str
    options: tuple[BwrapOption, ...]
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str
    user: SandboxUser
    network: NetworkPlan
    data: tuple[DataFile, ...] = ()
    mounts: tuple[MountEntry, ...] = ()
    #: host paths inside writable binds that are protected (read-only) for the session
    protected: tuple[str, ...] = ()
    #: (path, "file" | "dir"): absent protected paths that bwrap creates on the host as
    #: empty read-only placeholders; the runtime removes them (if still empty) afterwards
    placeholders: tuple[tuple[str, str], ...] = ()
    #: paths that must not appear during the session (moved aside afterwards if they do)
    watched: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    #: secrets to read at launch and how each is delivered (never their values)
    secrets: tuple[SecretUse, ...] = ()
    #: a per-session SSH certificate to issue at launch
    ssh: SshPlan | None = None
    #: resource limits the runtime applies (cgroup or rlimits) and the wall-clock timeout
    limits: ResourceLimits = field(default_factory=ResourceLimits)

    def fd_refs(self) -> tuple[FdRef, ...]:
        """Every symbolic fd the options use, in order of first use."""
        seen: dict[FdRef, None] = {}
        for option in self.options:
            for ref in option.fd_refs():
                seen.setdefault(ref, None)
        return tuple(seen)

    def argv(self, fds: dict[FdRef, int] | None = None) -> list[str]:
        """The full bwrap argv; symbolic fds render as ``{fd:NAME}`` without ``fds``."""
        return [self.bwrap, *render_all(self.options, fds), "--", *self.command]

"""The policy model: frozen, slotted records (``@record``). Raw TOML never leaves the loader.

A resolved :class:`Policy` is the merge of its layers (``extends``), with variables such as
``{project}`` still unexpanded: they are expanded by the compiler, which knows the workspace.

Each field carries ``metadata={"doc": ...}``; the policy reference in ``docs/`` is generated
from it, and the loader derives the accepted TOML keys from the field names.
"""

from __future__ import annotations

import enum

from bwsandbox._record import field, record
from bwsandbox.policy._model_devices import DevicesPolicy
from bwsandbox.policy._model_limits import LimitsPolicy, SeccompPolicy
from bwsandbox.policy._model_mcp import McpPolicy
from bwsandbox.policy._model_secrets import Secret, SshPolicy

__all__ = [
    "VARIABLES",
    "Bind",
    "CommandPolicy",
    "DevicesPolicy",
    "EnvPolicy",
    "FilesystemPolicy",
    "GitPolicy",
    "HardeningPolicy",
    "LimitsPolicy",
    "NetworkMode",
    "NetworkPolicy",
    "Policy",
    "SeccompPolicy",
]

#: Variables a policy string may use, e.g. ``"{project}/.git/hooks"``.
VARIABLES: dict[str, str] = {
    "project": "absolute path of the project directory (bound read-write by default policies)",
    "home": "the sandbox user's home directory (private: not the host's home)",
    "host_home": "the invoking user's home directory on the host (for explicit binds only)",
    "workdir": "the session's private work dir on the host (its tmp/ is the sandbox's /tmp)",
    "client": "the client compartment name",
    "user": "the sandbox user name",
    "uid": "the sandbox user id",
    "runtime_dir": "the host's XDG runtime dir",
}


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


class NetworkMode(enum.StrEnum):
    """How the sandbox reaches the network."""

    NONE = "none"
    HOST = "host"
    FILTERED = "filtered"


@record
class Bind:
    """A host path made visible in the sandbox.

    In TOML either a string (``"/usr"``: same path inside) or a table
    ``{ src = "...", dest = "...", optional = true }``.
    """

    src: str = field(metadata=_doc("host path (variables allowed)"))
    dest: str = field(default="", metadata=_doc("path inside the sandbox; defaults to src"))
    optional: bool = field(
        default=True, metadata=_doc("skip silently when src does not exist on the host")
    )

    @property
    def target(self) -> str:
        return self.dest or self.src


@record
class FilesystemPolicy:
    """What the sandbox sees. Later layers append to lists; ``remove`` drops destinations."""

    ro: tuple[Bind, ...] = field(default=(), metadata=_doc("read-only binds"))
    rw: tuple[Bind, ...] = field(default=(), metadata=_doc("read-write binds"))
    tmpfs: tuple[str, ...] = field(default=(), metadata=_doc("empty private tmpfs mounts"))
    mask: tuple[str, ...] = field(
        default=(),
        metadata=_doc("paths hidden inside the sandbox: a file becomes empty, a dir empty"),
    )
    protect: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "paths kept read-only even inside a read-write bind (hooks, rc files, editor "
            "settings the host later runs); a trailing '/' marks a directory. Absent paths "
            "get an empty read-only placeholder for the session, removed afterwards"
        ),
    )
    watch: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "paths inside the project that must not appear during the session, where a "
            "placeholder would break tools (.git/commondir): one that appears is moved aside "
            "after the session, with a warning"
        ),
    )
    etc: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "files and dirs under /etc bound read-only when present (a curated /etc; "
            "passwd and group are always generated)"
        ),
    )
    remove: tuple[str, ...] = field(
        default=(),
        metadata=_doc("destinations inherited from earlier layers to drop (any kind)"),
    )
    home: str = field(
        default="private",
        metadata=_doc(
            "the sandbox home: 'private' (empty, in the work dir) or 'tmpfs'; never the host's"
        ),
    )
    tmp_size: str = field(default="", metadata=_doc("reserved: size limit for /tmp"))


@record
class EnvPolicy:
    """The sandbox environment starts empty; only what is listed here gets in."""

    passthrough: tuple[str, ...] = field(
        default=(),
        metadata=_doc("host variables copied in when set; shell globs such as 'LC_*' allowed"),
    )
    set: tuple[tuple[str, str], ...] = field(
        default=(), metadata=_doc("variables set to a value (variables allowed)")
    )
    unset: tuple[str, ...] = field(
        default=(), metadata=_doc("variables removed after passthrough and set (globs allowed)")
    )


@record
class CommandPolicy:
    """What runs when no command is given on the command line, and where."""

    argv: tuple[str, ...] = field(
        default=(), metadata=_doc("default command; empty means one must be given")
    )
    cwd: str = field(default="{project}", metadata=_doc("working directory inside the sandbox"))


@record
class NetworkPolicy:
    """Egress. ``none``: loopback only. ``host``: the host's network. ``filtered``: allowlist."""

    mode: NetworkMode = field(default=NetworkMode.NONE, metadata=_doc("none | host | filtered"))
    allow: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "allowed destinations: host, host:port, *.domain, IP, CIDR (filtered mode); "
            "'[METHODS ]HOST[:PORT]/PATH-GLOB' inspects HTTPS requests"
        ),
    )
    deny: tuple[str, ...] = field(
        default=(), metadata=_doc("denied destinations, checked before allow (filtered mode)")
    )
    add_hosts: tuple[tuple[str, str], ...] = field(
        default=(), metadata=_doc("name = IP pairs resolvable in the sandbox (like --add-host)")
    )
    quiet: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "names denied on purpose (update checks, telemetry): counted in one line of the "
            "exit summary, never suggested for --allow; *.domain wildcards"
        ),
    )
    unlisted: str = field(
        default="deny",
        metadata=_doc(
            "what happens to a name no rule lists (filtered mode): deny, or ask (the lookup "
            "or connection is held until `agent-sandbox watch` or a library callback answers, "
            "at most ask_timeout)"
        ),
    )
    ask_timeout: str = field(
        default="30s",
        metadata=_doc("how long an unlisted name is held for an answer before it is denied"),
    )
    upstream_ca_file: str = field(
        default="",
        metadata=_doc(
            "PEM file of the CAs the proxy trusts for inspected upstreams (rules with methods "
            "or a path), instead of the host's CA store: private CAs, tests"
        ),
    )


@record
class HardeningPolicy:
    """Hardening switches. Every relaxation must be written down in a policy."""

    nested_userns: bool = field(
        default=False, metadata=_doc("allow user namespaces inside the sandbox")
    )
    new_session: bool = field(
        default=True,
        metadata=_doc("detach from the host terminal's session (TIOCSTI defence) when no pty"),
    )
    die_with_parent: bool = field(default=True, metadata=_doc("kill the sandbox with its parent"))
    hostname: str = field(default="sandbox", metadata=_doc("hostname inside the sandbox"))
    share_ipc: bool = field(default=False, metadata=_doc("share the host IPC namespace"))
    share_pid: bool = field(default=False, metadata=_doc("share the host PID namespace"))
    uid: int | None = field(
        default=None,
        metadata=_doc("uid inside; default: the caller's, or 1000 when invoked as root"),
    )
    terminal_filter: bool = field(
        default=True,
        metadata=_doc(
            "filter escape sequences the sandbox writes to a terminal (clipboard writes, "
            "report requests, non-http links); see the threat model"
        ),
    )


@record
class GitPolicy:
    """What git inside gets from the host's git config: data only, never programs."""

    identity: bool = field(
        default=False,
        metadata=_doc(
            "the host's user.name and user.email, in a generated read-only system gitconfig"
        ),
    )
    excludes: bool = field(
        default=False,
        metadata=_doc("the host's global ignore patterns (core.excludesFile), as data"),
    )


@record
class Policy:
    """A resolved policy: all layers merged, variables unexpanded."""

    name: str = field(metadata=_doc("policy name (file stem)"))
    description: str = field(default="", metadata=_doc("one line for humans"))
    sources: tuple[str, ...] = field(
        default=(), metadata=_doc("files the layers came from, base first")
    )
    enforced: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "admin-enforced layers among the sources, applied last "
            "(/etc/agent-sandbox/enforced.toml): the other layers cannot loosen them"
        ),
    )
    filesystem: FilesystemPolicy = field(default_factory=FilesystemPolicy)
    env: EnvPolicy = field(default_factory=EnvPolicy)
    command: CommandPolicy = field(default_factory=CommandPolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    hardening: HardeningPolicy = field(default_factory=HardeningPolicy)
    git: GitPolicy = field(default_factory=GitPolicy)
    limits: LimitsPolicy = field(default_factory=LimitsPolicy)
    seccomp: SeccompPolicy = field(default_factory=SeccompPolicy)
    devices: DevicesPolicy = field(default_factory=DevicesPolicy)
    ssh: SshPolicy = field(default_factory=SshPolicy)
    mcp: McpPolicy = field(default_factory=McpPolicy)
    secrets: tuple[Secret, ...] = field(
        default=(), metadata=_doc("[secrets.NAME] tables: resolved at launch, never stored")
    )

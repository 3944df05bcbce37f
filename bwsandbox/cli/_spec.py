"""The one table of ``run``-style options, from which both parsers are derived.

The typer commands (:mod:`bwsandbox.cli._app`) build their click parameters from
:data:`RUN_OPTIONS`, and the start-up fast path (:mod:`bwsandbox.cli._fastparse`) reads the same
table. Both produce the same ``{dest: value}`` mapping (see :func:`defaults`), so the code that
runs a sandbox does not know which parser it came from.

Import-light on purpose (no ``typing``, no ``dataclasses``): it is on the start-up path.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "AGENTS",
    "AGENT_COMMANDS",
    "CACHE_VAR",
    "EXIT_STATUS_HELP",
    "FLAG",
    "MCP_OPTIONS",
    "MULTI",
    "NETWORK_MODES",
    "RUN_OPTIONS",
    "SWITCH",
    "VALUE",
    "OptionSpec",
    "by_name",
    "defaults",
]

#: ``--name VALUE``; the last one given wins.
VALUE = "value"
#: ``--name VALUE``, repeatable; values collect into a tuple in order.
MULTI = "multi"
#: ``--name``: True when given.
FLAG = "flag"
#: ``--name/--no-name``: True, False, or None (auto) when neither is given.
SWITCH = "switch"

NETWORK_MODES = ("none", "filtered", "host")

#: Commands that run a sandbox, with the policy their layers start from. ``run`` starts from
#: ``base``; agent profiles start from their own shipped policy.
AGENT_COMMANDS: dict[str, str] = {
    "run": "base",
    "shell": "shell",
    "claude": "claude",
    "codex": "codex",
    "opencode": "opencode",
    "pi": "pi",
    "gemini": "gemini",
}

#: Commands whose profile comes from :mod:`bwsandbox.agents` (binary, compartment, login).
AGENTS = ("claude", "codex", "opencode", "pi", "gemini")

EXIT_STATUS_HELP = (
    "Exit status: the command's own; 125 when agent-sandbox itself fails (including a bad "
    "command line; nothing is started); 126 when the command cannot be run; 127 when it is "
    "not found; 128+N when it died of signal N; 124 when the --timeout limit ended it."
)


class OptionSpec:
    """One option: its destination name, its spellings, its kind, its help."""

    __slots__ = ("choices", "dest", "help", "kind", "metavar", "names")

    def __init__(
        self,
        dest: str,
        names: tuple[str, ...],
        kind: str,
        help: str,  # noqa: A002 - the natural name, mirrors click
        *,
        metavar: str = "",
        choices: tuple[str, ...] = (),
    ) -> None:
        self.dest = dest
        self.names = names
        self.kind = kind
        self.help = help
        self.metavar = metavar
        self.choices = choices

    @property
    def takes_value(self) -> bool:
        return self.kind in (VALUE, MULTI)

    @property
    def default(self) -> object:
        if self.kind == MULTI:
            return ()
        if self.kind == FLAG:
            return False
        return None

    def __repr__(self) -> str:
        return f"OptionSpec({self.dest!r}, {self.names!r}, {self.kind!r})"


RUN_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "project",
        ("--project",),
        VALUE,
        "Project directory, bound read-write at its own path (default: the current directory).",
        metavar="DIR",
    ),
    OptionSpec(
        "policy",
        ("--policy",),
        MULTI,
        "Policy name or TOML file layered on top (repeatable; later wins).",
        metavar="NAME|FILE",
    ),
    OptionSpec(
        "network",
        ("--network",),
        VALUE,
        "Network mode: none (loopback only), filtered (allowlist), host (no isolation).",
        metavar="MODE",
        choices=NETWORK_MODES,
    ),
    OptionSpec(
        "allow",
        ("--allow",),
        MULTI,
        "Allow egress to HOST[:PORT] (*.domain, IP, CIDR; repeatable; implies --network "
        "filtered unless --network is given).",
        metavar="HOST[:PORT]",
    ),
    OptionSpec(
        "ask",
        ("--ask",),
        FLAG,
        "Hold a lookup of or connection to an unlisted host until `agent-sandbox watch` "
        'answers (network.unlisted = "ask"; implies --network filtered unless --network '
        "is given).",
    ),
    OptionSpec(
        "add_host",
        ("--add-host",),
        MULTI,
        "Make NAME resolve to IP inside the sandbox (repeatable).",
        metavar="NAME=IP",
    ),
    OptionSpec("ro", ("--ro",), MULTI, "Bind a host path read-only (repeatable).", metavar="PATH"),
    OptionSpec("rw", ("--rw",), MULTI, "Bind a host path read-write (repeatable).", metavar="PATH"),
    OptionSpec(
        "env",
        ("--env",),
        MULTI,
        "Pass host variable NAME, or set NAME=VALUE, in the sandbox (repeatable).",
        metavar="NAME[=VALUE]",
    ),
    OptionSpec(
        "client",
        ("--client",),
        VALUE,
        "Client compartment for state and audit logs (default: default).",
        metavar="NAME",
    ),
    OptionSpec(
        "resume",
        ("--resume",),
        FLAG,
        "Agent profiles: continue the agent's last conversation for this client and project.",
    ),
    OptionSpec(
        "worktree",
        ("--worktree",),
        VALUE,
        "Work in git worktree NAME of the project (PROJECT.worktrees/NAME on branch "
        "agent/NAME, created when absent); the shared .git is read-only except what git "
        "writes.",
        metavar="NAME",
    ),
    OptionSpec(
        "keep_workdir",
        ("--keep-workdir",),
        FLAG,
        "Keep the session work dir on exit and print where it is.",
    ),
    OptionSpec(
        "tty",
        ("--tty", "--no-tty"),
        SWITCH,
        "Give the sandbox a private terminal (default: when stdin and stdout are terminals).",
    ),
    OptionSpec(
        "record",
        ("--record",),
        FLAG,
        "Record the terminal output (asciicast v2) in the session dir; see 'replay'.",
    ),
    OptionSpec(
        "record_input",
        ("--record-input",),
        FLAG,
        "With --record (implied): also record keystrokes, passwords included.",
    ),
    OptionSpec(
        "memory",
        ("--memory",),
        VALUE,
        "Memory limit, e.g. 4G (the whole sandbox with a cgroup, else per process).",
        metavar="SIZE",
    ),
    OptionSpec(
        "cpus",
        ("--cpus",),
        VALUE,
        "CPU limit in cores, e.g. 1.5 (needs a cgroup; `explain` says if it applies).",
        metavar="N",
    ),
    OptionSpec(
        "pids",
        ("--pids",),
        VALUE,
        "Most processes and threads in the sandbox at once (fork bombs).",
        metavar="N",
    ),
    OptionSpec(
        "gpu",
        ("--gpu",),
        FLAG,
        "Give the sandbox the host's GPUs: NVIDIA device nodes, driver libraries and "
        "nvidia-smi, DRI render nodes (policy devices.gpu).",
    ),
    OptionSpec(
        "timeout",
        ("--timeout",),
        VALUE,
        "Wall-clock limit, e.g. 90s, 30m, 2h: then TERM, KILL; exit status 124.",
        metavar="DURATION",
    ),
)


#: ``mcp`` (a stdio MCP server): run's options, less those about terminals, recordings,
#: agent conversations and worktrees (stdin and stdout carry JSON-RPC; there is no tty)
MCP_OPTIONS: tuple[OptionSpec, ...] = tuple(
    OptionSpec(
        "project",
        ("--project",),
        VALUE,
        "Project directory, bound READ-ONLY at its own path (default: the current directory; "
        "--rw DIR makes it writable).",
        metavar="DIR",
    )
    if spec.dest == "project"
    else spec
    for spec in RUN_OPTIONS
    if spec.dest not in ("resume", "worktree", "tty", "record", "record_input")
)


def defaults(options: tuple[OptionSpec, ...] = RUN_OPTIONS) -> dict[str, object]:
    """The value mapping when no option is given."""
    return {spec.dest: spec.default for spec in options}


def by_name(options: tuple[OptionSpec, ...] = RUN_OPTIONS) -> Mapping[str, OptionSpec]:
    """Every spelling (``--tty``, ``--no-tty``...) to its spec."""
    return {name: spec for spec in options for name in spec.names}


#: set to 0/off/no/false to turn the compiled-plan cache off (:mod:`bwsandbox.cli._plancache`)
CACHE_VAR = "AGENT_SANDBOX_PLAN_CACHE"


def may_cache(name: str, environ: Mapping[str, str]) -> bool:
    """Whether a command line of ``name`` may use the plan cache at all: only ``run`` and
    ``shell`` (agent profiles never are), and only when :data:`CACHE_VAR` does not turn it
    off. Here, not in ``_plancache``, so a run that may not cache never loads it."""
    if name not in ("run", "shell"):
        return False
    return environ.get(CACHE_VAR, "1").lower() not in ("0", "off", "no", "false")

"""From parsed options to the library's prepare step (the full, not-cached path).

The options become arguments of :func:`bwsandbox._prepare.resolve`, the same function
:func:`bwsandbox.prepare` and :func:`bwsandbox.run` use. Shared by ``run``, ``shell``, the
agent commands, ``mcp`` (the runtime then launches the prepared plan) and ``explain`` (which
prints it and starts nothing).
"""

# os.path like the runtime: paths stay plain strings end to end
# ruff: noqa: PTH109

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from bwsandbox._record import record
from bwsandbox.cli._spec import AGENT_COMMANDS, AGENTS
from bwsandbox.policy import build_overlay

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox._prepare import Resolved as Stage
    from bwsandbox.compile import SandboxPlan
    from bwsandbox.policy._model import Policy
    from bwsandbox.runtime import Prepared

__all__ = ["Resolved", "interactive_default", "resolve"]


def _strings(values: dict[str, object], dest: str) -> tuple[str, ...]:
    value = values.get(dest) or ()
    assert isinstance(value, tuple)
    return tuple(str(item) for item in value)


def interactive_default(tty: object) -> bool:
    """``--tty``/``--no-tty``, or auto: a private terminal when stdin and stdout are ttys."""
    if isinstance(tty, bool):
        return tty
    return os.isatty(0) and os.isatty(1)


def overlay_for(values: dict[str, object]) -> dict[str, object]:
    """The "command line" policy layer from --ro/--rw/--env/--network/--allow/--add-host."""

    network = values.get("network")
    return build_overlay(
        ro=_strings(values, "ro"),
        rw=_strings(values, "rw"),
        env=list(_strings(values, "env")),
        network=str(network) if network else None,
        allow=_strings(values, "allow"),
        add_hosts=list(_strings(values, "add_host")),
        gpu=bool(values.get("gpu")),
        ask=bool(values.get("ask")),
        **{dest: _optional(values, dest) for dest in ("memory", "cpus", "pids", "timeout")},
    )


def _optional(values: dict[str, object], dest: str) -> str | None:
    value = values.get(dest)
    return None if value is None else str(value)


@record
class Resolved:
    """The library's first stage (:class:`bwsandbox._prepare.Resolved`) plus the CLI's own
    choices: a terminal or not, keep the work dir, and explain's symbolic work dir."""

    stage: Stage
    interactive: bool
    keep_workdir: bool
    workdir: str = ""  # explain only: the symbolic work dir to compile with

    @property
    def policy(self) -> Policy:
        return self.stage.policy

    @property
    def project(self) -> str:
        return self.stage.project

    @property
    def command(self) -> tuple[str, ...]:
        return self.stage.command

    @property
    def client(self) -> str:
        return self.stage.client

    @property
    def notes(self) -> tuple[str, ...]:
        return self.stage.notes

    def prepare(self) -> Prepared:
        """Probe the host and compile, once (explain: with the symbolic work dir)."""
        if self.workdir:
            return self.stage.prepare(
                interactive=self.interactive, workdir=self.workdir, session_id="explain"
            )
        return self.stage.prepare(interactive=self.interactive)

    def compile(self) -> SandboxPlan:
        return self.prepare().plan


def resolve(
    name: str,
    values: dict[str, object],
    words: Sequence[str],
    *,
    workdir: str = "",
    extra: Sequence[tuple[str, Mapping[str, object]]] = (),
) -> Resolved:
    """Load the layers ``[<profile>, *--policy]`` plus the command-line layer, then ``extra``.

    Agent profiles (:data:`AGENTS`) go through the library's agent path
    (:func:`bwsandbox._prepare.resolve` with ``agent=``): the agent binary, the client's
    compartment and the login, the API keys injected only when the MERGED network mode is
    ``filtered``. Nothing is probed or compiled here: :meth:`Resolved.prepare` does it once.
    """
    from bwsandbox._prepare import resolve as resolve_stage

    agent = name if name in AGENTS else None
    given = values.get("project")
    worktree = values.get("worktree")
    policies = _strings(values, "policy")
    stage = resolve_stage(
        tuple(words),
        agent=agent,
        policies=policies if agent else (AGENT_COMMANDS[name], *policies),
        profile_command=agent is None and name != "run",
        project=str(given) if given else os.getcwd(),
        overlay=overlay_for(values),
        overlays=extra,
        client=str(values.get("client") or "default"),
        worktree=None if worktree is None else str(worktree),
        # explain (the only caller with a symbolic work dir) changes nothing on disk
        create_worktree=not workdir,
        resume=bool(values.get("resume")),
        environ=os.environ,
    )
    return Resolved(
        stage=stage,
        interactive=interactive_default(values.get("tty")),
        keep_workdir=bool(values.get("keep_workdir")),
        workdir=workdir,
    )

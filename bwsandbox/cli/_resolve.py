"""From parsed options to a policy, a project and a command (the full, not-cached path).

Shared by ``run`` (before the runtime starts the sandbox) and ``explain`` (which compiles the
plan itself and starts nothing).
"""

# os.path like the runtime: paths stay plain strings end to end
# ruff: noqa: PTH109

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bwsandbox._api import COMMAND_LINE, build_overlay
from bwsandbox._errors import PolicyError
from bwsandbox.cli._spec import AGENT_COMMANDS, AGENTS
from bwsandbox.compile import HostFacts, SandboxPlan, Workspace
from bwsandbox.policy import Policy, load_policy

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


def _project(values: dict[str, object]) -> str:
    """The project's real path, through the one project guard (``_guard.check_project``)."""
    from bwsandbox._guard import check_project

    given = values.get("project")
    return check_project(str(given) if given else os.getcwd())


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


@dataclass(frozen=True, slots=True)
class Resolved:
    """Everything ``run`` decides before the runtime takes over."""

    policy: Policy
    project: str
    command: tuple[str, ...]
    client: str
    interactive: bool
    keep_workdir: bool
    workdir: str = ""  # explain only: the symbolic work dir to compile with
    notes: tuple[str, ...] = ()  # for the user: which agent binary, login, state dir

    def workspace(self, session_id: str = "explain") -> Workspace:
        return Workspace(
            project=self.project,
            workdir=self.workdir,
            session_id=session_id,
            client=self.client,
            command=self.command,
            interactive=self.interactive,
        )

    def facts(self) -> HostFacts:
        from bwsandbox.compile import paths_to_probe
        from bwsandbox.runtime import probe_host, probe_paths

        facts = probe_host()
        return probe_paths(facts, paths_to_probe(self.policy, facts, self.workspace()))

    def compile(self) -> SandboxPlan:
        from bwsandbox.compile import compile_plan

        return compile_plan(self.policy, self.facts(), self.workspace())


def resolve(
    name: str,
    values: dict[str, object],
    words: Sequence[str],
    *,
    workdir: str = "",
    extra: Sequence[tuple[str, Mapping[str, object]]] = (),
) -> Resolved:
    """Load the layers ``[<profile>, *--policy]`` plus the command-line layer, then ``extra``.

    Agent profiles (:data:`AGENTS`) also get the layer :func:`bwsandbox.agents.prepare_agent`
    builds: the agent binary, the client's compartment and the login.
    """
    project = _project(values)
    client = str(values.get("client") or "default")
    layers = [AGENT_COMMANDS[name], *_strings(values, "policy")]
    overlays: list[tuple[str, Mapping[str, object]]] = []
    notes: tuple[str, ...] = ()
    agent_command: tuple[str, ...] = ()
    if values.get("worktree") is not None:
        from bwsandbox.worktree import open_worktree, worktree_layer

        # explain (the only caller with a symbolic work dir) changes nothing on disk
        tree = open_worktree(project, str(values["worktree"]), create=not workdir)
        project = tree.path
        overlays.append((f"worktree {tree.name}", worktree_layer(tree)))
        notes = (tree.note,)
    if name in AGENTS:
        from bwsandbox.agents import prepare_agent

        launch = prepare_agent(
            name,
            client=client,
            project=project,
            environ=os.environ,
            agent_args=tuple(words),
            resume=bool(values.get("resume")),
            # the proxy injects API keys only in filtered mode (the profiles' default)
            inject_keys=values.get("network") in (None, "filtered"),
        )
        layers = [*launch.policy_refs, *_strings(values, "policy")]
        overlays += launch.overlays
        notes, agent_command = (*notes, *launch.notes), launch.command
    elif values.get("resume"):
        raise PolicyError(
            "--resume continues an agent's conversation",
            key="--resume",
            hint=f"use it with an agent profile: {', '.join(AGENTS)}",
        )
    overlay = overlay_for(values)
    if overlay:
        overlays.append((COMMAND_LINE, overlay))
    overlays += extra
    policy = load_policy(layers, overlays=overlays)
    command = tuple(words)
    if agent_command:
        command = agent_command
    elif name != "run":
        # profiles: arguments after -- go to the profile's command
        command = (*policy.command.argv, *command)
    return Resolved(
        policy=policy,
        project=project,
        command=command,
        client=client,
        interactive=interactive_default(values.get("tty")),
        keep_workdir=bool(values.get("keep_workdir")),
        workdir=workdir,
        notes=notes,
    )

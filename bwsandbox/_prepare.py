"""``prepare``: a session's merged policy, host facts, workspace and plan, each decided once.

::

    prepared = bwsandbox.prepare(["make"], project=".", network="none")
    prepared.plan.argv()                      # the exact bwrap argv of this session
    with bwsandbox.Sandbox(prepared) as box:  # the runtime launches this plan, unchanged
        status = box.wait()

    bwsandbox.prepare(["-p", "hi"], agent="claude", client="acme")  # an agent profile

Two stages, each done once per session:

1. :func:`resolve` (no host probe): the layers (the profile or the agent's, ``policies``,
   a worktree's, the agent's own layer, the command-line layer, then ``overlays``) read once
   and merged into a :class:`Resolved`. Decisions that depend on the network mode are taken
   from the **merged** policy, never guessed from the options: an agent's API key is
   injected by the proxy only when the merged mode is ``filtered``, and passed as an
   environment variable otherwise (:meth:`bwsandbox.agents.AgentLaunch.for_network`).
2. :meth:`Resolved.prepare` / :func:`prepare_policy`: the project guard, the host probe,
   the sweep of stale work dirs (a killed session's, with its placeholders in a project:
   before the policy's paths are probed), the session id and the work dir's path, the
   compile, into a :class:`Prepared`.

The work dir is the seam between the plan and the session: its path is chosen here
(``<tmpdir>/agent-sandbox-<random>``) and compiled into the plan, and
:class:`bwsandbox.Sandbox` creates exactly that directory at start (a fresh ``mkdir``, the
same fd-based creation, sweep and cleanup as before, never following symlinks). Nothing is
created here (and for ``explain``'s symbolic work dir nothing is swept either); a path that
exists by then (the same :class:`Prepared` started twice) gets a fresh session:
:meth:`Prepared.renewed` compiles again with the same facts, no probe.

The CLI's ``run``, ``shell``, ``explain``, ``mcp`` and agent commands and :func:`bwsandbox.run`
all come through here.
"""

# os.path like the runtime: paths stay plain strings end to end
# ruff: noqa: PTH109

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from bwsandbox._errors import PolicyError
from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bwsandbox.policy import NetworkName, Policy
    from bwsandbox.runtime import Prepared

__all__ = ["Resolved", "prepare", "resolve"]


#: the name of the layer built from options (``bwsandbox._api.COMMAND_LINE``)
_COMMAND_LINE = "command line"


@record
class Resolved:
    """What to run under which merged policy: the first stage of :func:`prepare`."""

    policy: Policy
    project: str  # the project's real path (through the project guard)
    command: tuple[str, ...]
    client: str = "default"
    #: lines for the user: which agent binary, which login, where its state is, the worktree
    notes: tuple[str, ...] = ()

    def prepare(
        self,
        *,
        interactive: bool = False,
        environ: Mapping[str, str] | None = None,
        session_id: str | None = None,
        workdir: str | None = None,
    ) -> Prepared:
        """Probe the host and compile: see :func:`bwsandbox.runtime.prepare_policy`."""
        from bwsandbox.runtime import prepare_policy

        return prepare_policy(
            self.policy,
            project=self.project,
            command=self.command,
            client=self.client,
            interactive=interactive,
            environ=environ,
            session_id=session_id,
            workdir=workdir,
            notes=self.notes,
            guard=False,  # resolve checked the project; the runtime checks it again at start
        )


def resolve(
    command: Sequence[str] = (),
    *,
    agent: str | None = None,
    policies: Sequence[str] = ("base",),
    profile_command: bool = False,
    project: str | os.PathLike[str] | None = None,
    overlay: Mapping[str, Any] | None = None,
    overlays: Sequence[tuple[str, Mapping[str, Any]]] = (),
    client: str = "default",
    worktree: str | None = None,
    create_worktree: bool = True,
    resume: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Resolved:
    """The merged policy, the project and the command (the first stage of :func:`prepare`).

    Layers, in order: with ``agent``, the agent's profile; ``policies``; the worktree's
    layer; the agent's layer (binary, compartment, login); ``overlay`` (the command-line
    layer, see :func:`bwsandbox._api.build_overlay`); then ``overlays``. With ``agent``,
    ``command`` is the agent's own arguments; with ``profile_command`` (the CLI's ``shell``)
    the merged policy's ``command.argv`` comes before ``command``. Side effects: an
    agent's compartment is created on first use; a worktree when absent (unless
    ``create_worktree=False``).
    """
    from bwsandbox._guard import check_project

    if isinstance(command, (str, bytes)):
        raise TypeError("command must be a sequence of arguments, not one string")
    if isinstance(policies, str):
        policies = (policies,)
    host = os.environ if environ is None else environ
    real = check_project(os.getcwd() if project is None else os.fspath(project), host)
    notes: list[str] = []
    before: list[tuple[str, Mapping[str, Any]]] = []
    if worktree is not None:
        from bwsandbox.worktree import open_worktree, worktree_layer

        tree = open_worktree(real, worktree, create=create_worktree)
        real = tree.path
        before.append((f"worktree {tree.name}", worktree_layer(tree)))
        notes.append(tree.note)
    after: list[tuple[str, Mapping[str, Any]]] = []
    if overlay:
        after.append((_COMMAND_LINE, overlay))
    after += overlays
    if agent is None:
        if resume:
            from bwsandbox.agents import KNOWN_AGENTS

            raise PolicyError(
                "--resume continues an agent's conversation",
                key="--resume",
                hint=f"use it with an agent profile: {', '.join(KNOWN_AGENTS)}",
            )
        policy = _merge(policies, before, after)
        words = tuple(command)
        if profile_command:  # profiles: the arguments go to the profile's command
            words = (*policy.command.argv, *words)
        return Resolved(policy, real, words, client, tuple(notes))
    from bwsandbox.agents import prepare_agent
    from bwsandbox.policy import NetworkMode

    launch = prepare_agent(
        agent,
        client=client,
        project=real,
        environ=host,
        agent_args=tuple(command),
        resume=resume,
        guard=False,  # checked above: ``real`` is the guarded real path
    )
    refs = [*launch.policy_refs, *policies]
    layers = _Layers(refs, before, after)
    policy = layers.merge(launch.overlays)
    chosen = launch.for_network(policy.network.mode is NetworkMode.FILTERED)
    if chosen is not launch:  # no proxy in the merged mode: keys go in as variables
        policy = layers.merge(chosen.overlays)
    return Resolved(policy, real, chosen.command, client, (*notes, *chosen.notes))


def _merge(
    refs: Sequence[str],
    before: Sequence[tuple[str, Mapping[str, Any]]],
    after: Sequence[tuple[str, Mapping[str, Any]]],
) -> Policy:
    from bwsandbox.policy import load_policy

    return load_policy(refs, overlays=[*before, *after])


class _Layers:
    """The layers read once, merged with one middle layer that may change (the agent's)."""

    def __init__(
        self,
        refs: Sequence[str],
        before: Sequence[tuple[str, Mapping[str, Any]]],
        after: Sequence[tuple[str, Mapping[str, Any]]],
    ) -> None:
        from bwsandbox.policy import read_enforced, read_layers, read_overlays

        self.name, layers = read_layers(refs)
        self.before = [*layers, *read_overlays(before)]
        self.after = read_overlays(after)
        self.enforced = read_enforced()

    def merge(self, middle: Sequence[tuple[str, Mapping[str, Any]]]) -> Policy:
        from bwsandbox.policy import merge, read_overlays

        layers = [*self.before, *read_overlays(middle), *self.after]
        return merge(layers, name=self.name, enforced=self.enforced)


def prepare(
    command: Sequence[str] = (),
    *,
    agent: str | None = None,
    project: str | os.PathLike[str] | None = None,
    policies: Sequence[str] | None = None,
    network: NetworkName | None = None,
    allow: Sequence[str] = (),
    add_hosts: Mapping[str, str] | Sequence[str] | None = None,
    ro: Sequence[str] = (),
    rw: Sequence[str] = (),
    env: Mapping[str, str] | Sequence[str] | None = None,
    ask: bool = False,
    client: str = "default",
    interactive: bool | None = False,
    worktree: str | None = None,
    resume: bool = False,
    overlays: Sequence[tuple[str, Mapping[str, Any]]] = (),
    environ: Mapping[str, str] | None = None,
) -> Prepared:
    """Resolve, probe and compile one session; run it with ``Sandbox(prepared)``.

    ``command`` is a list of arguments; with ``agent`` (``"claude"``, ``"codex"``, ...) it is
    the agent's own arguments and the agent's profile is the first layer. ``policies`` are the
    layers after it (default: ``["base"]`` without an agent, none with one). The options are
    those of :func:`bwsandbox.run` and the CLI (``network``, ``allow``, ``add_hosts``, ``ro``,
    ``rw``, ``env``; ``ask=True`` is ``--ask``: pass the answering callable to
    ``Sandbox(prepared, on_ask=...)``); ``overlays`` are extra raw layers ``(name, table)``
    applied last.
    ``interactive`` compiles for a private terminal (None: when stdin and stdout are
    terminals). ``environ`` (default ``os.environ``) is the host environment the probe, the
    agent's login and ``env`` passthrough read.
    """
    from bwsandbox.policy import build_overlay

    if isinstance(command, (str, bytes)):
        raise TypeError("command must be a sequence of arguments, not one string")
    if policies is None:
        policies = () if agent is not None else ("base",)
    overlay = build_overlay(
        network=network, allow=allow, add_hosts=add_hosts, ro=ro, rw=rw, env=env, ask=ask
    )
    resolved = resolve(
        command,
        agent=agent,
        policies=policies,
        project=project,
        overlay=overlay,
        overlays=overlays,
        client=client,
        worktree=worktree,
        resume=resume,
        environ=environ,
    )
    if interactive is None:
        interactive = os.isatty(0) and os.isatty(1)
    return resolved.prepare(interactive=interactive, environ=environ)

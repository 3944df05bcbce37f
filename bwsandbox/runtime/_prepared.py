"""A prepared session (:class:`Prepared`): the merged policy, host facts, workspace and plan,
decided once; :func:`prepare_policy` makes one from a policy (``bwsandbox.prepare`` builds the
policy from options, agent profiles and worktrees first: ``bwsandbox/_prepare.py``).

The work dir is the seam between the plan and the session: its path is chosen here
(``<tmpdir>/agent-sandbox-<random>``) and compiled into the plan; :class:`Sandbox` creates
exactly that directory at start and never follows something already at that path.
"""

# os.path like the rest of the runtime: paths stay plain strings end to end
# ruff: noqa: PTH117, PTH118, PTH120

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from bwsandbox._record import record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.compile import HostFacts, SandboxPlan, Workspace
    from bwsandbox.policy import Policy

__all__ = ["Prepared", "new_session_id", "plan_workdir", "prepare_policy"]

#: work dirs are ``<tmpdir>/<PREFIX><12 hex digits>`` (``runtime._workdir.PREFIX``)
_WORKDIR_PREFIX = "agent-sandbox-"


@record(repr=False)
class Prepared:
    """One session, decided: pass it to :class:`bwsandbox.Sandbox` to run exactly this plan.

    Its repr names the session only: the facts hold the host environment and the policy and
    plan may hold values passed in (an API key given as a variable), so logging a
    ``Prepared`` must not print them.
    """

    policy: Policy
    facts: HostFacts  # the host probe, including every path the compiler asked about
    workspace: Workspace  # project, work dir path, session id, client, command, terminal
    plan: SandboxPlan
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Prepared(session_id={self.session_id!r}, client={self.client!r}, "
            f"project={self.project!r}, command={self.command!r}, workdir={self.workdir!r}, "
            f"network={self.plan.network.mode.value!r})"
        )

    @property
    def project(self) -> str:
        return self.workspace.project

    @property
    def command(self) -> tuple[str, ...]:
        return self.plan.command

    @property
    def client(self) -> str:
        return self.workspace.client

    @property
    def session_id(self) -> str:
        return self.workspace.session_id

    @property
    def workdir(self) -> str:
        """The work dir's path (created by the runtime at start)."""
        return self.workspace.workdir

    @property
    def interactive(self) -> bool:
        return self.workspace.interactive

    def renewed(self) -> Prepared:
        """The same session with a fresh id and work dir path, compiled again (no probe)."""
        workspace = replace(
            self.workspace,
            session_id=new_session_id(),
            workdir=plan_workdir(os.path.dirname(self.workspace.workdir)),
        )
        from bwsandbox.compile import compile_plan

        facts = _probed(self.policy, self.facts, workspace)
        plan = compile_plan(self.policy, facts, workspace)
        return replace(self, facts=facts, workspace=workspace, plan=plan)


def new_session_id() -> str:
    return os.urandom(6).hex()


def plan_workdir(tmpdir: str) -> str:
    """A fresh work dir path in ``tmpdir`` (not created: the runtime creates it at start)."""
    return os.path.join(tmpdir, _WORKDIR_PREFIX + os.urandom(6).hex())


def _as_created(facts: HostFacts, workdir: str) -> HostFacts:
    """``facts`` with paths in the work dir as the runtime creates it (``tmp/``, ``home/``)."""
    inside = [path for path in facts.paths if path == workdir or path.startswith(workdir + "/")]
    if not inside:
        return facts
    from bwsandbox.compile import PathInfo, PathKind

    made = {
        workdir: PathKind.DIR,
        workdir + "/tmp": PathKind.DIR,
        workdir + "/home": PathKind.DIR,
        workdir + "/.owner": PathKind.FILE,
    }
    paths = dict(facts.paths)
    for path in inside:
        paths[path] = PathInfo(made.get(path, PathKind.MISSING))
    return replace(facts, paths=MappingProxyType(paths))


def _probed(policy: Policy, facts: HostFacts, workspace: Workspace) -> HostFacts:
    """``facts`` plus the paths this policy and workspace need (those not probed yet)."""
    from bwsandbox.compile import paths_to_probe
    from bwsandbox.runtime._probe import probe_paths

    facts = probe_paths(facts, paths_to_probe(policy, facts, workspace))
    if os.path.isabs(workspace.workdir):
        facts = _as_created(facts, workspace.workdir)
    return facts


def prepare_policy(
    policy: Policy,
    *,
    project: str | os.PathLike[str],
    command: Sequence[str] = (),
    client: str = "default",
    interactive: bool = False,
    environ: Mapping[str, str] | None = None,
    session_id: str | None = None,
    workdir: str | None = None,
    notes: Sequence[str] = (),
    guard: bool = True,
) -> Prepared:
    """Check the project, probe the host, sweep stale work dirs, choose the session id and
    work dir path, compile.

    ``workdir`` is the work dir's path to compile with (default: a fresh path in the host's
    tmpdir); ``explain`` passes the symbolic ``{workdir}`` (such a session cannot be run).
    Raises :class:`bwsandbox.WorkspaceError` (project refused) or
    :class:`bwsandbox.PolicyError` (the compile). ``guard=False``: ``project`` is a real
    path already checked (by :func:`resolve`); the runtime checks it again at start either
    way (``explain --worktree NAME`` prepares for a worktree that does not exist yet).
    """
    from bwsandbox._guard import check_project
    from bwsandbox.compile import Workspace, compile_plan
    from bwsandbox.runtime._probe import probe_host

    if isinstance(command, (str, bytes)):
        raise TypeError("command must be a sequence of arguments, not one string")
    host = os.environ if environ is None else environ
    real = check_project(os.fspath(project), host) if guard else os.fspath(project)
    facts = probe_host(environ=dict(host))
    if workdir is None:
        # before the paths are probed: a killed session's placeholders in a project go with
        # its work dir, and the plan must not bind them (fd-based, never follows symlinks)
        from bwsandbox.runtime._workdir import sweep_stale_workdirs

        sweep_stale_workdirs(facts.tmpdir)
    workspace = Workspace(
        project=real,
        workdir=plan_workdir(facts.tmpdir) if workdir is None else workdir,
        session_id=new_session_id() if session_id is None else session_id,
        client=client,
        command=tuple(command),
        interactive=interactive,
    )
    facts = _probed(policy, facts, workspace)
    plan = compile_plan(policy, facts, workspace)
    return Prepared(policy, facts, workspace, plan, tuple(notes))

"""compile_plan: (Policy, HostFacts, Workspace) -> SandboxPlan. Pure: no I/O.

The plan is put together from steps, each a pure function of the :class:`~._context.Context`
that returns its :class:`~._context.Part` (options, mounts, data files, environment,
warnings):

0. the command and the process options (:mod:`._step_process`);
1. the system: ``/usr``, the root layout, ``/proc``, ``/dev`` (:mod:`._step_system`);
2. private ``/tmp``, ``/run`` and home;
3. a curated ``/etc``;
4. the policy's binds and tmpfs mounts, and the GPUs (:mod:`._step_binds`);
5. kernel covers, masks and protections, only where visible (:mod:`._step_covers`);
6. git's generated files (:mod:`._step_git`);
7. secrets and SSH (:mod:`._secrets`), limits (:mod:`._limits`), the environment
   (:mod:`._step_env`).

Each mount option states its own mount-table entry; the steps' mounts are ordered so that
parents are mounted before children (bwrap applies mounts in order, and a later mount covers
an earlier one at the same place); among mounts of the same depth, the steps' order is kept,
so a later policy layer wins. Rarely needed parts (seccomp tables, GPUs, secrets, limits) are
imported by their step only when the policy asks for them.
"""

from __future__ import annotations

import posixpath

from bwsandbox.compile._context import (
    Context,
    Part,
    assemble_mounts,
    make_context,
    mount_table,
    sandbox_user,
    under,
    variables_for,
)
from bwsandbox.compile._plan import SandboxPlan
from bwsandbox.compile._procfs import proc_paths_to_probe
from bwsandbox.compile._step_binds import binds, gpu
from bwsandbox.compile._step_covers import kernel_covers, masks, protections
from bwsandbox.compile._step_env import environment
from bwsandbox.compile._step_git import git_files
from bwsandbox.compile._step_network import network
from bwsandbox.compile._step_process import command_of, namespaces, seccomp, workdir
from bwsandbox.compile._step_system import FORBIDDEN_ETC, ROOT_LAYOUT, etc, private_dirs, system
from bwsandbox.policy import NetworkMode, expand

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.compile._delivery import SecretUse, SshPlan
    from bwsandbox.compile._facts import HostFacts, Workspace
    from bwsandbox.compile._limits import ResourceLimits
    from bwsandbox.compile._options import MountEntry, MountOption
    from bwsandbox.policy._model import Policy

__all__ = [
    "FORBIDDEN_ETC",
    "ROOT_LAYOUT",
    "compile_plan",
    "paths_to_probe",
    "sandbox_user",
    "variables_for",
]


def compile_plan(policy: Policy, facts: HostFacts, workspace: Workspace) -> SandboxPlan:
    """Compile a resolved policy for this host and session into a launch plan."""
    ctx = make_context(policy, facts, workspace)
    command = command_of(ctx)  # 0. what runs, and how
    process = [namespaces(ctx), seccomp(ctx)]
    policy_binds = binds(ctx)
    layout = [system(ctx), private_dirs(ctx), etc(ctx), policy_binds.part]  # 1.-4.
    layout.append(gpu(ctx, _table(layout)))  # 4. driver files the layout does not show yet
    visible = [entry.dest for entry in _table(layout)]
    layout += [kernel_covers(ctx, visible), masks(ctx, visible)]  # 5. only where visible
    protect = protections(ctx, policy_binds.rw_dests)  # 5. inside writable binds
    git = git_files(ctx, protect.placeholders)  # 6.
    secrets, uses, ssh = _secrets(ctx)  # 7.
    network_plan, trust = network(ctx)  # 8. the rules, parsed once; an inspecting CA bundle
    parts = [*process, *layout, protect.part, git, secrets, trust]

    mounts = assemble_mounts(_mounts(parts))
    chdir = workdir(ctx)
    return SandboxPlan(
        bwrap=facts.bwrap,
        options=(*(o for p in process for o in p.options), *mounts, chdir),
        command=command,
        env=environment(ctx, dict(git.env), {**dict(secrets.env), **dict(trust.env)}),
        cwd=chdir.path,
        user=ctx.user,
        network=network_plan,
        data=tuple(item for part in parts for item in part.data),
        mounts=mount_table(mounts),
        protected=protect.protected,
        placeholders=protect.placeholders,
        watched=tuple(
            ctx.path(p, f"filesystem.watch[{i}]") for i, p in enumerate(policy.filesystem.watch)
        ),
        warnings=tuple(w for part in parts for w in part.warnings),
        secrets=uses,
        ssh=ssh,
        limits=_limits(ctx),
    )


def _mounts(parts: list[Part]) -> list[MountOption]:
    return [mount for part in parts for mount in part.mounts]


def _table(parts: list[Part]) -> tuple[MountEntry, ...]:
    """The mount table the sandbox would have with only ``parts``."""
    return mount_table(assemble_mounts(_mounts(parts)))


def _secrets(ctx: Context) -> tuple[Part, tuple[SecretUse, ...], SshPlan | None]:
    """Step 7a: secret and SSH delivery (:mod:`._secrets`), imported only when asked for."""
    if not ctx.policy.secrets and not ctx.policy.ssh.ca_key:
        return Part(), (), None
    from bwsandbox.compile._secrets import plan_secrets

    layout = plan_secrets(ctx.policy, ctx.variables)
    return layout.part, layout.uses, layout.ssh


def _limits(ctx: Context) -> ResourceLimits:
    """Step 7b: resource limits as numbers (:mod:`._limits`)."""
    from bwsandbox.compile._limits import compile_limits

    return compile_limits(ctx.policy.limits)


def paths_to_probe(policy: Policy, facts: HostFacts, workspace: Workspace) -> tuple[str, ...]:
    """Host paths whose kind the compiler needs (probe them into ``HostFacts.paths``)."""
    user = sandbox_user(policy, facts)
    variables = variables_for(facts, workspace, user)
    fs = policy.filesystem

    def each(templates: tuple[str, ...], where: str) -> list[str]:
        return [expand(template, variables, where=where) for template in templates]

    paths: list[str] = [*ROOT_LAYOUT, "/usr", "/nix/store", "/etc", *proc_paths_to_probe()]
    paths += each(tuple(b.src for b in fs.ro), "filesystem.ro")
    paths += each(tuple(b.src for b in fs.rw), "filesystem.rw")
    paths += each(fs.mask, "filesystem.mask")
    for template in fs.protect:
        path = posixpath.normpath(expand(template, variables, where="filesystem.protect"))
        paths.append(path)
        # a fixed point of dirname, not "/": "//x" climbs to "//", a relative path to ""
        while path != posixpath.dirname(path) and not any(under(path, b) for b in ("/usr", "/etc")):
            path = posixpath.dirname(path)
            paths.append(path)
    paths += each(fs.etc, "filesystem.etc")
    if policy.network.mode is NetworkMode.FILTERED:
        from bwsandbox.compile._inspect import CA_BUNDLE

        paths.append(CA_BUNDLE)  # an inspecting rule covers it (compile._inspect)
    return tuple(dict.fromkeys(posixpath.normpath(p) for p in paths))

"""Steps: the command, and the options that shape the process (namespaces, ids, fds, seccomp).

Each is a pure ``(Context) -> value``; see :mod:`._context`.
"""

from __future__ import annotations

from bwsandbox._errors import PolicyError
from bwsandbox.compile._context import Context, Part, PartBuilder
from bwsandbox.compile._options import BwrapOption, Chdir, Fd, FdRef, Flag, WithValue
from bwsandbox.policy import NetworkMode

__all__ = ["BLOCK_FD", "INFO_FD", "command_of", "namespaces", "seccomp", "workdir"]

INFO_FD = FdRef("info")
BLOCK_FD = FdRef("block")

_HOST_NETWORK = (
    "network mode 'host': the sandbox shares the host's network, including services "
    "on localhost and the local network; prefer 'filtered'"
)


def command_of(ctx: Context) -> tuple[str, ...]:
    """What runs inside: the workspace's command, else the policy's ``command.argv``."""
    command = ctx.workspace.command or ctx.policy.command.argv
    if not command:
        policy = ctx.policy
        raise PolicyError(
            "no command to run",
            file=policy.sources[-1] if policy.sources else None,
            key="command.argv",
            hint="give one after '--', or set command.argv in a policy",
        )
    return tuple(command)


def namespaces(ctx: Context) -> Part:
    """Namespaces, capabilities, ids, hostname, session, and the info and block fds."""
    hard = ctx.policy.hardening
    mode = ctx.policy.network.mode
    host_net = mode is NetworkMode.HOST
    wanted: list[BwrapOption | None] = [
        Flag("--unshare-user"),
        Flag("--unshare-ipc") if not hard.share_ipc else None,
        Flag("--unshare-pid") if not hard.share_pid else None,
        Flag("--unshare-uts"),
        Flag("--unshare-cgroup-try"),
        Flag("--share-net") if host_net else Flag("--unshare-net"),
        None if hard.nested_userns else Flag("--disable-userns"),
        Flag("--die-with-parent") if hard.die_with_parent else None,
        WithValue("--cap-drop", ("ALL",)),
        WithValue("--uid", (str(ctx.user.uid),)),
        WithValue("--gid", (str(ctx.user.gid),)),
        WithValue("--hostname", (hard.hostname,)),
        Flag("--new-session") if hard.new_session and not ctx.workspace.interactive else None,
        Fd("--info-fd", INFO_FD),
        Fd("--block-fd", BLOCK_FD),
    ]
    options = tuple(option for option in wanted if option is not None)
    return Part(options=options, warnings=(_HOST_NETWORK,) if host_net else ())


def seccomp(ctx: Context) -> Part:
    """The syscall filter as a data file (``--seccomp``), when ``seccomp.enabled``."""
    policy = ctx.policy.seccomp
    if not policy.enabled:
        return Part()
    from bwsandbox.compile._limits import seccomp_program  # the tables are big: only when asked

    nested = ctx.policy.hardening.nested_userns
    program = seccomp_program(policy.allow, policy.deny, nested_userns=nested)
    part = PartBuilder()
    part.options.append(Fd("--seccomp", part.data_file("seccomp", program)))
    return part.build()


def workdir(ctx: Context) -> Chdir:
    """Where the command starts (``command.cwd``)."""
    return Chdir(ctx.path(ctx.policy.command.cwd, "command.cwd"))

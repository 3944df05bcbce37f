"""Start bwrap for a plan: the plan's side of :mod:`._launcher`.

:func:`spec_for` turns a ``SandboxPlan`` into the launcher's :class:`~._launcher.LaunchSpec`
(argv with named fd slots, command length, data files, environment); :func:`launch` spawns it
(held on its block fd until ``release``) and :func:`diagnose` asks bwrap why its setup failed.

- data files (``--ro-bind-data``) come from sealed memfds: the content never touches the disk;
- ``info`` is a pipe bwrap writes ``{"child-pid": N}`` to, ``block`` a pipe it waits on before
  running the command (the network is set up in between), ``json-status`` a pipe drained at exit;
- bwrap gets its options through ``--args`` (a sealed memfd), so the sandbox's
  ``/proc/1/cmdline`` does not show the host paths of the plan;
- bwrap runs in a session of its own (``setsid``), so keys typed at the host terminal reach the
  supervisor, never bwrap's monitor process directly.

Whether bwrap failed while setting up (a bad bind...) is read off the block pipe: bwrap reads
its byte only after every mount succeeded, so a byte still there after exit means it never got
that far. The plan's types are imported for annotations only (import time).
"""

# os-level on purpose: no pathlib import on the start-up path
# ruff: noqa: PTH110

from __future__ import annotations

import os

from bwsandbox._errors import LaunchError
from bwsandbox.runtime import _launcher
from bwsandbox.runtime._launcher import BwrapProcess, LaunchSpec, Stdio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from bwsandbox.compile import FdRef
    from bwsandbox.compile._plan import SandboxPlan

__all__ = ["BwrapProcess", "Stdio", "diagnose", "launch", "preflight", "spec_for"]

#: fd numbers no process has: rendered into the argv to find where each fd goes
_SLOT = 1_000_000_000


def preflight(plan: SandboxPlan) -> None:
    """Catch what bwrap would fail on with a worse message: required bind sources missing."""
    from bwsandbox.compile import BindMount

    for option in plan.options:
        if isinstance(option, BindMount) and not option.optional and not os.path.exists(option.src):
            raise LaunchError(
                f"bind source {option.src} does not exist (for {option.dest})",
                hint="create it, or mark the bind optional in the policy",
            )


def spec_for(plan: SandboxPlan) -> LaunchSpec:
    """The launcher's view of ``plan``: argv with each fd's position named (LaunchError when
    the plan uses an fd the launcher does not know)."""
    refs = plan.fd_refs()
    numbered: dict[FdRef, int] = {ref: _SLOT + i for i, ref in enumerate(refs)}
    argv = plan.argv(numbered)
    fds = [  # where the two renderings differ: an fd, rendered as its number
        (index, refs[int(token) - _SLOT].name)
        for index, (token, symbolic) in enumerate(zip(argv, plan.argv(), strict=True))
        if token != symbolic
    ]
    return LaunchSpec(
        argv,
        command_len=len(plan.command),
        fds=fds,
        data={item.fd.name: item.content for item in plan.data},
        env=dict(plan.env),
    )


def launch(
    plan: SandboxPlan, stdio: Stdio, *, command_prefix: Sequence[str] = (), read_pid: bool = True
) -> BwrapProcess:
    """Spawn bwrap with the plan's argv and environment; read its child pid (unless
    ``read_pid=False``: see ``_launcher.spawn``); do not release."""
    return _launcher.spawn(spec_for(plan), stdio, command_prefix=command_prefix, read_pid=read_pid)


def diagnose(plan: SandboxPlan, *, patience: float = 2.0) -> str:
    """bwrap's own error message for a plan whose setup failed (see ``_launcher.diagnose``)."""
    try:
        spec = spec_for(plan)
    except LaunchError:
        return ""
    return _launcher.diagnose(spec, patience=patience)

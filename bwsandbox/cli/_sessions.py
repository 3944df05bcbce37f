"""Running sandboxes: ``ps``, ``exec ID -- CMD...``, ``stop ID``.

The work is in :mod:`bwsandbox.runtime._registry` (records), ``._registry_record`` (liveness,
stop) and ``._exec`` (entering a sandbox); these commands parse and render.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bwsandbox._errors import LaunchError

__all__ = ["exec_command", "ps", "stop"]

_COLUMNS = ("ID", "CLIENT", "AGENT", "PROJECT", "STARTED", "NETWORK", "SUP-MEM", "SUP-THREADS")


def _mem(kib: int) -> str:
    return f"{kib / 1024:.0f}M" if kib < 10 << 20 else f"{kib / (1 << 20):.1f}G"


def ps(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line instead of a table.")
    ] = False,
) -> int:
    """List this user's running sandboxes: id, client, agent, project, started, network.

    SUP-MEM and SUP-THREADS are the resident memory and threads of the session's supervisor, the
    host-side process outside the sandbox's limits that also runs its proxy and DNS responder
    (filtered network).
    """
    from bwsandbox.runtime import list_sessions

    sessions = list_sessions()
    if as_json:
        for session in sessions:
            typer.echo(json.dumps(session.to_json(), separators=(",", ":")))
        return 0
    from bwsandbox._printable import printable

    rows: list[tuple[str, ...]] = [_COLUMNS]
    for s in sessions:
        usage = s.supervisor_usage()
        mem, threads = (_mem(usage[0]), str(usage[1])) if usage else ("-", "-")
        named = (s.id, s.client, s.policy, s.project, s.started, s.network)
        rows.append((*(printable(c) for c in named), mem, threads))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]))
    return 0


def exec_command(
    ident: Annotated[str, typer.Argument(metavar="ID", help="Sandbox id (a unique prefix).")],
    command: Annotated[
        list[str], typer.Argument(metavar="-- COMMAND [ARG...]", help="What to run inside.")
    ],
) -> int:
    """Run COMMAND inside a running sandbox, with the restrictions of its first process.

    Same namespaces (files, processes, network, hostname), same uid/gid, no capabilities,
    no_new_privs, the sandbox's environment (without env-delivered secrets) and working
    directory. Exit status: the
    command's; 125 when the sandbox cannot be entered; 126/127 when the command cannot be
    run / is not found; 128+N when it died of signal N.
    """
    from bwsandbox.runtime import exec_in_session, find_session

    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise LaunchError("no command to run", hint="agent-sandbox exec ID -- COMMAND [ARG...]")
    return exec_in_session(find_session(ident), command)


def stop(
    ident: Annotated[str, typer.Argument(metavar="ID", help="Sandbox id (a unique prefix).")],
    timeout: Annotated[
        float, typer.Option("--timeout", "-t", help="Seconds to wait before KILL.", min=0)
    ] = 10.0,
) -> int:
    """Stop a running sandbox: TERM its supervisor, wait, then KILL the sandbox."""
    from bwsandbox.runtime import find_session

    session = find_session(ident)
    if not session.stop(timeout):
        raise LaunchError(
            f"sandbox {session.id} is still running after {timeout:g}s",
            hint=f"its supervisor is pid {session.supervisor.pid}",
        )
    typer.echo(f"stopped: {session.id}")
    return 0

"""The commands that do not start a sandbox: ``policy``, ``doctor``, ``logs``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from bwsandbox._errors import SandboxError

__all__ = ["clients_app", "doctor", "logs", "policy_app"]

policy_app = typer.Typer(
    help="Validate, list and show policies.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


clients_app = typer.Typer(
    help="List and remove client compartments (agent state, history, audit logs).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@clients_app.command("list")
def clients_list() -> int:
    """List client compartments: name, agents with state, path."""
    from bwsandbox.agents import list_clients

    for info in list_clients():
        agents = ",".join(info.agents) or "-"
        typer.echo(f"{info.name}\t{agents}\t{info.path}")
    return 0


@clients_app.command("rm")
def clients_rm(
    names: Annotated[list[str], typer.Argument(metavar="NAME...", help="Clients to remove.")],
) -> int:
    """Remove client compartments and everything in them (never follows symlinks)."""
    from bwsandbox.agents import remove_client

    status = 0
    for name in names:
        if remove_client(name):
            typer.echo(f"removed: {name}")
        else:
            typer.echo(f"error: no client {name!r}", err=True)
            status = 125
    return status


@policy_app.command("check")
def policy_check(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Policy files to validate.")
    ],
) -> int:
    """Validate policy files: prints 'ok: FILE' or the error for each; exit 125 if any failed."""
    from bwsandbox.policy import load_policy_file

    failed = 0
    for file in files:
        try:
            load_policy_file(str(file))
        except SandboxError as exc:
            failed += 1
            typer.echo(f"error: {exc}", err=True)
        else:
            typer.echo(f"ok: {file}")
    return 125 if failed else 0


@policy_app.command("list")
def policy_list() -> int:
    """List the shipped and user policies: name, where it comes from, description."""
    from bwsandbox.cli._render import policy_listing
    from bwsandbox.policy import list_policies

    for line in policy_listing(list_policies()):
        typer.echo(line)
    return 0


@policy_app.command("show")
def policy_show(
    name: Annotated[str, typer.Argument(metavar="NAME|FILE", help="Policy name or file.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of TOML.")
    ] = False,
) -> int:
    """Show a resolved policy (all layers merged; variables unexpanded)."""
    from bwsandbox.cli._render import policy_text
    from bwsandbox.policy import load_policy, policy_as_dict

    policy = load_policy([name])
    typer.echo(policy_text(policy_as_dict(policy), as_json=json_output), nl=False)
    return 0


def doctor() -> int:
    """Check the host: bwrap, user namespaces, cgroups, nftables, TIOCSTI.

    Exit 0 when sandboxes work on this host, 1 otherwise.
    """
    from bwsandbox.cli._render import doctor_lines
    from bwsandbox.doctor import diagnose

    diagnosis = diagnose()
    for line in doctor_lines(diagnosis):
        typer.echo(line)
    return 0 if diagnosis.sandbox_works else 1


def _newest_session(sessions: Path) -> str:
    try:
        entries = [e for e in os.scandir(sessions) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        entries = []
    except OSError as exc:
        raise SandboxError(f"cannot read {sessions}: {exc.strerror}") from exc
    if not entries:
        raise SandboxError(
            f"no sessions recorded in {sessions}", hint="run a sandbox first, or pass --client"
        )
    newest = max(entries, key=lambda e: (e.stat(follow_symlinks=False).st_mtime_ns, e.name))
    return newest.name


def logs(
    session: Annotated[
        str,
        typer.Argument(metavar="[SESSION]", help="Session id (default: the newest of the client)."),
    ] = "",
    client: Annotated[
        str, typer.Option("--client", metavar="NAME", help="Client name.")
    ] = "default",
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Keep printing new events until the session has ended."
        ),
    ] = False,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", metavar="NAME", help="Only events NAME (repeatable): net, ..."),
    ] = None,
) -> int:
    """Print a session's audit events as JSON lines (docs/audit.md describes them)."""
    from bwsandbox import _paths
    from bwsandbox.cli._logs import audit_lines

    if not _paths.valid_client_name(client):
        raise SandboxError(f"invalid client name {client!r}", hint="letters, digits, . _ -")
    sessions = Path(_paths.client_dir(client), "sessions")
    if session and not _paths.valid_client_name(session):
        raise SandboxError(f"invalid session id {session!r}")
    chosen = session or _newest_session(sessions)
    path = Path(_paths.session_dir(client, chosen), "audit.jsonl")
    try:
        with path.open("rb") as file:
            for line in audit_lines(file, events=set(event or ()), follow=follow):
                sys.stdout.buffer.write(line)
                if follow:
                    sys.stdout.flush()
    except FileNotFoundError as exc:
        raise SandboxError(
            f"no audit log for session {chosen!r} of client {client!r}",
            hint="'agent-sandbox logs' without a session shows the newest one",
        ) from exc
    except OSError as exc:
        raise SandboxError(f"cannot read {path}: {exc.strerror}") from exc
    sys.stdout.flush()
    return 0

"""Live changes to a running filtered session: ``allow`` and ``deny``.

The work is in :mod:`bwsandbox._live` (choosing the session, the request) and
:mod:`bwsandbox.net._control` (the owner-only control socket); these commands parse and render.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["allow", "deny"]

_RULES = typer.Argument(
    metavar="RULE",
    help="HOST[:PORT], *.DOMAIN[:PORT], IP or CIDR, as for --allow.",
    show_default=False,
)
_SESSION = typer.Option(
    "--session",
    "-s",
    metavar="ID",
    help="Sandbox id (a unique prefix); default: the newest running sandbox of this project "
    "(the current directory).",
)


def _render(op: str, rules: list[str], session: str | None) -> int:
    from bwsandbox._live import change

    done = change(op, rules, session=session)
    verb = "allowed" if op == "allow" else "denied"
    line = f"{verb} in {done.session}: {', '.join(done.rules)}"
    if done.cut:
        line += f" ({done.cut} open connection(s) closed)"
    typer.echo(line)
    return 0


def allow(
    rules: Annotated[list[str], _RULES],
    session: Annotated[str | None, _SESSION] = None,
) -> int:
    """Allow hosts in a running filtered sandbox, at once (DNS and new connections).

    Refused when a rule lies inside a network.deny rule or outside an admin-enforced network.allow.
    """
    return _render("allow", rules, session)


def deny(
    rules: Annotated[list[str], _RULES],
    session: Annotated[str | None, _SESSION] = None,
) -> int:
    """Deny hosts in a running filtered sandbox, at once: DNS, new connections, and the
    open connections the new rules refuse are closed."""
    return _render("deny", rules, session)

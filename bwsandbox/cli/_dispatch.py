"""Route a command line, and turn every failure into one ``error:`` line and an exit status.

This is the one place where errors become output:

- :class:`~bwsandbox.SandboxError` -> ``error: <message> (<hint>)``, its ``exit_status``
  (125, or 126/127 when the command cannot be run / is not found);
- a bad command line (a click usage error from the typer app) -> ``error: <what>`` plus a
  pointer to ``--help``, exit 125, nothing started; an option value that typer's validation
  (pydantic) refused is said in the CLI's words, ``--network: expected none, filtered or
  host, got 'filterd'``, never pydantic's ("Value error, ...", "Input should be ...");
- Ctrl-C before the sandbox runs -> 130; anything else -> ``error: internal error ...``, 125.

Well-formed ``run``/``shell`` command lines skip typer entirely (see :mod:`._fastparse`).
Import-light: on the start-up path.
"""

from __future__ import annotations

import os
import sys

from bwsandbox._errors import SandboxError
from bwsandbox.cli._fastparse import parse_run
from bwsandbox.cli._spec import AGENT_COMMANDS, MCP_OPTIONS

__all__ = ["EXIT_FAILURE", "dispatch", "fail"]

#: agent-sandbox itself failed (DESIGN.md)
EXIT_FAILURE = 125
_EXIT_INTERRUPTED = 130


def fail(message: str, status: int = EXIT_FAILURE) -> int:
    """Print the one ``error:`` line and return ``status``."""
    from bwsandbox._printable import printable

    line = printable(" ".join(message.split()), limit=2000) or "failed"
    try:
        sys.stderr.write(f"error: {line}\n")
        sys.stderr.flush()
    except OSError:
        pass
    return status


_CHOICE = r"Value error, (?P<got>'.*') is not one of (?P<choices>'.*')\.?$"


def _alternatives(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _option_wording(exc: BaseException) -> str | None:
    """``--opt: expected ..., got 'value'`` for a value typer's pydantic validation refused."""
    import re

    cause = exc.__cause__
    param = getattr(exc, "param", None)
    if type(cause).__name__ != "ValidationError" or param is None:
        return None
    try:
        error = cause.errors()[0]  # type: ignore[union-attr]
    except (AttributeError, IndexError, TypeError):
        return None
    opts = [opt for opt in getattr(param, "opts", ()) if opt.startswith("--")]
    name = opts[0] if opts else str(getattr(param, "metavar", None) or "value").upper()
    got = repr(error.get("input"))
    kind = str(error.get("type", ""))
    message = str(error.get("msg", ""))
    limits = error.get("ctx") or {}
    if (match := re.match(_CHOICE, message)) is not None:
        choices = [c.strip().strip("'") for c in match["choices"].split(",")]
        return f"{name}: expected {_alternatives(choices)}, got {match['got']}"
    if kind in ("float_parsing", "float_type"):
        return f"{name}: expected a number, got {got}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{name}: expected a whole number, got {got}"
    for key, words in (
        ("ge", "at least"),
        ("gt", "more than"),
        ("le", "at most"),
        ("lt", "less than"),
    ):
        if key in limits:
            bound = limits[key]
            bound = f"{bound:g}" if isinstance(bound, int | float) else bound
            return f"{name}: expected a number {words} {bound}, got {got}"
    text = message.removeprefix("Value error, ").replace("Input should be", "expected")
    return f"{name}: {text}, got {got}"


def _usage_message(exc: BaseException) -> str | None:
    """The message of a click usage error, without importing click when it was never loaded."""
    exceptions = sys.modules.get("typer._click.exceptions")
    if exceptions is None or not isinstance(exc, exceptions.ClickException):
        return None
    if type(exc).__name__ == "NoArgsIsHelpError":
        message = "missing command"  # the help itself went to stdout
    else:
        message = _option_wording(exc) or " ".join(exc.format_message().split())
        message = message or type(exc).__name__
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "agent-sandbox"
    return f"{message} (see '{path} --help')"


def _route(argv: list[str]) -> int:
    if argv and argv[0] in AGENT_COMMANDS:
        parsed = parse_run(argv[1:])
        if parsed is not None:
            from bwsandbox.cli._runcmd import run_command

            values, words = parsed
            return run_command(argv[0], values, words)
    if argv and argv[0] == "mcp":
        parsed = parse_run(argv[1:], MCP_OPTIONS)
        if parsed is not None:
            from bwsandbox.cli._mcp import mcp_command

            return mcp_command(*parsed)
    from bwsandbox.cli._app import run_app

    return run_app(argv)


def dispatch(argv: list[str]) -> int:
    """Run one ``agent-sandbox`` command line; return the process exit status."""
    try:
        return _route(argv)
    except SandboxError as exc:
        return fail(str(exc), exc.exit_status)
    except KeyboardInterrupt:
        return _EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (``agent-sandbox logs | head``): not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except Exception as exc:
        usage = _usage_message(exc)
        if usage is not None:
            return fail(usage)
        if os.environ.get("AGENT_SANDBOX_DEBUG"):
            raise
        return fail(
            f"internal error: {type(exc).__name__}: {exc} (a bug: please report it; "
            "AGENT_SANDBOX_DEBUG=1 shows the traceback)"
        )

"""Route a command line, and turn every failure into one ``error:`` line and an exit status.

This is the one place where errors become output:

- :class:`~bwsandbox.SandboxError` -> ``error: <message> (<hint>)``, its ``exit_status``
  (125, or 126/127 when the command cannot be run / is not found);
- a bad command line (a click usage error from the typer app) -> ``error: <what>`` plus a
  pointer to ``--help``, exit 125, nothing started;
- Ctrl-C before the sandbox runs -> 130; anything else -> ``error: internal error ...``, 125.

Well-formed ``run``/``shell`` command lines skip typer entirely (see :mod:`._fastparse`).
Import-light: on the start-up path.
"""

from __future__ import annotations

import os
import sys

from bwsandbox._errors import SandboxError
from bwsandbox.cli._fastparse import parse_run
from bwsandbox.cli._spec import AGENT_COMMANDS

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


def _usage_message(exc: BaseException) -> str | None:
    """The message of a click usage error, without importing click when it was never loaded."""
    exceptions = sys.modules.get("typer._click.exceptions")
    if exceptions is None or not isinstance(exc, exceptions.ClickException):
        return None
    if type(exc).__name__ == "NoArgsIsHelpError":
        message = "missing command"  # the help itself went to stdout
    else:
        message = " ".join(exc.format_message().split()) or type(exc).__name__
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

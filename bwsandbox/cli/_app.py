"""The typer app: every command, its help, and the slow-but-complete parser.

The ``run``-style options are not written here: :func:`_run_parameters` derives them from
:data:`bwsandbox.cli._spec.RUN_OPTIONS`, the same table the fast parser reads. Commands only
parse and render; the work happens in the library (and :mod:`._runcmd` for ``run``).
"""

from __future__ import annotations

import enum
import inspect
import sys
from collections.abc import Callable
from typing import Any

import typer

from bwsandbox.cli._spec import (
    AGENT_COMMANDS,
    EXIT_STATUS_HELP,
    FLAG,
    MCP_OPTIONS,
    MULTI,
    RUN_OPTIONS,
    SWITCH,
    OptionSpec,
)

__all__ = ["build_app", "normalize", "run_app"]

_CONTEXT = {"help_option_names": ["-h", "--help"]}
_COMMAND_CONTEXT = {**_CONTEXT, "allow_interspersed_args": False}
_KW = inspect.Parameter.KEYWORD_ONLY


def _choice_enum(spec: OptionSpec) -> type[enum.Enum]:
    return enum.Enum(spec.dest.title(), {c: c for c in spec.choices}, type=str)  # type: ignore[return-value]


def _parameter(spec: OptionSpec) -> inspect.Parameter:
    annotation: Any
    if spec.kind == MULTI:
        annotation = list[str] | None
        default = typer.Option(None, *spec.names, metavar=spec.metavar, help=spec.help)
    elif spec.kind == FLAG:
        annotation = bool
        default = typer.Option(False, *spec.names, help=spec.help)
    elif spec.kind == SWITCH:
        annotation = bool | None
        default = typer.Option(None, "/".join(spec.names), help=spec.help, show_default=False)
    else:
        annotation = _choice_enum(spec) | None if spec.choices else str | None
        default = typer.Option(None, *spec.names, metavar=spec.metavar, help=spec.help)
    return inspect.Parameter(spec.dest, _KW, default=default, annotation=annotation)


def _run_parameters(
    command_metavar: str, command_help: str, options: tuple[OptionSpec, ...] = RUN_OPTIONS
) -> list[inspect.Parameter]:
    params = [_parameter(spec) for spec in options]
    params.append(
        inspect.Parameter(
            "command",
            _KW,
            default=typer.Argument(None, metavar=command_metavar, help=command_help),
            annotation=list[str] | None,
        )
    )
    return params


def _with_parameters(
    func: Callable[..., Any], params: list[inspect.Parameter]
) -> Callable[..., Any]:
    """Give ``func(**kwargs)`` the signature typer reads to build its click parameters."""
    func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    func.__annotations__ = {p.name: p.annotation for p in params}
    return func


def normalize(
    kwargs: dict[str, Any], options: tuple[OptionSpec, ...] = RUN_OPTIONS
) -> tuple[dict[str, object], tuple[str, ...]]:
    """typer's values -> the fast parser's shape: ``({dest: value}, command words)``."""
    values: dict[str, object] = {}
    for spec in options:
        value = kwargs.get(spec.dest)
        if spec.kind == MULTI:
            value = tuple(value or ())
        elif isinstance(value, enum.Enum):
            value = value.value
        values[spec.dest] = value
    return values, tuple(kwargs.get("command") or ())


def _sandbox_command(name: str, summary: str, metavar: str) -> Callable[..., int]:
    def command(**kwargs: Any) -> int:
        from bwsandbox.cli._runcmd import run_command

        values, words = normalize(kwargs)
        return run_command(name, values, words)

    command.__doc__ = f"{summary}\n\n{EXIT_STATUS_HELP}"
    help_words = "Command and arguments, passed unchanged (options included)."
    return _with_parameters(command, _run_parameters(metavar, help_words))


def _mcp(**kwargs: Any) -> int:
    """Run a stdio MCP server in a sandbox of its own; use it as the server command in any
    MCP client's configuration.

    stdin and stdout pass through and carry only the server's JSON-RPC; every note of
    agent-sandbox goes to stderr. No terminal. Starts from the 'mcp' policy: the project
    read-only (--rw DIR to make it writable), a private home, no network (--allow HOST for
    the filtered network). Ends when the client closes stdin: the server then exits, or is
    terminated after a few seconds. See docs/mcp.md.
    """
    from bwsandbox.cli._mcp import mcp_command

    values, words = normalize(kwargs, MCP_OPTIONS)
    return mcp_command(values, words)


_mcp.__doc__ = f"{_mcp.__doc__}\n{EXIT_STATUS_HELP}"


def _explain(**kwargs: Any) -> int:
    """Print the resolved policy, the exact bwrap argv, environment and network mode.

    Nothing is started. Secret values are redacted. Takes the same options as run.
    """
    from bwsandbox.cli._explain import explain

    as_json = bool(kwargs.pop("json", False))
    quoted = bool(kwargs.pop("quoted", False))
    values, words = normalize(kwargs)
    return explain(values, words, as_json=as_json, quoted=quoted)


def _explain_parameters() -> list[inspect.Parameter]:
    params = _run_parameters("[COMMAND [ARG...]]", "The command the sandbox would run.")
    extra = [
        inspect.Parameter(
            "json",
            _KW,
            default=typer.Option(False, "--json", help="Print the policy and plan as JSON."),
            annotation=bool,
        ),
        inspect.Parameter(
            "quoted",
            _KW,
            default=typer.Option(
                False, "--quoted", help="Print the bwrap argv as one shell-quoted line."
            ),
            annotation=bool,
        ),
    ]
    return extra + params


def _version(value: bool) -> None:
    if value:
        from bwsandbox import __version__

        typer.echo(f"agent-sandbox {__version__}")
        raise typer.Exit(0)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="agent-sandbox",
        help="Run AI coding agents and any command in unprivileged bubblewrap sandboxes.\n\n"
        + EXIT_STATUS_HELP,
        add_completion=True,
        no_args_is_help=True,
        context_settings=_CONTEXT,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        """Run AI coding agents and any command in unprivileged bubblewrap sandboxes."""

    app.command("run", context_settings=_COMMAND_CONTEXT)(
        _sandbox_command(
            "run",
            "Run COMMAND in a sandbox on the current directory (network: none).",
            "COMMAND [ARG...]",
        )
    )
    for name in AGENT_COMMANDS:
        if name != "run":
            app.command(name, context_settings=_COMMAND_CONTEXT)(
                _sandbox_command(
                    name,
                    f"Start the '{AGENT_COMMANDS[name]}' profile in a sandbox on the current "
                    "directory. Arguments after -- go to it unchanged.",
                    "[-- ARGS...]",
                )
            )
    app.command("mcp", context_settings=_COMMAND_CONTEXT)(
        _with_parameters(
            _mcp,
            _run_parameters(
                "COMMAND [ARG...]",
                "The MCP server's command and arguments, passed unchanged (options included).",
                MCP_OPTIONS,
            ),
        )
    )
    app.command("explain", context_settings=_COMMAND_CONTEXT)(
        _with_parameters(_explain, _explain_parameters())
    )

    from bwsandbox.cli import _commands

    app.add_typer(_commands.policy_app, name="policy")
    app.add_typer(_commands.clients_app, name="clients")
    app.command("doctor")(_commands.doctor)
    app.command("logs")(_commands.logs)
    from bwsandbox.cli._hook import shell_hook

    app.command("shell-hook")(shell_hook)
    from bwsandbox.cli import _sessions

    app.command("ps")(_sessions.ps)
    app.command("exec", context_settings=_COMMAND_CONTEXT)(_sessions.exec_command)
    app.command("stop")(_sessions.stop)
    from bwsandbox.cli import _live

    app.command("allow")(_live.allow)
    app.command("deny")(_live.deny)
    from bwsandbox.cli._watch import watch

    app.command("watch")(watch)
    from bwsandbox.cli._replay import replay

    app.command("replay")(replay)
    return app


def run_app(argv: list[str]) -> int:
    """Run the typer app without its own error handling (the dispatcher does that)."""
    command = typer.main.get_command(build_app())
    result = command.main(argv, prog_name="agent-sandbox", standalone_mode=False)
    if isinstance(result, int):
        return result
    sys.stdout.flush()
    return 0

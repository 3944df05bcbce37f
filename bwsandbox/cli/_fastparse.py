"""A tiny parser for well-formed ``run``-style command lines, derived from :data:`RUN_OPTIONS`.

It accepts exactly the spellings click accepts for these options (``--name VALUE``,
``--name=VALUE``, ``--flag``, ``--tty``/``--no-tty``, ``--`` ends the options, the first
non-option word starts the command) and returns ``None`` for anything else: ``--help``, an
unknown or malformed option, a missing value, a value that looks like an option, a bad choice.
The caller then hands the command line to the typer app, which prints help or the one
``error:`` line. So the fast path never has to produce an error message of its own.

Import-light: on the start-up path.
"""

from __future__ import annotations

from bwsandbox.cli._spec import FLAG, MULTI, RUN_OPTIONS, SWITCH, by_name, defaults

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from bwsandbox.cli._spec import OptionSpec

__all__ = ["ParsedRun", "parse_run"]

#: (option values by dest, command words)
ParsedRun = tuple[dict[str, object], tuple[str, ...]]


def parse_run(
    args: Sequence[str], options: tuple[OptionSpec, ...] = RUN_OPTIONS
) -> ParsedRun | None:
    """Parse the words after the sub-command name, or None to defer to the typer app."""
    specs = by_name(options)
    values = defaults(options)
    i = 0
    n = len(args)
    while i < n:
        word = args[i]
        if word == "--":
            return values, tuple(args[i + 1 :])
        if not word.startswith("-") or word == "-":
            return values, tuple(args[i:])
        name, eq, inline = word.partition("=")
        spec = specs.get(name)
        if spec is None:
            return None  # --help, -h, unknown options, short options: the typer app decides
        if spec.takes_value:
            if eq:
                value = inline
            else:
                i += 1
                if i >= n:
                    return None
                value = args[i]
                if value.startswith("-"):
                    return None  # click's rules for option-like values are subtle: defer
            if spec.choices and value not in spec.choices:
                return None
            if spec.kind == MULTI:
                previous = values[spec.dest]
                assert isinstance(previous, tuple)
                values[spec.dest] = (*previous, value)
            else:
                values[spec.dest] = value
        elif eq:
            return None  # --keep-workdir=yes: click rejects it
        elif spec.kind == FLAG:
            values[spec.dest] = True
        elif spec.kind == SWITCH:
            values[spec.dest] = name == spec.names[0]
        else:  # pragma: no cover - the table has no other kinds
            return None
        i += 1
    return values, ()

"""``agent-sandbox shell-hook``: the opt-in wrapper that makes ``claude`` mean the sandbox.

With ``eval "$(agent-sandbox shell-hook)"`` in the shell's rc file, the agent commands
(:data:`~bwsandbox.cli._spec.AGENTS`) become shell functions that look at ``AGENT_SANDBOX``:

- ``true`` (also ``1``, ``yes``, ``on``): run ``agent-sandbox <agent> $AGENT_SANDBOX_ARGS --
  ARGS...``; ``AGENT_SANDBOX_ARGS`` is split at spaces, without quoting;
- unset or empty: run the real command, silently (opting in is the user's choice);
- ``false`` (also ``0``, ``no``, ``off``): run the real command, and say on stderr that the
  sandbox is bypassed: the documented escape hatch, never silent;
- anything else: run in the sandbox, and say that the value was not understood (fail closed);
- inside a sandbox (``AGENT_SANDBOX_ACTIVE`` set by policies/base.toml): always the real
  command, so the wrapper never recurses.

The generated code calls ``agent-sandbox`` by the absolute path of the running one, so the
hook works when it is installed in a virtual environment that is not on ``PATH``.
"""

# ruff: noqa: PTH100, PTH113, PTH119

from __future__ import annotations

import enum
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated

import typer

from bwsandbox.cli._spec import AGENTS

__all__ = ["HOOK_SHELLS", "Shell", "agent_sandbox_argv", "detect_shell", "hook_code", "shell_hook"]

_TRUE = ("true", "True", "TRUE", "1", "yes", "on")
_FALSE = ("false", "False", "FALSE", "0", "no", "off")


class Shell(enum.StrEnum):
    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"


HOOK_SHELLS = tuple(shell.value for shell in Shell)

_BYPASS = "agent-sandbox: AGENT_SANDBOX=%s: running %s WITHOUT the sandbox\\n"
_UNKNOWN = "agent-sandbox: AGENT_SANDBOX=%s is neither true nor false: running %s in the sandbox\\n"

_POSIX = """\
# agent-sandbox shell hook ({shell}): AGENT_SANDBOX=true runs {names} in a sandbox;
# AGENT_SANDBOX=false runs them without one, and says so. See docs/agents.md.
__agent_sandbox_wrap() {{
    local __as_name="$1"
    shift
    if [ -n "${{AGENT_SANDBOX_ACTIVE:-}}" ]; then
        command "$__as_name" "$@"
        return
    fi
    case "${{AGENT_SANDBOX:-}}" in
        "")
            command "$__as_name" "$@"
            return
            ;;
        {false})
            printf '{bypass}' "$AGENT_SANDBOX" "$__as_name" >&2
            command "$__as_name" "$@"
            return
            ;;
        {true}) ;;
        *) printf '{unknown}' "$AGENT_SANDBOX" "$__as_name" >&2 ;;
    esac
    local -a __as_opts
    {split}
    {agent_sandbox} "$__as_name" "${{__as_opts[@]}}" -- "$@"
}}
"""

_SPLIT = {
    Shell.BASH: 'read -r -a __as_opts <<< "${AGENT_SANDBOX_ARGS:-}"',
    Shell.ZSH: "__as_opts=(${=AGENT_SANDBOX_ARGS:-})",
}

_FISH = """\
# agent-sandbox shell hook (fish): AGENT_SANDBOX=true runs {names} in a sandbox;
# AGENT_SANDBOX=false runs them without one, and says so. See docs/agents.md.
function __agent_sandbox_wrap
    set -l name $argv[1]
    set -e argv[1]
    if test -n "$AGENT_SANDBOX_ACTIVE"
        command $name $argv
        return $status
    end
    switch "$AGENT_SANDBOX"
        case ''
            command $name $argv
            return $status
        case {false}
            printf '{bypass}' "$AGENT_SANDBOX" $name >&2
            command $name $argv
            return $status
        case {true}
        case '*'
            printf '{unknown}' "$AGENT_SANDBOX" $name >&2
    end
    set -l opts (string split --no-empty ' ' -- (string trim -- "$AGENT_SANDBOX_ARGS"))
    {agent_sandbox} $name $opts -- $argv
end
"""


def _fish_quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "\\'") + "'"


def hook_code(shell: Shell, agent_sandbox: Sequence[str], agents: Sequence[str] = AGENTS) -> str:
    """The shell code for ``shell`` that wraps ``agents``, calling ``agent_sandbox`` (argv)."""
    names = ", ".join(agents)
    if shell is Shell.FISH:
        code = _FISH.format(
            names=names,
            false=" ".join(_FALSE),
            true=" ".join(_TRUE),
            bypass=_BYPASS,
            unknown=_UNKNOWN,
            agent_sandbox=" ".join(_fish_quote(word) for word in agent_sandbox),
        )
        wrappers = [
            f"function {name} --wraps {name}\n    __agent_sandbox_wrap {name} $argv\nend\n"
            for name in agents
        ]
        return code + "".join(wrappers)
    code = _POSIX.format(
        shell=shell.value,
        names=names,
        false="|".join(_FALSE),
        true="|".join(_TRUE),
        bypass=_BYPASS,
        unknown=_UNKNOWN,
        split=_SPLIT[shell],
        agent_sandbox=shlex.join(agent_sandbox),
    )
    # 'function NAME' so that an alias of the same name is not expanded in the definition
    wrappers = [f'function {name} {{ __agent_sandbox_wrap {name} "$@"; }}\n' for name in agents]
    return code + "".join(wrappers)


def detect_shell(environ: Mapping[str, str]) -> Shell:
    """The user's shell from ``$SHELL``; bash when it is none of the supported ones."""
    name = os.path.basename(environ.get("SHELL", ""))
    return Shell(name) if name in HOOK_SHELLS else Shell.BASH


def agent_sandbox_argv() -> list[str]:
    """How the hook calls this ``agent-sandbox``: its absolute path when it can tell."""
    here = sys.argv[0] if sys.argv else ""
    if os.path.basename(here) == "agent-sandbox" and os.path.isfile(here):
        return [os.path.abspath(here)]
    found = shutil.which("agent-sandbox")
    if found:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "bwsandbox.cli"]


def shell_hook(
    positional: Annotated[
        Shell | None,
        typer.Argument(
            metavar="SHELL",
            help="Shell to print code for: bash, zsh or fish (default: from $SHELL, else bash).",
            show_default=False,
        ),
    ] = None,
    shell: Annotated[
        Shell | None,
        typer.Option("--shell", help="The same as SHELL (either form)."),
    ] = None,
) -> int:
    """Print shell code that wraps claude, codex, opencode, pi and gemini.

    Put 'eval "$(agent-sandbox shell-hook)"' in ~/.bashrc or ~/.zshrc ('agent-sandbox
    shell-hook fish | source' in config.fish). Then AGENT_SANDBOX=true makes 'claude'
    run 'agent-sandbox claude' (with $AGENT_SANDBOX_ARGS before '--'); unset runs the real
    command; AGENT_SANDBOX=false runs the real command and says so on stderr. Inside a
    sandbox the real command always runs.
    """
    if positional is not None and shell is not None and positional != shell:
        from bwsandbox._errors import SandboxError  # dispatch prints it: one error line, 125

        raise SandboxError(
            f"shell-hook: SHELL is {positional} but --shell is {shell}: give one of them"
        )
    given = positional if positional is not None else shell
    chosen = given if given is not None else detect_shell(os.environ)
    typer.echo(hook_code(chosen, agent_sandbox_argv()), nl=False)
    return 0

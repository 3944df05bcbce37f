"""The line printed after an interactive agent session: how to continue it *in the sandbox*.

Agents end with their own hint (Claude Code: ``claude --resume <id>``; Codex: ``codex resume
<id>``). On the host that command runs the agent outside the sandbox, and without this
client's compartment it finds no such conversation. The agent's output is left untouched (it
is the agent's terminal stream); after the sandbox is gone, one line of ours follows with the
``agent-sandbox`` command line that continues: the same options as this session, plus
``--resume`` (the last conversation), and where the agent takes a conversation id, the form
that passes the id the agent printed.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

__all__ = ["BY_ID", "resume_hint", "session_argv"]

#: how each agent continues a conversation it named (after ``--``); ``<id>`` is its id
BY_ID: dict[str, str] = {
    "claude": "--resume <id>",
    "codex": "resume <id>",
    "gemini": "--resume <id>",
}

_DROP = frozenset({"--resume"})


def _options(args: Sequence[str]) -> list[str]:
    """The agent-sandbox options at the start of ``args`` (up to ``--`` or the agent's args)."""
    from bwsandbox.cli._spec import by_name

    specs = by_name()
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--" or not word.startswith("-") or word == "-":
            break
        name, eq, _ = word.partition("=")
        spec = specs.get(name)
        takes_value = spec is not None and spec.takes_value and not eq
        if name not in _DROP:
            out += [word, *args[i + 1 : i + 2]] if takes_value else [word]
        i += 2 if takes_value else 1
    return out


def session_argv(name: str, argv: Sequence[str], values: Mapping[str, object]) -> list[str]:
    """This session's command line: ``argv`` when it is that (``sys.argv[1:]`` of the CLI),
    else (called as a library) the options that select the conversation, from ``values``."""
    if argv and argv[0] == name:
        return list(argv)
    out = [name]
    for key in ("project", "client", "worktree"):
        value = values.get(key)
        if value:
            out += [f"--{key}", str(value)]
    return out


def resume_hint(name: str, argv: Sequence[str]) -> str | None:
    """The hint for agent ``name`` run as ``agent-sandbox ARGV`` (ARGV starts with ``name``).

    None when the agent cannot continue a conversation.
    """
    from bwsandbox.agents import AGENT_SPECS

    spec = AGENT_SPECS.get(name)
    if spec is None or spec.resume is None:
        return None
    args = list(argv[1:] if argv and argv[0] == name else argv)
    prefix = shlex.join(["agent-sandbox", name, *_options(args)])
    hint = f"agent-sandbox: continue in the sandbox with: {prefix} --resume"
    if name in BY_ID:
        hint += f" (or the conversation {name} named: {prefix} -- {BY_ID[name]})"
    return hint

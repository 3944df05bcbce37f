"""``agent-sandbox watch``: a live view of a running filtered session's network decisions,
with keys to answer its held questions (ask on first use).

The work is in :func:`bwsandbox._live.watch` (the stream over the owner-only control socket);
this command renders it. Prompts need a session in ask mode, a terminal on stdin and stdout,
and no ``--no-prompt``; otherwise it is a plain live log (one line per event, flushed).
Everything the sandbox chose (host names, reasons) is printed through
:func:`bwsandbox._printable.printable`.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bwsandbox._printable import printable

if TYPE_CHECKING:
    from bwsandbox._live import Watch

__all__ = ["KEYS", "render", "watch"]

#: the answer each key gives
KEYS = {"o": "once", "s": "session", "a": "always", "d": "deny"}
_PROMPT = "[o]nce  [s]ession  [a]lways  [d]eny"


def _where(event: dict[str, Any]) -> str:
    host = printable(str(event.get("host", "?")))
    port = event.get("port")
    return host if port is None else f"{host}:{printable(str(port))}"


def render(event: dict[str, Any]) -> str | None:
    """One line for an event (None: nothing to show)."""
    kind = event.get("event")
    if kind == "net":
        decision = "allowed" if event.get("decision") == "allow" else "denied"
        how = printable(str(event.get("proto", "")))
        why = event.get("reason") or event.get("error") or event.get("rule") or ""
        tail = f"  ({printable(str(why))})" if why else ""
        return f"{decision:<8} {_where(event)}  {how}{tail}"
    if kind == "question":
        timeout = event.get("timeout")
        bound = f", denied in {timeout:g} s" if isinstance(timeout, int | float) else ""
        how = printable(str(event.get("kind", "")))
        qid = printable(str(event.get("id")))
        return f"held     {_where(event)}  {how}  [question {qid}{bound}]"
    if kind == "answered":
        by = printable(str(event.get("by", "")))
        decision = printable(str(event.get("decision", "")))
        line = f"answered {_where(event)}  {decision} by {by}"
        if event.get("path"):
            line += f"; written to {printable(str(event['path']))}"
        if event.get("error"):
            line += f" ({printable(str(event['error']))})"
        return line
    if kind == "net-change":
        listed = event.get("rules")
        rules = ", ".join(printable(str(r)) for r in (listed if isinstance(listed, list) else ()))
        return f"change   {printable(str(event.get('op', '')))} {rules}"
    if kind == "reply" and event.get("ok") is not True:
        return f"error    {printable(str(event.get('error', 'refused')))}"
    if kind == "error":
        return f"error    {printable(str(event.get('error', '')))}"
    return None


@contextlib.contextmanager
def _cbreak(fd: int) -> Iterator[None]:
    """Single keys without Enter, no echo; the terminal restored after."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _say(line: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    sys.stdout.write(f"{stamp} {line}\n")
    sys.stdout.flush()


def _loop(stream: Watch, prompt: bool) -> None:
    for question in stream.pending:  # open before this watch started
        _say(render({"event": "question", **question}) or "")
    pending: list[dict[str, Any]] = list(stream.pending) if prompt else []
    if pending:
        _say(f"         {_PROMPT}")
    while True:
        sources: list[Any] = [stream]
        if prompt:
            sources.append(sys.stdin)
        ready, _, _ = select.select(sources, [], [])
        if stream in ready:
            try:
                events = stream.read(0)
            except EOFError:
                _say(f"the session has ended (sandbox {printable(stream.session)})")
                return
            for event in events:
                line = render(event)
                if line:
                    _say(line)
                if not prompt:
                    continue
                if event.get("event") == "question":
                    pending.append(event)
                    if len(pending) == 1:
                        _say(f"         {_PROMPT}")
                elif event.get("event") == "answered":
                    before = pending[:1]
                    pending = [q for q in pending if q.get("id") != event.get("id")]
                    if pending and pending[:1] != before:
                        _say(render({**pending[0], "event": "question"}) or "")
                        _say(f"         {_PROMPT}")
        if prompt and sys.stdin in ready:
            key = os.read(sys.stdin.fileno(), 1).decode(errors="replace").lower()
            if key in ("q", "\x04", ""):
                return
            if key in KEYS and pending:
                stream.answer(int(pending[0]["id"]), KEYS[key])


def watch(
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            "-s",
            metavar="ID",
            help="Sandbox id (a unique prefix); default: the newest running sandbox of this "
            "project (the current directory).",
        ),
    ] = None,
    no_prompt: Annotated[
        bool,
        typer.Option("--no-prompt", help="Only show the decisions; never answer questions."),
    ] = False,
) -> int:
    """Show a running filtered sandbox's network decisions live, and answer its held
    questions (--ask): o = allow once, s = for this session, a = always (written to your
    policy file), d = deny, q = quit.
    """
    from bwsandbox._live import watch as open_watch

    stream = open_watch(session)
    with stream:
        prompt = (
            stream.ask and not no_prompt and os.isatty(sys.stdin.fileno()) and sys.stdout.isatty()
        )
        mode = "answering questions" if prompt else "live log"
        why = "" if stream.ask else " (this session does not ask: start it with --ask)"
        _say(f"watching {stream.session}: {mode}{why}; ctrl-c to stop")
        try:
            if prompt:
                with _cbreak(sys.stdin.fileno()):
                    _loop(stream, prompt=True)
            else:
                _loop(stream, prompt=False)
        except KeyboardInterrupt:
            pass
    return 0

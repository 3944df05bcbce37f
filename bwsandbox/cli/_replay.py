"""``agent-sandbox replay``: play a session recording (asciicast v2) back with its timing.

``asciinema play FILE`` plays the same files. Only output (``"o"``) events are played; input
and resize events are skipped. ``--speed`` divides every pause, ``--idle-limit`` caps it.

A recording holds what the sandbox wrote, raw. It goes through the same terminal filter as a
live session (:mod:`bwsandbox.runtime._termfilter`): no clipboard writes, report requests or
``file://`` links reach the terminal that plays it.
"""

# os.path like the runtime: paths stay plain strings
# ruff: noqa: PTH113, PTH118

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated

import typer

from bwsandbox._errors import SandboxError

__all__ = ["cast_path", "filtered_writer", "output_events", "play", "replay"]

_CAST = "session.cast"  # runtime._record.CAST_NAME (not imported: it pulls in the runtime)


def _bad(path: str, number: int, what: str) -> SandboxError:
    return SandboxError(
        f"{path} is not an asciicast v2 recording (line {number}: {what})",
        hint="recordings are made with 'agent-sandbox run --record'",
    )


def output_events(path: str, lines: Iterable[str]) -> Iterator[tuple[float, str]]:
    """``(time, text)`` of each output event, after checking the header."""
    numbered = enumerate(lines, start=1)
    try:
        header = json.loads(next(numbered)[1])
    except StopIteration:
        raise _bad(path, 1, "the file is empty") from None
    except ValueError as exc:
        raise _bad(path, 1, "the header is not JSON") from exc
    if not isinstance(header, dict) or header.get("version") != 2:
        raise _bad(path, 1, "the header does not say version 2")
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise _bad(path, number, "not JSON") from exc
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], int | float)
            and isinstance(item[1], str)
            and isinstance(item[2], str)
        ):
            raise _bad(path, number, "an event is [time, code, data]")
        if item[1] == "o":
            yield float(item[0]), item[2]


def play(
    events: Iterable[tuple[float, str]],
    write: Callable[[str], None],
    *,
    speed: float = 1.0,
    idle_limit: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write each event's text after the pause since the previous one (scaled and capped)."""
    previous = 0.0
    for at, text in events:
        pause = max(0.0, at - previous)
        previous = at
        if idle_limit is not None:
            pause = min(pause, idle_limit)
        if pause > 0:
            sleep(pause / speed)
        write(text)


def cast_path(session: str, client: str) -> str:
    """The recording to play: a file path, a session id, or the client's newest recording."""
    if session and ("/" in session or session.endswith(".cast")) and os.path.isfile(session):
        return session
    from bwsandbox import _paths
    from bwsandbox.cli._logs import session_dirs

    if not _paths.valid_client_name(client):
        raise SandboxError(f"invalid client name {client!r}", hint="letters, digits, . _ -")
    if session:
        if not _paths.valid_client_name(session):
            raise SandboxError(f"invalid session id {session!r}")
        path = os.path.join(_paths.session_dir(client, session), _CAST)
        if not os.path.isfile(path):
            raise SandboxError(
                f"session {session!r} of client {client!r} was not recorded",
                hint="record with 'agent-sandbox run --record'",
            )
        return path
    sessions = os.path.join(_paths.client_dir(client), "sessions")
    try:
        entries = session_dirs(sessions)
    except OSError as exc:
        raise SandboxError(f"cannot read {sessions}: {exc.strerror}") from exc
    for entry in reversed(entries):
        path = os.path.join(entry.path, _CAST)
        if os.path.isfile(path):
            return path
    raise SandboxError(
        f"no recorded session for client {client!r}",
        hint="record one with 'agent-sandbox run --record', or pass --client",
    )


def filtered_writer(out: Callable[[bytes], object]) -> Callable[[str], None]:
    """A ``write`` for :func:`play`: each event's text through one terminal filter (a sequence
    may be split across events), then to ``out``."""
    from bwsandbox.runtime import TermFilter

    term = TermFilter()

    def write(text: str) -> None:
        data = term.feed(text.encode("utf-8", "replace"))
        if data:
            out(data)

    return write


def _out(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def replay(
    session: Annotated[
        str,
        typer.Argument(
            metavar="[SESSION]",
            help="Session id or .cast file (default: the client's newest recording).",
        ),
    ] = "",
    client: Annotated[
        str, typer.Option("--client", metavar="NAME", help="Client name.")
    ] = "default",
    speed: Annotated[
        float, typer.Option("--speed", metavar="X", help="Play X times faster.", min=0.001)
    ] = 1.0,
    idle_limit: Annotated[
        float | None,
        typer.Option("--idle-limit", metavar="S", help="Cap every pause at S seconds.", min=0),
    ] = None,
) -> int:
    """Play a recorded session (agent-sandbox run --record) back in the terminal."""
    path = cast_path(session, client)
    try:
        with open(path, encoding="utf-8", errors="replace") as file:  # noqa: PTH123
            write = filtered_writer(_out)
            play(output_events(path, file), write, speed=speed, idle_limit=idle_limit)
    except BrokenPipeError:
        raise  # stdout closed early: the dispatcher's business
    except OSError as exc:
        raise SandboxError(f"cannot read {path}: {exc.strerror}") from exc
    return 0

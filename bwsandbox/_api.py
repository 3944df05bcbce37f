"""``bwsandbox.run``: one call from a command to its result, like ``subprocess.run``.

``build_overlay`` turns command-line style options into the raw "command line" policy layer;
the CLI uses the same function, so the library and ``agent-sandbox run`` agree exactly.

Typing follows typeshed's ``subprocess.run``: ``RunResult`` is generic in its output type, and
overloads on ``capture_output`` make ``run(..., capture_output=True).stdout`` a ``bytes``
(``tests/typing/check_api.py``, checked by the strict mypy run, pins that down).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypeVar, overload

from bwsandbox._record import record
from bwsandbox.policy import COMMAND_LINE, NetworkName, build_overlay

if TYPE_CHECKING:
    from typing_extensions import deprecated

    from bwsandbox.net._ask import Question
else:

    def deprecated(_message: str) -> Any:  # typing_extensions is not a run-time dependency
        return lambda function: function


__all__ = ["COMMAND_LINE", "NetworkName", "RunResult", "build_overlay", "run"]

_Out = TypeVar("_Out", bytes, None, bytes | None)


@record
class RunResult(Generic[_Out]):
    """What :func:`run` returns; ``stdout``/``stderr`` are ``bytes`` with ``capture_output``."""

    returncode: int  # 124 when ``timeout`` ended the command (runtime's TIMEOUT_STATUS)
    stdout: _Out
    stderr: _Out
    session_id: str
    workdir: str | None  # set when keep_workdir=True: the kept work dir
    timed_out: bool = False


_STRING_COMMAND = (
    "bwsandbox.run() takes the command as a list of arguments, not a string: "
    "write ['sh', '-c', LINE] for a shell line"
)


@overload
@deprecated(  # a literal: mypy reads the message from the decorator itself
    "bwsandbox.run() takes the command as a list of arguments, not a string: "
    "write ['sh', '-c', LINE] for a shell line"
)
def run(
    command: str | bytes,
    *,
    project: str | os.PathLike[str] | None = None,
    agent: str | None = None,
    policies: Sequence[str] | None = None,
    network: NetworkName | None = None,
    allow: Sequence[str] = (),
    add_hosts: Mapping[str, str] | None = None,
    ro: Sequence[str] = (),
    rw: Sequence[str] = (),
    env: Mapping[str, str] | Sequence[str] | None = None,
    client: str = "default",
    capture_output: bool = False,
    input: bytes | None = None,
    timeout: float | None = None,
    keep_workdir: bool = False,
    worktree: str | None = None,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[Question], object] | None = None,
) -> NoReturn: ...


@overload
def run(
    command: Sequence[str],
    *,
    project: str | os.PathLike[str] | None = None,
    agent: str | None = None,
    policies: Sequence[str] | None = None,
    network: NetworkName | None = None,
    allow: Sequence[str] = (),
    add_hosts: Mapping[str, str] | None = None,
    ro: Sequence[str] = (),
    rw: Sequence[str] = (),
    env: Mapping[str, str] | Sequence[str] | None = None,
    client: str = "default",
    capture_output: Literal[True],
    input: bytes | None = None,
    timeout: float | None = None,
    keep_workdir: bool = False,
    worktree: str | None = None,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[Question], object] | None = None,
) -> RunResult[bytes]: ...


@overload
def run(
    command: Sequence[str],
    *,
    project: str | os.PathLike[str] | None = None,
    agent: str | None = None,
    policies: Sequence[str] | None = None,
    network: NetworkName | None = None,
    allow: Sequence[str] = (),
    add_hosts: Mapping[str, str] | None = None,
    ro: Sequence[str] = (),
    rw: Sequence[str] = (),
    env: Mapping[str, str] | Sequence[str] | None = None,
    client: str = "default",
    capture_output: Literal[False] = False,
    input: bytes | None = None,
    timeout: float | None = None,
    keep_workdir: bool = False,
    worktree: str | None = None,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[Question], object] | None = None,
) -> RunResult[None]: ...


@overload
def run(
    command: Sequence[str],
    *,
    project: str | os.PathLike[str] | None = None,
    agent: str | None = None,
    policies: Sequence[str] | None = None,
    network: NetworkName | None = None,
    allow: Sequence[str] = (),
    add_hosts: Mapping[str, str] | None = None,
    ro: Sequence[str] = (),
    rw: Sequence[str] = (),
    env: Mapping[str, str] | Sequence[str] | None = None,
    client: str = "default",
    capture_output: bool,
    input: bytes | None = None,
    timeout: float | None = None,
    keep_workdir: bool = False,
    worktree: str | None = None,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[Question], object] | None = None,
) -> RunResult[bytes | None]: ...


def run(
    command: Sequence[str] | str | bytes,
    *,
    project: str | os.PathLike[str] | None = None,
    agent: str | None = None,
    policies: Sequence[str] | None = None,
    network: NetworkName | None = None,
    allow: Sequence[str] = (),
    add_hosts: Mapping[str, str] | None = None,
    ro: Sequence[str] = (),
    rw: Sequence[str] = (),
    env: Mapping[str, str] | Sequence[str] | None = None,
    client: str = "default",
    capture_output: bool = False,
    input: bytes | None = None,  # noqa: A002 (subprocess's name)
    timeout: float | None = None,
    keep_workdir: bool = False,
    worktree: str | None = None,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[Question], object] | None = None,
) -> RunResult[Any]:
    """Run ``command`` in a sandbox with ``project`` (default: cwd) read-write; wait for it.

    ``command`` is a list of arguments, as for ``subprocess.run`` without ``shell=True``; a
    string is refused with TypeError (write ``["sh", "-c", "echo hi"]``). With ``agent``
    (``"claude"``, ``"codex"``, ``"opencode"``, ``"pi"``, ``"gemini"``) the agent's profile
    runs the agent, and ``command`` is the agent's own arguments, exactly as
    ``agent-sandbox AGENT -- ARGS`` (same layers, compartment of ``client``, login).
    ``policies`` are the layers (default ``["base"]``; with ``agent``, layers after its
    profile). One resolve, one probe, one compile: see :func:`bwsandbox.prepare`, and
    ``Sandbox(prepared)`` to start a prepared session yourself. ``environ`` (default
    ``os.environ``) is the host environment the session reads (passthrough, secrets, login).
    ``worktree="NAME"`` runs it in the project's git worktree NAME instead (created when
    absent, on branch ``agent/NAME``; see :mod:`bwsandbox.worktree`).
    On ``timeout`` the command is stopped (TERM, then KILL), the result says
    ``timed_out=True`` and ``returncode`` is 124, as ``limits.timeout``, the CLI's
    ``--timeout`` and coreutils' timeout(1) give.
    ``ask=callable`` turns on ask on first use (``network.unlisted = "ask"``, implies the
    filtered network): a lookup of or connection to an unlisted host waits for
    ``callable(question)`` (a :class:`bwsandbox.Question`), which returns a
    :class:`bwsandbox.Decision`; an exception, another value or no answer within
    ``network.ask_timeout`` is a deny.
    Errors are :class:`bwsandbox.SandboxError` subclasses.
    """
    if isinstance(command, (str, bytes)):
        line = command.decode(errors="replace") if isinstance(command, bytes) else command
        raise TypeError(_STRING_COMMAND.replace("LINE", repr(line)))
    from bwsandbox._prepare import prepare
    from bwsandbox.runtime import TIMEOUT_STATUS, Sandbox

    prepared = prepare(
        command,
        agent=agent,
        project=project,
        policies=policies,
        network=network,
        allow=allow,
        add_hosts=add_hosts,
        ro=ro,
        rw=rw,
        env=env,
        ask=ask is not None,
        client=client,
        interactive=False,
        worktree=worktree,
        environ=environ,
    )
    sandbox = Sandbox(
        prepared,
        keep_workdir=keep_workdir,
        capture_output=capture_output,
        input=input,
        environ=environ,
        on_ask=ask,
    )
    timed_out = False
    with sandbox:
        try:
            returncode = sandbox.wait(timeout)
        except TimeoutError:
            timed_out = True
            sandbox.stop()
            returncode = TIMEOUT_STATUS
    return RunResult(
        returncode=returncode,
        stdout=sandbox.stdout_data,
        stderr=sandbox.stderr_data,
        session_id=sandbox.session_id,
        workdir=sandbox.workdir if keep_workdir else None,
        timed_out=timed_out,
    )

"""``run`` and the agent profiles: try the compiled-plan cache, else take the full path.

Import-light at module level (on the start-up path): the library is imported only on a miss.
"""

from __future__ import annotations

import gc
import os
import sys

from bwsandbox.cli._spec import may_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from bwsandbox.cli._recipe import Prepared as CacheEntry
    from bwsandbox.cli._recipe import Stamps
    from bwsandbox.cli._resolve import Resolved
    from bwsandbox.mcp import McpHub
    from bwsandbox.runtime import Prepared, Sandbox

__all__ = ["run_command"]


def run_command(name: str, values: dict[str, object], words: tuple[str, ...]) -> int:
    """Run one sandboxed command line; returns the exit status (SandboxError propagates).

    The cyclic garbage collector is off until the sandbox has started (bwrap spawned, its
    command released): the start allocates many objects that live on (modules, policy,
    plan) and little cyclic garbage, and a dozen collections cost milliseconds before the
    spawn. It is on again for the session, whatever happens (:func:`_collect_again`).
    """
    if not gc.isenabled():  # a caller that turned it off keeps it off
        return _run_command(name, values, words)
    gc.disable()
    try:
        return _run_command(name, values, words)
    finally:
        _collect_again()


def _collect_again() -> None:
    """The collector on again, the start's objects frozen first (``gc.freeze``: they are
    kept for the session anyway), so its first collection does not scan them all while the
    command runs. A cycle left by the start is not freed: a bounded one-off."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _run_command(name: str, values: dict[str, object], words: tuple[str, ...]) -> int:
    if not may_cache(name, os.environ):
        return _run_full(name, values, words, None)
    from bwsandbox.cli import _plancache

    key = _plancache.lookup_key(name, values, words)
    if key is not None:
        recipe = _plancache.load(key)
        if recipe is not None:
            from bwsandbox._errors import LaunchError
            from bwsandbox.cli._fastlaunch import run_recipe

            warnings: list[str] = []
            _collect_again()  # the cached launch: as before
            try:
                return run_recipe(recipe, warnings)
            except LaunchError:
                _plancache.discard(key)  # the next run takes the full path and says why
                raise
            finally:
                _warn(warnings)
    return _run_full(name, values, words, key)


def _run_full(name: str, values: dict[str, object], words: tuple[str, ...], key: str | None) -> int:
    """Resolve, probe and compile once (``Resolved.prepare``), then run that plan."""
    stamps: Stamps | None = None
    if key is not None:
        from bwsandbox.cli._recipe import stamp_inputs

        stamps = stamp_inputs(values)  # before anything is read
    from bwsandbox.cli._resolve import resolve

    resolved = resolve(name, values, words)
    hub: McpHub | None = None
    if resolved.policy.mcp.servers:
        from bwsandbox.cli._mcphub import open_servers

        resolved, hub = open_servers(name, values, words, resolved)
        key = stamps = None  # sibling sandboxes: never from the plan cache
    try:
        session = resolved.prepare()
        cached: CacheEntry | None = None
        if stamps is not None:
            from bwsandbox.cli._recipe import prepare

            cached = prepare(
                stamps, name=name, values=values, words=words, resolved=resolved, session=session
            )
        return _run_resolved(
            name, values=values, key=key, cached=cached, resolved=resolved, session=session
        )
    finally:
        if hub is not None:
            hub.close()


def _run_resolved(
    name: str,
    *,
    values: dict[str, object],
    key: str | None,
    cached: CacheEntry | None,
    resolved: Resolved,
    session: Prepared,
) -> int:
    from bwsandbox._printable import printable
    from bwsandbox.runtime import Sandbox

    if resolved.notes:  # one write: the agent's lines reach the terminal together
        sys.stderr.write(
            "".join(f"agent-sandbox: {printable(note, limit=2000)}\n" for note in resolved.notes)
        )
    sandbox = Sandbox(
        session,
        keep_workdir=resolved.keep_workdir,
        record=bool(values.get("record")),
        record_input=bool(values.get("record_input")),
    )
    exposed = False
    try:
        try:
            sandbox.start()
        finally:
            _collect_again()  # off for the start only (run_command)
        exposed = _after_start(key, cached, resolved, sandbox)
        status = sandbox.wait()
    finally:
        sandbox.stop()
        if exposed:
            from bwsandbox.cli import _plancache

            _plancache.clear()  # the sandbox could write there: trust nothing it left
        if resolved.keep_workdir and sandbox.workdir:
            sys.stderr.write(f"agent-sandbox: kept the work dir {sandbox.workdir}\n")
        if sandbox.recording:
            sys.stderr.write(f"agent-sandbox: recorded the session in {sandbox.recording}\n")
        _warn(getattr(sandbox, "warnings", ()))
    if resolved.interactive and name != "run":
        from bwsandbox.cli._resume import resume_hint, session_argv

        hint = resume_hint(name, session_argv(name, sys.argv[1:], values))
        if hint is not None:
            sys.stderr.write(hint + "\n")
    return status


def _warn(warnings: Iterable[str]) -> None:
    """What the user must know after the session (e.g. a protected path changed).

    Warnings quote what the sandbox chose (host names, file names in the project): control
    characters are escaped, so none of it is a terminal escape sequence in our output.
    """
    from bwsandbox._printable import printable

    for warning in warnings:
        sys.stderr.write(f"warning: {printable(warning, limit=2000)}\n")


def _after_start(
    key: str | None, prepared: CacheEntry | None, resolved: Resolved, sandbox: Sandbox
) -> bool:
    """Store the launch in the cache; True when the sandbox can write to the cache dir."""
    from bwsandbox.cli import _plancache

    if _plancache.exposes_cache(sandbox.plan):
        _plancache.clear()
        return True
    if key is None or prepared is None:
        return False
    from bwsandbox.cli._recipe import finish

    entry = finish(prepared, resolved, sandbox, os.environ)
    if entry is not None:
        _plancache.store(key, *entry)
    return False

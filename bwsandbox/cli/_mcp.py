"""``agent-sandbox mcp``: a stdio MCP server in a sandbox of its own.

The command an MCP client starts for a server (``"command": "agent-sandbox", "args": ["mcp",
"--", ...]``). Contract (docs/mcp.md): stdout carries only the server's bytes, so every note
of ours goes to stderr (and Python-level output is pointed there too); stdin passes through
unchanged; never a terminal; the session ends when the client closes stdin
(:class:`bwsandbox.mcp.HangupWatch`); the exit status is ``run``'s.

Layers: ``base``, ``mcp`` (project read-only, no network), ``--policy`` layers, the command
line. ``--rw`` naming the project itself replaces the ``mcp`` policy's read-only project bind
(a plain ``--rw`` bind of the same place would lose to it: read-only wins in the compiler).
No plan cache: a server starts once per client session.
"""

# os.path like the rest of the CLI: paths stay plain strings
# ruff: noqa: PTH100, PTH109

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from bwsandbox._errors import PolicyError

__all__ = ["MCP_POLICY", "mcp_command", "project_rw_overlay"]

#: the shipped policy every ``mcp`` sandbox starts from (policies/mcp.toml)
MCP_POLICY = "mcp"


def project_rw_overlay(
    values: dict[str, object],
) -> tuple[dict[str, object], tuple[tuple[str, Mapping[str, object]], ...]]:
    """``--rw PROJECT`` -> a layer binding ``{project}`` read-write (replacing ``mcp``'s)."""
    rw = values.get("rw") or ()
    assert isinstance(rw, tuple)
    given = values.get("project")
    project = os.path.realpath(str(given) if given else os.getcwd())
    others = tuple(p for p in rw if os.path.realpath(os.path.abspath(str(p))) != project)
    if len(others) == len(rw):
        return values, ()
    layer: Mapping[str, object] = {"filesystem": {"rw": ["{project}"]}}
    return {**values, "rw": others}, (("--rw project", layer),)


def mcp_command(values: dict[str, object], words: tuple[str, ...]) -> int:
    """Run one MCP server; its exit status (SandboxError propagates to the dispatcher)."""
    sys.stdout.flush()
    sys.stdout = sys.stderr  # nothing of ours may reach the JSON-RPC stream
    if not words:
        raise PolicyError(
            "no MCP server command",
            key="COMMAND",
            hint="agent-sandbox mcp [OPTIONS] -- COMMAND [ARG...]",
        )
    from bwsandbox.cli._resolve import resolve
    from bwsandbox.cli._runcmd import _after_start, _warn
    from bwsandbox.mcp import HangupWatch
    from bwsandbox.runtime import Sandbox

    policies = values.get("policy") or ()
    assert isinstance(policies, tuple)
    values = {**values, "tty": False, "policy": (MCP_POLICY, *policies)}
    values, extra = project_rw_overlay(values)
    resolved = resolve("run", values, words, extra=extra)
    for note in resolved.notes:
        sys.stderr.write(f"agent-sandbox: {note}\n")
    sandbox = Sandbox(resolved.prepare(), keep_workdir=resolved.keep_workdir)
    watch = HangupWatch()
    exposed = False
    try:
        sandbox.start()
        exposed = _after_start(None, None, resolved, sandbox)
        watch.start()
        status = sandbox.wait()
    finally:
        watch.stop()
        sandbox.stop()
        if exposed:
            from bwsandbox.cli import _plancache

            _plancache.clear()  # the sandbox could write there: trust nothing it left
        if resolved.keep_workdir and sandbox.workdir:
            sys.stderr.write(f"agent-sandbox: kept the work dir {sandbox.workdir}\n")
        _warn(getattr(sandbox, "warnings", ()))
    if watch.terminated.is_set():
        sys.stderr.write(
            "agent-sandbox: the MCP client closed stdin and the server did not exit: terminated\n"
        )
    return status

"""Running a prepared agent launch in a real sandbox, for the bwrap tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bwsandbox._api import COMMAND_LINE, build_overlay
from bwsandbox.agents import AgentLaunch
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox


@dataclass(frozen=True, slots=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        parts = [f"exit {self.returncode}", "--- stdout ---", self.stdout]
        return "\n".join([*parts, "--- stderr ---", self.stderr])


def run_launch(
    launch: AgentLaunch,
    *,
    project: str,
    client: str,
    command: Sequence[str] | None = None,
    network: str | None = None,
    allow: Sequence[str] = (),
    add_hosts: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Ran:
    """Run ``launch`` (or ``command`` under its policy) the way the CLI will: profile, the
    launch's layer, then a command-line layer."""
    overlay: dict[str, Any] = build_overlay(
        network=network, allow=allow, add_hosts=add_hosts, cwd=project
    )
    overlays = [*launch.overlays]
    if overlay:
        overlays.append((COMMAND_LINE, overlay))
    policy = load_policy(launch.policy_refs, overlays=overlays)
    sandbox = Sandbox(
        policy,
        project=project,
        command=tuple(command) if command is not None else launch.command,
        client=client,
        interactive=False,
        capture_output=True,
        input=b"",
    )
    with sandbox:
        try:
            code = sandbox.wait(timeout)
        except TimeoutError:
            sandbox.stop()
            code = -1
    return Ran(
        code,
        (sandbox.stdout_data or b"").decode("utf-8", "replace"),
        (sandbox.stderr_data or b"").decode("utf-8", "replace"),
    )

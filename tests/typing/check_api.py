"""Static checks of the library's types, run by the strict mypy run (never executed).

``assert_type`` fails mypy when an inferred type drifts; a ``# type: ignore[code]`` marks a
call that must stay a type error (mypy strict warns about an unused ignore, so the check fails
if the call ever type-checks).
"""

from __future__ import annotations

from typing import assert_type

import bwsandbox
from bwsandbox import RunResult


def _captured() -> None:
    result = bwsandbox.run(["make", "test"], capture_output=True)
    assert_type(result, RunResult[bytes])
    assert_type(result.stdout, bytes)
    assert_type(result.stdout.decode(), str)  # the documented use: no None check needed


def _not_captured() -> None:
    result = bwsandbox.run(["true"])
    assert_type(result, RunResult[None])
    assert_type(result.stdout, None)
    assert_type(bwsandbox.run(["true"], capture_output=False).stderr, None)


def _unknown(flag: bool) -> None:
    assert_type(bwsandbox.run(["true"], capture_output=flag).stdout, bytes | None)


def _network() -> None:
    bwsandbox.run(["true"], network="filtered")
    bwsandbox.run(["true"], network="filterd")  # type: ignore[call-overload]


def _string_command() -> None:
    # a str is a Sequence[str]; a deprecated overload for str makes mypy report it
    bwsandbox.run("echo hi")  # type: ignore[deprecated]


def _prepare() -> None:
    prepared = bwsandbox.prepare(["make"], network="none")
    assert_type(prepared, bwsandbox.Prepared)
    assert_type(prepared.plan, bwsandbox.SandboxPlan)
    assert_type(prepared.command, tuple[str, ...])
    bwsandbox.Sandbox(prepared)
    bwsandbox.prepare(["make"], network="filterd")  # type: ignore[arg-type]
    agent = bwsandbox.run(["-p", "hi"], agent="claude", capture_output=True)
    assert_type(agent.stdout, bytes)

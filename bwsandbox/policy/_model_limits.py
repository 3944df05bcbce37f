"""Policy sections ``[limits]`` (resource limits) and ``[seccomp]`` (the syscall filter).

Sizes and durations stay as written (``"4G"``, ``"30m"``) so ``explain`` shows them the way
the policy says them; :func:`parse_size` and :func:`parse_duration` turn them into numbers
(the compiler calls them; the loader calls them to check a value).
"""

from __future__ import annotations

from bwsandbox._record import field, record

__all__ = ["LimitsPolicy", "SeccompPolicy", "parse_duration", "parse_size"]

# patterns, not compiled at import (the model is on the start-up path): re caches them
_SIZE = r"(?i)([0-9]+)([KMGT]?)(i?B)?"
_DURATION = r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)?"
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
SIZE_EXAMPLES = "'512M', '4G' (bytes, or K, M, G, T: powers of 1024)"
DURATION_EXAMPLES = "'90s', '30m', '2h' (a bare number is seconds)"


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


def parse_size(text: str) -> int:
    """``"512M"`` -> 536870912. ValueError (saying what is expected) when it is not a size."""
    import re

    match = re.fullmatch(_SIZE, text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected a size such as {SIZE_EXAMPLES}, got {text!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def parse_duration(text: str) -> float:
    """``"30m"`` -> 1800.0 seconds. ValueError (saying what is expected) otherwise."""
    import re

    match = re.fullmatch(_DURATION, text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"expected a duration such as {DURATION_EXAMPLES}, got {text!r}")
    return float(match.group(1)) * _SECONDS[match.group(2) or "s"]


@record
class LimitsPolicy:
    """Resource limits for the whole sandbox. Unset: no limit. ``explain`` and ``doctor`` say
    how each one is enforced on this host (cgroup, rlimit, or not at all)."""

    memory: str | None = field(
        default=None,
        metadata=_doc(
            "memory, e.g. '4G': for the whole sandbox with a cgroup, else per process (RLIMIT_DATA)"
        ),
    )
    cpu: float | None = field(
        default=None, metadata=_doc("CPU bandwidth in cores, e.g. 1.5 (needs a cgroup)")
    )
    pids: int | None = field(
        default=None,
        metadata=_doc("processes and threads in the sandbox at once (fork bombs)"),
    )
    fsize: str | None = field(
        default=None, metadata=_doc("largest file a process may write, e.g. '1G' (RLIMIT_FSIZE)")
    )
    nofile: int | None = field(
        default=None, metadata=_doc("open files per process (RLIMIT_NOFILE)")
    )
    timeout: str | None = field(
        default=None,
        metadata=_doc(
            "wall-clock limit, e.g. '30m': then TERM, KILL after a grace period; exit status 124"
        ),
    )
    strict: bool = field(
        default=True,
        metadata=_doc(
            "refuse to start (exit 125) when a set limit cannot be enforced on this host; "
            "false: start anyway, with a warning and a `limits` audit event saying so"
        ),
    )


@record
class SeccompPolicy:
    """The syscall filter: what agents never need and attackers like fails with EPERM.

    The default list and why: docs/seccomp.md.
    """

    enabled: bool = field(default=True, metadata=_doc("install the syscall filter"))
    allow: tuple[str, ...] = field(
        default=(),
        metadata=_doc("groups or syscalls permitted again, e.g. ['ptrace'] for debuggers"),
    )
    deny: tuple[str, ...] = field(
        default=(), metadata=_doc("extra syscalls (or groups) that fail with EPERM")
    )

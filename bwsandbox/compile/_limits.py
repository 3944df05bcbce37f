"""Resource limits as numbers, and the syscall filter as a data file: policy -> plan parts."""

from __future__ import annotations

import sys

from bwsandbox._record import fields, record
from bwsandbox.policy import LimitsPolicy, parse_duration, parse_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.compile._seccomp import SeccompRules

__all__ = ["ResourceLimits", "compile_limits", "compile_seccomp", "seccomp_program"]


@record
class ResourceLimits:
    """What the runtime enforces (None: no limit). Sizes in bytes, durations in seconds."""

    memory: int | None = None
    cpu: float | None = None
    pids: int | None = None
    fsize: int | None = None
    nofile: int | None = None
    timeout: float | None = None
    #: refuse to start when one of the set limits cannot be enforced (``limits.strict``)
    strict: bool = True

    def __bool__(self) -> bool:
        """Whether any limit is set (``strict`` alone sets none)."""
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "strict")


def compile_limits(policy: LimitsPolicy) -> ResourceLimits:
    """Parse the policy's sizes and durations (already checked by the loader)."""

    def size(text: str | None) -> int | None:
        return None if text is None else parse_size(text)

    return ResourceLimits(
        memory=size(policy.memory),
        cpu=policy.cpu,
        pids=policy.pids,
        fsize=size(policy.fsize),
        nofile=policy.nofile,
        timeout=None if policy.timeout is None else parse_duration(policy.timeout),
        strict=policy.strict,
    )


_FILTERS: dict[SeccompRules, bytes] = {}


def compile_seccomp(
    allow: tuple[str, ...], deny: tuple[str, ...], *, nested_userns: bool
) -> tuple[SeccompRules, bytes]:
    """The rules and their BPF program (memoised: a process compiles the same few)."""
    # the syscall tables are big: imported by the one step that needs them
    from bwsandbox.compile._seccomp import build_filter, seccomp_rules

    rules = seccomp_rules(allow, deny, nested_userns=nested_userns)
    program = _FILTERS.get(rules)
    if program is None:
        program = _FILTERS[rules] = build_filter(rules)
    return rules, program


def seccomp_program(allow: tuple[str, ...], deny: tuple[str, ...], *, nested_userns: bool) -> bytes:
    """:func:`compile_seccomp`'s program. The shipped policies' programs are stored
    (``_seccomp_shipped``, generated; the program depends on these values and the byte order
    alone), so their start imports neither the builder nor the syscall table."""
    if sys.byteorder == "little":
        from bwsandbox.compile._seccomp_shipped import PROGRAMS

        stored = PROGRAMS.get((allow, deny, nested_userns))
        if stored is not None:
            return stored
    return compile_seccomp(allow, deny, nested_userns=nested_userns)[1]

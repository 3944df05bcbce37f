"""What ``explain`` says about resource limits and the syscall filter (probes the host)."""

from __future__ import annotations

from bwsandbox.compile import SandboxPlan, compile_seccomp
from bwsandbox.policy import Policy

__all__ = ["limit_lines", "limits_document"]


def limits_document(policy: Policy, plan: SandboxPlan) -> dict[str, object]:
    """JSON-able: each set limit with how it is enforced here, and the filter's rules."""
    from bwsandbox.runtime import enforcement, is_host_root

    records = enforcement(plan.limits, is_root=is_host_root()) if plan.limits else []
    seccomp = policy.seccomp
    rules: list[str] = []
    if seccomp.enabled:
        found, _ = compile_seccomp(
            seccomp.allow, seccomp.deny, nested_userns=policy.hardening.nested_userns
        )
        rules = found.describe()
    notes: list[str] = []
    for record in records:
        if record.limit == "memory" and record.how.startswith("rlimit"):
            notes += memory_notes(record.value)
    if records:
        notes.append(SUPERVISOR_NOTE)
    return {
        "limits": {
            r.limit: {"value": r.value, "how": r.how, "enforced": r.enforced} for r in records
        },
        "notes": notes,
        "seccomp": {"enabled": seccomp.enabled, "rules": rules},
    }


#: the host-side supervisor (proxy, DNS responder) is not in the sandbox's limits
SUPERVISOR_NOTE = (
    "the session's supervisor (the host-side proxy and DNS responder of a filtered "
    "network) is outside these limits; `agent-sandbox ps` shows its memory and threads"
)


def memory_notes(value: str) -> list[str]:
    """What ``--memory`` means when it is the per-process ``RLIMIT_DATA`` (no usable cgroup)."""
    return [
        (
            f"--memory {value} is a per-process cap here, not a sandbox total: each process "
            f"may allocate up to {value} (20 processes of 240M each were held under --memory 256M)"
        ),
        "memory in memfd, /dev/shm, tmpfs and shared mappings is not counted at all",
        (
            "a sandbox total needs a memory cgroup: run as root, or from a delegated cgroup "
            "(`agent-sandbox doctor` says what this user can get; docs/limits.md)"
        ),
    ]


def limit_lines(policy: Policy, plan: SandboxPlan) -> list[str]:
    """Text lines: one per limit, then the seccomp rules."""
    document = limits_document(policy, plan)
    limits = document["limits"]
    assert isinstance(limits, dict)
    lines = ["", "resource limits (how they are enforced on this host):"]
    if not limits:
        lines.append("  none (set [limits] in a policy, or --memory/--cpus/--pids/--timeout)")
    for name, item in limits.items():
        mark = "" if item["enforced"] else "  <- NOT ENFORCED"
        lines.append(f"  {name} = {item['value']}: {item['how']}{mark}")
    notes = document["notes"]
    assert isinstance(notes, list)
    lines += [f"  note: {note}" for note in notes]
    seccomp = document["seccomp"]
    assert isinstance(seccomp, dict)
    if not seccomp["enabled"]:
        lines += ["", "seccomp: DISABLED by the policy (seccomp.enabled = false)"]
    else:
        lines += ["", "seccomp filter (--seccomp; docs/seccomp.md):"]
        lines += [f"  {rule}" for rule in seccomp["rules"]]
    return lines

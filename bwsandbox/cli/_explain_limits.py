"""What ``explain`` says about resource limits and the syscall filter (probes the host)."""

from __future__ import annotations

from bwsandbox.compile._limits import compile_seccomp
from bwsandbox.compile._plan import SandboxPlan
from bwsandbox.policy._model import Policy

__all__ = ["limit_lines", "limits_document"]


def limits_document(policy: Policy, plan: SandboxPlan) -> dict[str, object]:
    """JSON-able: each set limit with how it is enforced here, and the filter's rules."""
    from bwsandbox.runtime._limits import enforcement, is_host_root

    records = enforcement(plan.limits, is_root=is_host_root()) if plan.limits else []
    seccomp = policy.seccomp
    rules: list[str] = []
    if seccomp.enabled:
        found, _ = compile_seccomp(
            seccomp.allow, seccomp.deny, nested_userns=policy.hardening.nested_userns
        )
        rules = found.describe()
    return {
        "limits": {
            r.limit: {"value": r.value, "how": r.how, "enforced": r.enforced} for r in records
        },
        "seccomp": {"enabled": seccomp.enabled, "rules": rules},
    }


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
    seccomp = document["seccomp"]
    assert isinstance(seccomp, dict)
    if not seccomp["enabled"]:
        lines += ["", "seccomp: DISABLED by the policy (seccomp.enabled = false)"]
    else:
        lines += ["", "seccomp filter (--seccomp; docs/seccomp.md):"]
        lines += [f"  {rule}" for rule in seccomp["rules"]]
    return lines

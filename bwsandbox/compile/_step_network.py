"""Step 8: the network plan. A pure ``(Context) -> (NetworkPlan, Part)``; see :mod:`._context`.

The rules are parsed here, once (the policy loader checked their grammar); ``net/`` reads
them parsed. When an allow rule inspects HTTPS (methods or a path glob), the part holds the
CA bundle the session's CA is added to at launch (:mod:`._inspect`) and the variables that
make the usual clients trust it.
"""

from __future__ import annotations

from bwsandbox._errors import PolicyError
from bwsandbox._record import replace
from bwsandbox.compile._context import Context, Part, PartBuilder
from bwsandbox.compile._plan import NetworkPlan
from bwsandbox.policy import NetworkMode

__all__ = ["network"]


def network(ctx: Context) -> tuple[NetworkPlan, Part]:
    """The parsed network plan and, for an inspecting session, the CA bundle's part."""
    policy = ctx.policy
    net = policy.network
    try:
        plan = NetworkPlan.parse(net.mode, net.allow, net.deny, net.add_hosts)
    except ValueError as exc:
        raise PolicyError(
            f"invalid network rule: {exc}",
            file=policy.sources[-1] if policy.sources else None,
            key="network.allow",
        ) from exc
    if net.upstream_ca_file:
        ca_file = ctx.path(net.upstream_ca_file, "network.upstream_ca_file")
        plan = replace(plan, upstream_ca_file=ca_file)
    if plan.mode is not NetworkMode.FILTERED or not plan.inspecting:
        return plan, Part()
    from bwsandbox.compile._inspect import ca_bundle

    part = PartBuilder()
    option, env = ca_bundle(ctx.facts, part.data_file)
    part.mount(option)
    part.env.update(env)
    return plan, part.build()

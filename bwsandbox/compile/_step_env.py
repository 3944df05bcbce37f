"""Step 7: the environment inside. A pure ``(Context, ...) -> tuple``; see :mod:`._context`."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

from bwsandbox.compile._context import Context
from bwsandbox.net._constants import OFFLINE_ENV, PROXY_ENV
from bwsandbox.policy._model import NetworkMode

__all__ = ["environment"]


def environment(
    ctx: Context, generated: Mapping[str, str], secrets: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    """The sorted environment, in this order of precedence (later wins):

    the offline variables (network ``none``), the host's variables matching
    ``env.passthrough``, ``env.set``, the proxy variables (network ``filtered``), the
    ``generated`` ones (git), the workspace's ``extra_env``; then ``env.unset`` removes
    matches; then the ``secrets`` variables, which ``env.unset`` does not touch.
    """
    policy = ctx.policy
    patterns = policy.env.passthrough
    env = dict(OFFLINE_ENV) if policy.network.mode is NetworkMode.NONE else {}
    env |= {
        name: value
        for name, value in ctx.facts.environ.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }
    for name, template in policy.env.set:
        env[name] = ctx.expand(template, f"env.set.{name}")
    if policy.network.mode is NetworkMode.FILTERED:
        env.update(PROXY_ENV)
    env.update(generated)
    env.update(ctx.workspace.extra_env)
    for pattern in policy.env.unset:
        for name in [n for n in env if fnmatch.fnmatchcase(n, pattern)]:
            del env[name]
    env.update(secrets)
    return tuple(sorted(env.items()))

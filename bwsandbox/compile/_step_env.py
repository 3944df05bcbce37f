"""Step 7: the environment inside. A pure ``(Context, ...) -> tuple``; see :mod:`._context`."""

from __future__ import annotations

from collections.abc import Mapping

from bwsandbox._netconst import OFFLINE_ENV, PROXY_ENV
from bwsandbox.compile._context import Context
from bwsandbox.policy import NetworkMode

__all__ = ["env_match", "environment"]


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
        if any(env_match(name, pattern) for pattern in patterns)
    }
    for name, template in policy.env.set:
        env[name] = ctx.expand(template, f"env.set.{name}")
    if policy.network.mode is NetworkMode.FILTERED:
        env.update(PROXY_ENV)
    env.update(generated)
    env.update(ctx.workspace.extra_env)
    for pattern in policy.env.unset:
        for name in [n for n in env if env_match(n, pattern)]:
            del env[name]
    env.update(secrets)
    return tuple(sorted(env.items()))


def env_match(name: str, pattern: str) -> bool:
    """``fnmatch.fnmatchcase(name, pattern)`` for an ``env.passthrough``/``env.unset`` pattern.

    A plain name (``TERM``) is compared and a name with one trailing ``*`` (``LC_*``) is a
    prefix, so the usual patterns cost no regex compile at start-up; any other glob goes to
    fnmatch. tests/unit/test_policy_charsets.py checks this against fnmatch itself.
    """
    star = pattern.endswith("*")
    head = pattern[:-1] if star else pattern
    if "*" in head or "?" in head or "[" in head:
        from fnmatch import fnmatchcase

        return fnmatchcase(name, pattern)
    return name.startswith(head) if star else name == pattern

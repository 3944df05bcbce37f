"""Step 6: the generated gitconfig and ignore file (contents: :mod:`._git`).

A pure ``(Context, placeholders) -> Part``; see :mod:`._context`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from bwsandbox.compile import _git
from bwsandbox.compile._context import Context, Part, PartBuilder

__all__ = ["git_files"]


def git_files(ctx: Context, placeholders: Sequence[tuple[str, str]]) -> Part:
    """The files, the variables naming them, and why a host identity was refused."""
    policy = ctx.policy
    git = ctx.facts.git
    part = PartBuilder()
    name, email = (v if _git.refusal("", v) is None else "" for v in (git.name, git.email))
    if policy.git.identity and (name or email):
        path = _git.GITCONFIG
        part.data_bind("gitconfig", _git.gitconfig(name, email), path, perms="0444")
        part.env["GIT_CONFIG_SYSTEM"] = path
    if policy.git.identity:
        part.warnings.extend(git.refused)
    top = posixpath.normpath(ctx.workspace.project)
    host = git.excludes if policy.git.excludes else b""
    content = _git.ignore_file(placeholders, top, host)
    if content:
        path = _git.GITIGNORE
        part.data_bind("gitignore", content, path, perms="0444")
        part.env.update(
            GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="core.excludesFile", GIT_CONFIG_VALUE_0=path
        )
    return part.build()

"""Parallel agents: one git worktree and branch per agent (``--worktree NAME``).

::

    worktree = open_worktree(project, "fix-login")      # runs git on the host
    layer = worktree_layer(worktree)                     # pure: a raw policy layer
    policy = load_policy(["claude"], overlays=[("worktree fix-login", layer)])
    Sandbox(policy, project=worktree.path, command=...)   # or prepare(..., worktree=NAME)

The worktree is ``<main checkout>.worktrees/<NAME>`` on branch ``agent/<NAME>``; the shared
repository dir is mounted read-only except what git writes (see :mod:`._layer`).

Attributes load lazily.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

__all__ = [
    "BRANCH_PREFIX",
    "Worktree",
    "open_worktree",
    "valid_worktree_name",
    "worktree_layer",
    "worktree_path",
]

_LAZY: dict[str, str] = {
    "open_worktree": "bwsandbox.worktree._git",
    "BRANCH_PREFIX": "bwsandbox.worktree._layer",
    "Worktree": "bwsandbox.worktree._layer",
    "valid_worktree_name": "bwsandbox.worktree._layer",
    "worktree_layer": "bwsandbox.worktree._layer",
    "worktree_path": "bwsandbox.worktree._layer",
}

if TYPE_CHECKING:
    from bwsandbox.worktree._git import open_worktree
    from bwsandbox.worktree._layer import (
        BRANCH_PREFIX,
        Worktree,
        valid_worktree_name,
        worktree_layer,
        worktree_path,
    )


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)

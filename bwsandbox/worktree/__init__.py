"""Parallel agents: one git worktree and branch per agent (``--worktree NAME``).

::

    worktree = open_worktree(project, "fix-login")      # runs git on the host
    layer = worktree_layer(worktree)                     # pure: a raw policy layer
    policy = load_policy(["claude"], overlays=[("worktree fix-login", layer)])
    Sandbox(policy, project=worktree.path, command=...)   # or prepare(..., worktree=NAME)

The worktree is ``<main checkout>.worktrees/<NAME>`` on branch ``agent/<NAME>``; the shared
repository dir is mounted read-only except what git writes (see :mod:`._layer`).
"""

from __future__ import annotations

from bwsandbox.worktree._git import open_worktree
from bwsandbox.worktree._layer import (
    BRANCH_PREFIX,
    Worktree,
    valid_worktree_name,
    worktree_layer,
    worktree_path,
)

__all__ = [
    "BRANCH_PREFIX",
    "Worktree",
    "open_worktree",
    "valid_worktree_name",
    "worktree_layer",
    "worktree_path",
]

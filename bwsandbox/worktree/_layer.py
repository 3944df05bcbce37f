"""The pure half of ``--worktree``: names, where a worktree lives, and its policy layer.

A linked worktree's ``.git`` is a file (``gitdir: <main>/.git/worktrees/<id>``), so git in
the sandbox needs the shared repository dir at its host path. :func:`worktree_layer` mounts
it read-only, then makes writable only what git writes for this worktree:

- ``objects/``, ``refs/``, ``logs/`` of the shared dir (new commits, branch refs, reflogs);
- ``worktrees/<id>/`` (this worktree's ``HEAD``, ``index``, per-worktree refs and logs),
  except ``commondir``, ``gitdir`` and ``config.worktree``, which stay read-only: they decide
  which repository and configuration host git uses in this worktree later.

So ``config``, ``hooks/``, ``info/``, ``packed-refs``, the main checkout's ``HEAD`` and
``index``, and the other worktrees' dirs are read-only, and the main checkout's files are not
mounted at all. The worktree's own ``.git`` file is protected too (it names the gitdir).
"""

# ruff: noqa: PTH118

from __future__ import annotations

import os
import re

from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BRANCH_PREFIX",
    "Worktree",
    "valid_worktree_name",
    "worktree_layer",
    "worktree_path",
]

#: branches of agent worktrees: ``agent/<NAME>``
BRANCH_PREFIX = "agent/"

#: a safe git ref component and directory name: no '..', no '.lock' end, no leading '.'/'-'
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.)){0,63}$")

#: writable dirs of the shared repository dir (what git writes for a commit, stash, tag)
_WRITABLE = ("objects", "refs", "logs")

#: files of ``worktrees/<id>/`` that stay read-only: they point host git at a repository
#: (``commondir``), record where the worktree is (``gitdir``), or configure it
_PINNED = ("commondir", "gitdir", "config.worktree")


def valid_worktree_name(name: str) -> bool:
    """A name usable as a directory and as the ref component of ``agent/<NAME>``."""
    return bool(_NAME_RE.match(name)) and not name.endswith((".", ".lock"))


def worktree_path(main_root: str, name: str) -> str:
    """Where worktree ``name`` of the checkout ``main_root`` lives: ``<main>.worktrees/<name>``.

    A sibling of the main checkout: outside it (never visible in a sandbox on the main
    checkout), next to it for the user's editor and review, on the same file system, and kept
    when a client compartment is removed (branches belong to the repository, not a client).
    """
    return os.path.join(main_root.rstrip("/") + ".worktrees", name)


@record
class Worktree:
    """One agent worktree on the host (paths absolute and resolved)."""

    name: str  # the NAME given to --worktree
    path: str  # the worktree's top directory: the sandbox's project
    branch: str  # the branch checked out there, e.g. agent/NAME ("" when detached)
    common_dir: str  # the shared repository dir, e.g. <main>/.git
    git_dir: str  # this worktree's dir in it, <common_dir>/worktrees/<id>
    created: bool = False  # created by this call
    planned: bool = False  # not there yet (explain): binds are marked optional

    @property
    def note(self) -> str:
        """One line for the user."""
        what = "would create" if self.planned else "created" if self.created else "using"
        on = f"branch {self.branch}" if self.branch else "a detached HEAD"
        return f"worktree: {what} {self.path} on {on} (shared repository {self.common_dir})"


def _literal(path: str) -> str:
    return path.replace("{", "{{").replace("}", "}}")


def _bind(path: str, optional: bool) -> dict[str, Any]:
    return {"src": _literal(path), "optional": optional}


def worktree_layer(worktree: Worktree) -> dict[str, Any]:
    """The raw policy layer (TOML layout) that lets git work in ``worktree`` and no more.

    The worktree itself is the session's project (bound read-write by the base policy);
    this layer adds the shared repository dir as described in the module docstring.
    """
    common = worktree.common_dir
    optional = worktree.planned
    rw = [_bind(os.path.join(common, name), optional) for name in _WRITABLE]
    rw[-1]["optional"] = True  # logs/: absent when reflogs are off
    rw.append(_bind(worktree.git_dir, optional))
    protect = [_literal(os.path.join(worktree.path, ".git"))]
    protect += [_literal(os.path.join(worktree.git_dir, name)) for name in _PINNED]
    return {
        "filesystem": {
            "ro": [_bind(common, optional)],
            "rw": rw,
            "protect": protect,
        }
    }

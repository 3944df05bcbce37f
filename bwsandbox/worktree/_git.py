"""The host half of ``--worktree``: find or create the worktree with git (the one I/O seam).

``git worktree add`` runs with hooks disabled (``core.hooksPath=/dev/null``): a reused branch
``agent/NAME`` holds what an agent committed, and a relative ``core.hooksPath`` (husky) would
otherwise run hooks from that checkout on the host.
"""

# os.path like the runtime: paths stay plain strings end to end
# ruff: noqa: PTH118, PTH120

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from bwsandbox._errors import DependencyError, PolicyError, WorkspaceError
from bwsandbox._record import record
from bwsandbox.worktree._layer import (
    BRANCH_PREFIX,
    Worktree,
    valid_worktree_name,
    worktree_path,
)

__all__ = ["open_worktree"]

_TIMEOUT = 60.0
#: no hooks, no pager, no prompts, no terminal: git as a plain tool
_GIT_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.pager=cat")
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


@record
class _Entry:
    """One block of ``git worktree list --porcelain``."""

    path: str
    branch: str = ""  # refs/heads/... or "" when detached
    bare: bool = False
    prunable: bool = False


def _git(git: str, cwd: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_GIT_ENV}
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE"):
        env.pop(name, None)  # the project decides the repository, nothing inherited
    try:
        return subprocess.run(
            [git, *_GIT_CONFIG, "-C", cwd, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WorkspaceError(f"cannot run git in {cwd}: {exc}") from exc


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _entries(text: str) -> list[_Entry]:
    entries: list[_Entry] = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in block.splitlines() if line)
        if "worktree" in fields:
            entries.append(
                _Entry(
                    path=os.path.realpath(fields["worktree"]),
                    branch=fields.get("branch", ""),
                    bare="bare" in fields,
                    prunable="prunable" in fields,
                )
            )
    return entries


def _repository(git: str, project: str) -> tuple[str, list[_Entry]]:
    """(shared repository dir, worktree entries with the main one first)."""
    found = _git(git, project, ["rev-parse", "--path-format=absolute", "--git-common-dir"])
    if found.returncode != 0:
        raise WorkspaceError(
            f"--worktree needs a git repository, and {project} is not in one "
            f"({_last_line(found.stderr)})",
            hint="run 'git init' and commit once, or drop --worktree",
        )
    common = os.path.realpath(found.stdout.strip())
    listed = _git(git, project, ["worktree", "list", "--porcelain"])
    if listed.returncode != 0:
        raise WorkspaceError(f"git worktree list failed in {project}: {_last_line(listed.stderr)}")
    entries = _entries(listed.stdout)
    if not entries or entries[0].bare:
        raise WorkspaceError(
            f"the repository {common} is bare",
            hint="use --worktree from a checkout with a working tree",
        )
    return common, entries


def _git_dir(git: str, path: str) -> str:
    found = _git(git, path, ["rev-parse", "--path-format=absolute", "--git-dir"])
    if found.returncode != 0:
        raise WorkspaceError(f"{path} is not a usable worktree: {_last_line(found.stderr)}")
    return os.path.realpath(found.stdout.strip())


def _check_git_dir(git_dir: str, common: str, path: str) -> None:
    """The worktree's git dir must be a ``worktrees/<id>`` dir of this repository."""
    if os.path.dirname(git_dir) != os.path.join(common, "worktrees"):
        raise WorkspaceError(
            f"{path} is not a linked worktree of {common} (its git dir is {git_dir})",
            hint="move it away, or choose another --worktree name",
        )


def _create(git: str, main: str, path: str, branch: str) -> None:
    exists = _git(git, main, ["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"])
    if exists.returncode == 0:
        args = ["worktree", "add", "--quiet", path, branch]
    else:
        head = _git(git, main, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        if head.returncode != 0:
            raise WorkspaceError(
                f"the repository at {main} has no commit yet, so there is nothing to branch "
                f"{branch} from",
                hint="commit once, then use --worktree",
            )
        args = ["worktree", "add", "--quiet", "-b", branch, path, head.stdout.strip()]
    made = _git(git, main, args)
    if made.returncode != 0:
        raise WorkspaceError(f"git could not create the worktree {path}: {_last_line(made.stderr)}")


def open_worktree(project: str, name: str, *, create: bool = True) -> Worktree:
    """Find, or create, worktree ``name`` of the repository ``project`` is in.

    It lives at ``<main checkout>.worktrees/<name>`` on branch ``agent/<name>`` (created from
    the main checkout's ``HEAD`` when absent; an existing branch is checked out as it is).
    With ``create=False`` nothing is changed on disk: a missing worktree comes back
    ``planned`` with the paths git would use (for ``explain``).

    Raises PolicyError (invalid name), DependencyError (no git) or WorkspaceError (not a
    repository, bare, no commit yet, the branch is checked out elsewhere, the path is taken).
    """
    if not valid_worktree_name(name):
        raise PolicyError(
            f"invalid worktree name {name!r}",
            key="--worktree",
            hint="use letters, digits, '.', '_' and '-' (up to 64, starting with a letter "
            "or digit)",
        )
    git = shutil.which("git")
    if git is None:
        raise DependencyError(
            "--worktree needs git, and git is not installed",
            hint="install git (apt-get install git, dnf install git...)",
        )
    common, entries = _repository(git, project)
    main = entries[0].path
    path = worktree_path(main, name)
    branch = BRANCH_PREFIX + name
    registered = next((e for e in entries if e.path == path), None)
    if registered is not None and registered.prunable and create:
        _git(git, main, ["worktree", "prune"])  # its directory is gone: register it anew
        registered = None
    elsewhere = next(
        (e for e in entries if e.branch == f"refs/heads/{branch}" and e.path != path), None
    )
    if registered is None and elsewhere is not None:
        raise WorkspaceError(
            f"branch {branch} is already checked out in {elsewhere.path}",
            hint=f"use that worktree, or remove it with 'git worktree remove {elsewhere.path}'",
        )
    if registered is None and os.path.lexists(path):
        raise WorkspaceError(
            f"{path} exists and is not a worktree of {main}",
            hint="move it away, or choose another --worktree name",
        )
    if registered is None and not create:
        return Worktree(
            name=name,
            path=path,
            branch=branch,
            common_dir=common,
            git_dir=os.path.join(common, "worktrees", name),
            planned=True,
        )
    if registered is None:
        _create(git, main, path, branch)
    git_dir = _git_dir(git, path)
    _check_git_dir(git_dir, common, path)
    head = _git(git, path, ["symbolic-ref", "--quiet", "--short", "HEAD"])
    return Worktree(
        name=name,
        path=os.path.realpath(path),
        branch=head.stdout.strip() if head.returncode == 0 else "",
        common_dir=common,
        git_dir=git_dir,
        created=registered is None,
    )

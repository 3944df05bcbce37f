"""Planted git layouts for the property tests: a model, a hypothesis strategy, host git.

A :class:`Layout` is a project (a git repository or not) plus repositories a session plants
in it, each with one way of making git run a program. :meth:`Layout.script` is a ``sh``
script that plants it from the project dir: the same script runs inside a real sandbox or
directly on the host (as a session would have left the project). The planted programs all
``touch`` a file in a canary dir outside the project; :func:`run_host_git` runs the git
commands a user or an IDE runs in every directory of the project, as the host user would.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

#: how the planted repository is laid out
KINDS = (
    "init",
    "bare",
    "gitfile",
    "split",
    "chain",
    "symlink",
    "worktree",
    "module",
    "top",
    "topfile",
)
#: kinds where git itself finds the repository from the work tree ("chain" has one more
#: commondir hop than git follows: the scan must still not miss it)
WORKTREE_KINDS = ("init", "gitfile", "split", "symlink", "worktree", "module", "top", "topfile")
#: how it makes git run a program
DANGERS = (
    "fsmonitor",
    "hookspath",
    "hook",
    "include",
    "sshcommand",
    "external",
    "filter",
    "pager",
    "worktreeconfig",
)
#: dangers that the host commands of :func:`run_host_git` reliably trigger (for controls)
EFFECTIVE = ("fsmonitor", "hookspath", "hook", "include", "sshcommand")

_HOOKS = ("pre-commit", "post-commit", "post-checkout", "reference-transaction")
_IDENTITY = "-c user.name=a -c user.email=a@example.invalid"


@dataclass(frozen=True, slots=True)
class Repo:
    where: str  # its work tree (or bare dir), relative to the project; "" = the top
    kind: str
    danger: str
    store: str  # where a separate git dir lives (relative to the project)
    gitlink: bool  # a gitlink for ``where`` added to the project's index


@dataclass(frozen=True, slots=True)
class Layout:
    top_git: bool  # the project is a git repository before the session
    repos: tuple[Repo, ...]
    alternates: bool = False  # objects/info/alternates planted in the project's repository
    old_times: bool = False  # every planted file's mtime set back to 1970 (ctime stays new)

    def script(self, canary: Path) -> str:
        lines = ["set -e", "export GIT_CONFIG_NOSYSTEM=1"]
        for index, repo in enumerate(self.repos):
            lines += _plant(repo, index, canary, self.top_git)
        if self.alternates and self.top_git:
            lines.append(
                'mkdir -p alt/objects && echo "$PWD/alt/objects" > .git/objects/info/alternates'
            )
        if self.old_times:
            lines.append(
                "find . -path ./.git -prune -o -exec touch -h -d @1 {} + 2>/dev/null || true"
            )
        lines.append("echo planted")
        return "\n".join(lines)


def _rel(path: str, start: str) -> str:
    return posixpath.relpath(path or ".", start or ".")


def _payload(canary: Path, index: int) -> str:
    return f"touch {canary}/ran-{index}"


def _plant(repo: Repo, index: int, canary: Path, top_git: bool) -> list[str]:
    w, s = repo.where, repo.store
    q = shlex.quote
    wq = q(w or ".")  # never "", which would make "/.git" of "{w}/.git"
    payload = _payload(canary, index)
    lines: list[str] = []
    bare_cfg = "config core.bare false"
    if repo.kind == "top":
        lines.append("git init -q .")
        cfg = ".git"
    elif repo.kind == "init":
        lines.append(f"git init -q {wq}")
        cfg = f"{w}/.git"
    elif repo.kind == "bare":
        lines.append(f"git init -q --bare {wq}")
        cfg = w
    elif repo.kind in ("gitfile", "symlink"):
        lines += [
            f"mkdir -p {wq}",
            f"git init -q --bare {q(s)}",
            f"git --git-dir={q(s)} {bare_cfg}",
        ]
        if repo.kind == "gitfile":
            lines.append(f"echo 'gitdir: {_rel(s, w)}' > {wq}/.git")
        else:
            lines.append(f"ln -s {q(_rel(s, w))} {wq}/.git")
        cfg = s
    elif repo.kind in ("split", "chain", "topfile"):
        # finding 2a: .git file -> a git dir with only HEAD and commondir -> a common dir with
        # the config and no HEAD ("chain": one more commondir hop, which git does not follow;
        # the scan must still not miss it)
        lines += [
            f"mkdir -p {wq} {q(s)}/g",
            f"git init -q --bare {q(s)}/c",
            f"git --git-dir={q(s)}/c {bare_cfg}",
            f"echo 'ref: refs/heads/main' > {q(s)}/g/HEAD",
            f"echo {'../m' if repo.kind == 'chain' else '../c'} > {q(s)}/g/commondir",
            f"mkdir -p {q(s)}/m && echo ../c > {q(s)}/m/commondir",
            f"echo 'gitdir: {_rel(s + '/g', w)}' > {wq}/.git",
        ]
        cfg = f"{s}/c"
    elif repo.kind == "worktree":
        lines += [
            f"git init -q {q(s)}",
            f"git -C {q(s)} {_IDENTITY} commit -q --allow-empty -m base",
            f'git -C {q(s)} worktree add -q --detach "$PWD"/{wq}',
        ]
        cfg = f"{s}/.git"
    elif repo.kind == "module":
        m = f".git/modules/m{index}"
        lines += [
            f"mkdir -p {wq}",
            f"git init -q --bare {q(m)}",
            f"git --git-dir={q(m)} {bare_cfg}",
        ]
        lines.append(f"echo 'gitdir: {_rel(m, w)}' > {wq}/.git")
        cfg = m
    else:
        raise AssertionError(repo.kind)
    git = f"git --git-dir={q(cfg)}"
    danger = repo.danger
    if danger == "fsmonitor":
        lines.append(f"{git} config core.fsmonitor {q(payload)}")
    elif danger == "pager":
        lines.append(f"{git} config core.pager {q(payload)}")
    elif danger == "sshcommand":
        lines.append(f"{git} config core.sshCommand {q(payload + ' #')}")
        lines.append(f"{git} config remote.origin.url ssh://example.invalid/x")
    elif danger == "external":
        lines.append(f"{git} config diff.external {q(payload + ' #')}")
    elif danger == "filter":
        lines.append(f"{git} config filter.f.clean {q(payload + '; cat')}")
        if repo.kind != "bare":
            lines.append(f"echo '* filter=f' > {wq}/.gitattributes")
            lines.append(f"echo data > {wq}/file{index}")
    elif danger == "include":
        inc = f"inc{index}.cfg"
        lines.append(f"printf '[core]\\n\\tfsmonitor = {payload}\\n' > {q(inc)}")
        lines.append(f'{git} config include.path "$PWD"/{q(inc)}')
    elif danger == "worktreeconfig":
        lines.append(f"{git} config extensions.worktreeConfig true")
        lines.append(f"printf '[core]\\n\\tfsmonitor = {payload}\\n' > {q(cfg)}/config.worktree")
    elif danger in ("hook", "hookspath"):
        hooks = f"{cfg}/hooks" if danger == "hook" else f"hk{index}"
        lines.append(f"mkdir -p {q(hooks)}")
        for hook in _HOOKS:
            lines.append(f"printf '#!/bin/sh\\n{payload}\\n' > {q(hooks)}/{hook}")
            lines.append(f"chmod +x {q(hooks)}/{hook}")
        if danger == "hookspath":
            lines.append(f'{git} config core.hooksPath "$PWD"/{q(hooks)}')
    if repo.gitlink and top_git and w:
        lines.append(f"git update-index --add --cacheinfo 160000,$(git rev-parse HEAD),{wq}")
    return lines


_NAMES = st.sampled_from(["a", "b", "vendor", "x y", "-d"])


@st.composite
def layouts(draw: st.DrawFn, *, effective: bool = False, top_git: bool | None = None) -> Layout:
    """Layouts of 1-3 planted repositories at distinct places.

    ``effective``: only layouts whose every program :func:`run_host_git` surely runs when
    nothing defuses them (the controls).
    """
    is_git = draw(st.booleans()) if top_git is None else top_git
    count = draw(st.integers(min_value=1, max_value=1 if effective else 3))
    repos: list[Repo] = []
    used: set[str] = set()
    kinds = WORKTREE_KINDS if effective else KINDS
    for index in range(count):
        kind = draw(st.sampled_from(kinds))
        if kind == "module" and not is_git:
            kind = "init"
        if kind in ("top", "topfile") and (is_git or index):
            kind = "split"
        depth = draw(st.integers(min_value=1, max_value=2))
        parts = [draw(_NAMES) for _ in range(depth)]
        where = "" if kind in ("top", "topfile") else "/".join([f"r{index}", *parts])
        danger = draw(st.sampled_from(EFFECTIVE if effective else DANGERS))
        if kind == "bare" and danger in ("filter", "external"):
            danger = "fsmonitor"
        gitlink = is_git and kind not in ("top", "topfile", "bare") and draw(st.booleans())
        if where in used:
            continue
        used.add(where)
        repos.append(Repo(where, kind, danger, f"s{index}/{'/'.join(parts[:-1]) or 'st'}", gitlink))
    alternates = is_git and not effective and draw(st.booleans())
    old_times = draw(st.booleans())
    return Layout(top_git=is_git, repos=tuple(repos), alternates=alternates, old_times=old_times)


def host_env(home: Path) -> dict[str, str]:
    """Host git as a user's shell or IDE runs it: no system config, an empty global one."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "u",
        "GIT_AUTHOR_EMAIL": "u@example.invalid",
        "GIT_COMMITTER_NAME": "u",
        "GIT_COMMITTER_EMAIL": "u@example.invalid",
        "LC_ALL": "C",
    }


#: what a user or an IDE runs (status with untracked files, diff, log, commit, checkout,
#: fetch, submodule update)
HOST_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("diff",),
    ("log", "-1"),
    ("commit", "-q", "--allow-empty", "-m", "host"),
    ("checkout", "-q", "."),
    ("fetch", "-q"),
    ("submodule", "update", "--init"),
)


def directories(project: Path) -> list[Path]:
    """Every directory of the project (no symlink followed), except inside git dirs."""
    found = [project]
    for dirpath, dirnames, _ in os.walk(project):
        dirnames[:] = [d for d in dirnames if d != ".git" and ".agent-sandbox-" not in d]
        found += [Path(dirpath) / d for d in dirnames]
    return found


def run_host_git(project: Path, home: Path) -> None:
    """Every command of :data:`HOST_COMMANDS` in every directory, one at a time: in parallel,
    two commits of one repository race for its index lock and a hook may not run, which made
    the controls nondeterministic."""
    git = shutil.which("git")
    assert git is not None
    env = host_env(home)

    def run(directory: Path) -> None:
        for args in HOST_COMMANDS:
            subprocess.run(
                [git, *args],
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )

    for directory in directories(project):
        run(directory)


def init_project(project: Path) -> None:
    """A git project with a commit and the protected files of the base policy."""
    git = shutil.which("git")
    assert git is not None
    env = host_env(project.parent)
    for args in (["init", "-q"], ["config", "user.name", "t"], ["config", "user.email", "t@e"]):
        subprocess.run([git, *args], cwd=project, env=env, check=True)
    (project / ".envrc").write_text("# benign\n")
    (project / "README").write_text("hello\n")
    subprocess.run([git, "add", "-A"], cwd=project, env=env, check=True)
    subprocess.run([git, "commit", "-qm", "initial"], cwd=project, env=env, check=True)

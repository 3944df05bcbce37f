"""The project's git state around a session: what the sandbox did to HEAD, refs and the index.

Mounts keep ``.git/config`` and ``.git/hooks`` read-only, but git needs the rest of ``.git``
writable: ``HEAD``, ``refs/``, ``packed-refs``, ``objects/`` and ``index`` (and, in a
``--worktree`` session, the shared ``refs/``, ``objects/`` and ``logs/``). So a session can
put attacker content for a protected path (``.envrc``, ``.vscode/tasks.json``) into a commit
or the index without touching the read-only file (``git update-index --cacheinfo``), and the
host's next ``git checkout -- .`` or ``git restore .`` writes it. It can also point a ref
somewhere else (``refs/heads/main`` as a symref to ``agent/NAME``), plant a ref that is a
symlink (``refs/x -> /etc``: host ``git gc`` fails), add ``objects/info/alternates``, add a
gitlink (mode 160000) so that host ``git status`` recurses into a planted repository, or
``git init`` a repository at the top of a project that had none.

:meth:`GitGuard.snapshot` reads, before launch and without running git, the top ``.git``
entry, ``HEAD``, the loose refs, ``packed-refs``, ``objects/info/alternates`` and the index
(its bytes when at most :data:`MAX_INDEX` bytes, else its size and times). After the session,
:meth:`GitGuard.settle` compares, and runs host git (no system or global config, no hooks, no
fsmonitor) only when something changed:

- a top ``.git`` that is new or different is checked like a nested repository
  (``runtime._nested``) with everything counted as new: its dangerous config and hooks are
  moved aside;
- new commits (on any changed ref or ``HEAD``) that touch a protected path are reported with
  the command to inspect them; they are **not** undone (they may hold the session's wanted
  work, and rewriting history on the host is the user's call);
- index entries of protected paths that differ from before the session are reported and
  **reset** to their state before it (``git update-index --index-info``), so that
  ``git checkout -- .`` / ``git restore .`` cannot write the sandbox's content; with an index
  too large to keep they are reported only;
- gitlinks added to the index are reported, and the ``.git`` at their path is checked like a
  nested repository (with no time budget);
- refs that are symlinks are moved out of ``refs/`` (next to it, renamed, nothing deleted); a
  ref that became a symbolic ref (other than ``refs/remotes/*/HEAD``) gets its content before
  the session back, or is moved out when it is new;
- a new or changed ``objects/info/alternates`` (or ``http-alternates``) is moved aside.

Each finding is one warning for the user and one ``git-history`` audit event.
"""

# os-level on purpose: lstat/rename/open semantics without following symlinks
# ruff: noqa: PTH104, PTH118

from __future__ import annotations

import os

from bwsandbox.runtime._gitstate import (
    MAX_PACKED,
    MAX_REF,
    RepoState,
    file_sig,
    loose_refs,
    lstat_or_none,
    parse_packed,
    project_roots,
    read_entry,
    read_file,
    ref_tips,
    replace_file,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from bwsandbox._audit import AuditSink

__all__ = ["GitFinding", "GitGuard", "git_guard", "settle_git"]

_MAX_COMMITS = 20
_ZERO = "0" * 40


class GitFinding:
    """One thing the sandbox did to the project's git state (a warning and an audit event)."""

    __slots__ = ("action", "commits", "kind", "message", "paths")

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        paths: Iterable[str] = (),
        commits: Iterable[str] = (),
        action: str = "reported",
    ) -> None:
        self.kind = kind
        self.message = message
        self.paths = list(paths)
        self.commits = list(commits)
        self.action = action

    def event(self) -> dict[str, object]:
        """The ``git-history`` audit event's fields."""
        return {
            "kind": self.kind,
            "message": self.message,
            "paths": self.paths,
            "commits": self.commits,
            "action": self.action,
        }

    def __repr__(self) -> str:
        return f"GitFinding({self.kind!r}, {self.message!r}, action={self.action!r})"


class GitGuard:
    """Snapshot the projects' git state before launch; settle it after the sandbox is gone."""

    def __init__(self, protected: tuple[str, ...], session: str, since: float) -> None:
        self.session = session
        self.since = since
        self.protected = protected
        self.repos = [RepoState(root) for root in project_roots(protected)]
        #: a linked worktree is a project: other branches are not this session's to move
        self.linked = any(r.gitdir and r.gitdir != r.common for r in self.repos)
        self.own_branches = {
            r.head[4:].strip().decode(errors="replace")
            for r in self.repos
            if r.gitdir != r.common and r.head.startswith(b"ref:")
        }

    @classmethod
    def snapshot(cls, protected: tuple[str, ...], session: str, since: float) -> GitGuard | None:
        """None when the plan protects no project ``.git`` (nothing to compare)."""
        if not any("/.git/" in p for p in protected):
            return None
        return cls(protected, session, since)

    def settle(self) -> list[GitFinding]:
        """Compare, repair what can be repaired, and return the findings (never raises)."""
        findings: list[GitFinding] = []
        commons: set[str] = set()
        for repo in self.repos:
            shared = repo.common in commons  # a worktree and its main checkout: refs once
            commons.add(repo.common)
            try:
                findings += _Settle(repo, self, shared=shared).run()
            except Exception as exc:  # noqa: BLE001 - a teardown step reports, never stops
                findings.append(
                    GitFinding(
                        "error",
                        f"could not check the git state of {repo.root} after the session "
                        f"({type(exc).__name__}: {exc}): review 'git status' and 'git log' "
                        "before running git commands that write files",
                    )
                )
        return findings


class _Settle:
    def __init__(self, repo: RepoState, guard: GitGuard, *, shared: bool = False) -> None:
        self.repo = repo
        self.shared = shared
        self.guard = guard
        self.session = guard.session
        root = repo.root
        self.paths = sorted(
            {
                os.path.relpath(p, root)
                for p in guard.protected
                if p.startswith(root + "/") and not p.startswith(root + "/.git")
            }
        )
        self.findings: list[GitFinding] = []
        self._home = ""

    # -- host git ---------------------------------------------------------------------------

    def git(self, *args: str, index: str = "", stdin: bytes | None = None) -> bytes | None:
        import subprocess
        import tempfile

        if not self._home:
            self._home = tempfile.mkdtemp(prefix="agent-sandbox-git-")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self._home,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_DIR": self.repo.gitdir,
            "GIT_OPTIONAL_LOCKS": "0",
            "LC_ALL": "C",
        }
        if index:
            env["GIT_INDEX_FILE"] = index
        argv = [
            "git",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "safe.directory=*",
            "--literal-pathspecs",
            *args,
        ]
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                env=env,
                cwd=self._home,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    def close(self) -> None:
        if self._home:
            import shutil

            shutil.rmtree(self._home, ignore_errors=True)

    def add(self, finding: GitFinding) -> None:
        self.findings.append(finding)

    # -- the checks -------------------------------------------------------------------------

    def run(self) -> list[GitFinding]:
        try:
            self._top()
            if self.repo.gitdir and self.repo.loose is not None and not self.shared:
                self._refs()
            if self.repo.gitdir and not self.shared:
                self._alternates()
            if self.repo.gitdir:
                self._history()
                self._index()
                self._todo()
        finally:
            self.close()
        return self.findings

    def _top(self) -> None:
        """A ``.git`` at the top that is new or different: a planted repository."""
        dotgit = os.path.join(self.repo.root, ".git")
        now = read_entry(dotgit)
        if now == self.repo.dotgit or now[0] == "missing":
            return
        kind, content = self.repo.dotgit
        if kind == "file" and now[0] != "dir":
            # the project's own .git file (a linked worktree, a submodule checkout) rewritten:
            # it decides which repository host git uses here, so the old one comes back
            aside = self._aside(dotgit, dotgit)
            restored = aside is not None and replace_file(dotgit, content)
            self.add(
                GitFinding(
                    "repository",
                    f"the sandbox changed {dotgit} (-> {now[1].decode(errors='replace').strip()}); "
                    + (
                        f"restored it, the sandbox's version is at {aside}"
                        if restored
                        else "review it before running git there"
                    ),
                    paths=[".git"],
                    action="restored" if restored else "reported",
                )
            )
            return
        from bwsandbox.runtime._nested import defuse_git_entry

        for warning in defuse_git_entry(
            self.repo.root, dotgit, since=self.guard.since, session=self.session, force=True
        ):
            self.add(GitFinding("repository", warning, paths=[".git"], action="moved-aside"))

    def _aside(self, path: str, where: str) -> str | None:
        """Rename ``path`` to ``where`` + session suffix (no overwrite); None on failure."""
        aside = f"{where}.agent-sandbox-{self.session}"
        for n in range(1, 100):
            if lstat_or_none(aside) is None:
                break
            aside = f"{where}.agent-sandbox-{self.session}.{n}"
        try:
            os.rename(path, aside)
        except OSError:
            return None
        return aside

    def _refs(self) -> None:
        """Symlinked refs moved out of ``refs/``; new symbolic refs undone."""
        repo = self.repo
        before = repo.loose or {}
        now = loose_refs(repo.common) or {}
        for name, value in sorted(now.items()):
            old = before.get(name)
            if value == old:
                continue
            path = os.path.join(repo.common, name)
            flat = name.replace("/", "-")
            if value.startswith(b"\0link:"):
                aside = self._aside(path, os.path.join(repo.common, flat))
                target = value[6:].decode(errors="replace")
                self.add(
                    GitFinding(
                        "ref",
                        f"the sandbox made {name} in {repo.common} a symlink (-> {target}); "
                        + (f"moved it to {aside}" if aside else "remove it before using git"),
                        paths=[name],
                        action="moved-aside" if aside else "reported",
                    )
                )
                continue
            remote_head = name.startswith("refs/remotes/") and name.endswith("/HEAD")
            if not value.startswith(b"ref:"):
                self._moved(name, old, value)
                continue
            if remote_head:
                continue
            target = value[4:].strip().decode(errors="replace")
            if old is not None and not old.startswith(b"\0"):
                done = replace_file(path, old + b"\n")
                action = "restored" if done else "reported"
                what = f"restored its content before the session ({old.decode(errors='replace')})"
            else:
                aside = self._aside(path, os.path.join(repo.common, flat))
                done = aside is not None
                action = "moved-aside" if done else "reported"
                what = f"moved it to {aside}"
            self.add(
                GitFinding(
                    "ref",
                    f"the sandbox made {name} in {repo.common} a symbolic ref to {target}; "
                    + (what if done else "review it with 'git symbolic-ref' before using git"),
                    paths=[name],
                    action=action,
                )
            )

    def _moved(self, name: str, old: bytes | None, value: bytes) -> None:
        """In a linked worktree: a branch other than ``agent/*``, or a tag, that moved."""
        repo = self.repo
        if not self.guard.linked or old is None or old.startswith((b"ref:", b"\0")):
            return
        if (
            not name.startswith(("refs/heads/", "refs/tags/"))
            or name.startswith("refs/heads/agent/")
            or name in self.guard.own_branches
        ):
            return
        was, now = old.decode(errors="replace"), value.decode(errors="replace")
        self.add(
            GitFinding(
                "ref",
                f"{name} in {repo.common} moved during the session ({was[:12]} -> {now[:12]}); "
                f"if you did not move it, the sandbox did: review it with: "
                f"git log --stat {was}..{now}",
                paths=[name],
                commits=[now],
            )
        )

    def _alternates(self) -> None:
        repo = self.repo
        for name, old in repo.alternates.items():
            path = os.path.join(repo.common, "objects", "info", name)
            now = read_entry(path)
            if now == old or now[0] == "missing":
                continue
            aside = self._aside(path, path)
            text = now[1].decode(errors="replace").strip().replace("\n", ", ")
            self.add(
                GitFinding(
                    "alternates",
                    f"the sandbox wrote {path} ({text or now[0]}): objects from elsewhere would "
                    "become part of the repository; "
                    + (f"moved it to {aside}" if aside else "remove it before using git"),
                    paths=[f"objects/info/{name}"],
                    action="moved-aside" if aside else "reported",
                )
            )

    def _history(self) -> None:
        """New commits on changed refs or HEAD that touch a protected path."""
        repo = self.repo
        if not self.paths or repo.loose is None:
            return  # nothing protected, or too many loose refs to have kept them
        head_now = read_file(os.path.join(repo.gitdir, "HEAD"), MAX_REF) or b""
        packed_now = read_file(os.path.join(repo.common, "packed-refs"), MAX_PACKED) or b""
        loose_now = loose_refs(repo.common) or {}
        if head_now == repo.head and packed_now == repo.packed and loose_now == repo.loose:
            return
        old = ref_tips(repo.head, repo.loose or {}, parse_packed(repo.packed))
        new = ref_tips(head_now, loose_now, parse_packed(packed_now)) - old
        if not new:
            return
        out = self.git(
            "log",
            "--no-renames",
            "--format=%x00%H",
            "--name-only",
            f"--max-count={_MAX_COMMITS}",
            *sorted(new),
            "--not",
            *sorted(old),
            "--",
            *self.paths,
        )
        if out is None:
            self.add(
                GitFinding(
                    "commit",
                    f"the refs of {repo.root} changed during the session and git could not list "
                    "the new commits: review 'git log' for changes to protected paths "
                    f"({', '.join(self.paths[:5])}...)",
                )
            )
            return
        for block in out.decode(errors="replace").split("\0")[1:]:
            lines = [line for line in block.splitlines() if line.strip()]
            if not lines:
                continue
            commit, touched = lines[0].strip(), lines[1:]
            import shlex

            show = " ".join(shlex.quote(p) for p in touched)
            self.add(
                GitFinding(
                    "commit",
                    f"commit {commit[:12]} in {repo.root}, new since the session started (made or "
                    "fetched by the sandbox), changes protected "
                    f"path(s) {', '.join(touched)}: inspect it with: git show {commit} -- {show} "
                    "(before checking it out, merging it or resetting to it)",
                    paths=touched,
                    commits=[commit],
                )
            )

    def _index(self) -> None:
        """Protected index entries reset to their state before; new gitlinks checked."""
        repo = self.repo
        path = os.path.join(repo.gitdir, "index")
        if file_sig(path) == repo.index_sig:
            return
        now_raw = self.git("ls-files", "--stage", "-z")
        if now_raw is None:
            return
        now = _stage(now_raw)
        before: dict[str, tuple[str, str, str]] | None = None
        if repo.index is not None:
            import tempfile

            with tempfile.NamedTemporaryFile(prefix="agent-sandbox-index-") as copy:
                copy.write(repo.index)
                copy.flush()
                raw = self.git("ls-files", "--stage", "-z", index=copy.name)
            before = _stage(raw) if raw is not None else None
        elif not repo.index_sig:
            before = {}
        self._gitlinks(now, before)
        if not self.paths:
            return
        changed = [
            p
            for p in sorted(set(now) | set(before or {}))
            if _under_any(p, self.paths) and (before is None or now.get(p) != before.get(p))
        ]
        if before is None:
            changed = [p for p in changed if p in now]
            if changed:
                self.add(
                    GitFinding(
                        "index",
                        f"the index of {repo.root} changed during the session and holds protected "
                        f"path(s) {', '.join(changed)}; it was too large to compare exactly: "
                        f"check 'git diff --cached -- {' '.join(changed)}' before "
                        "'git checkout -- .' or 'git restore .'",
                        paths=changed,
                    )
                )
            return
        if not changed:
            return
        lines = []
        for p in changed:
            old = before.get(p)
            if old is None:
                lines.append(f"0 {_ZERO}\t{p}")
            else:
                mode, oid, stage = old
                lines.append(f"{mode} {oid} {stage}\t{p}")
        ok = (
            self.git("update-index", "-z", "--index-info", stdin="\0".join(lines).encode() + b"\0")
            is not None
        )
        blobs = [now[p][1] for p in changed if p in now]
        self.add(
            GitFinding(
                "index",
                f"the sandbox staged content for protected path(s) {', '.join(changed)} in the "
                f"index of {repo.root}; "
                + (
                    "reset those entries to their state before the session"
                    if ok
                    else "could not reset them: run 'git restore --staged "
                    + " ".join(changed)
                    + "' before 'git checkout -- .'"
                )
                + (f" (the sandbox's blobs: {', '.join(b[:12] for b in blobs)})" if blobs else ""),
                paths=changed,
                commits=blobs,
                action="restored" if ok else "reported",
            )
        )

    def _todo(self) -> None:
        """A rebase or sequencer todo list with ``exec`` lines left by the session."""
        for rel in ("rebase-merge/git-rebase-todo", "sequencer/todo"):
            path = os.path.join(self.repo.gitdir, rel)
            st = lstat_or_none(path)
            if st is None or max(st.st_mtime, st.st_ctime) < self.guard.since:
                continue
            data = (read_file(path, 1 << 20) or b"").decode(errors="replace")
            lines = [
                line.strip()
                for line in data.splitlines()
                if line.strip().startswith(("exec ", "x "))
            ]
            if lines:
                self.add(
                    GitFinding(
                        "todo",
                        f"the sandbox left {path} with commands that 'git rebase --continue' "
                        f"(or 'cherry-pick/revert --continue') would run on the host: "
                        f"{'; '.join(lines[:3])}; review it, or run 'git rebase --abort'",
                        paths=[rel],
                    )
                )

    def _gitlinks(
        self,
        now: dict[str, tuple[str, str, str]],
        before: dict[str, tuple[str, str, str]] | None,
    ) -> None:
        from bwsandbox.runtime._nested import defuse_git_entry

        for p, (mode, oid, _) in sorted(now.items()):
            if mode != "160000":
                continue
            if before is not None and before.get(p, ("",))[0] == "160000":
                continue
            dotgit = os.path.join(self.repo.root, p, ".git")
            warnings = defuse_git_entry(
                self.repo.root, dotgit, since=self.guard.since, session=self.session
            )
            self.add(
                GitFinding(
                    "gitlink",
                    f"the sandbox added a submodule entry (gitlink {oid[:12]}) for {p} to the "
                    f"index of {self.repo.root}: host git status recurses into it"
                    + (f"; {'; '.join(warnings)}" if warnings else ""),
                    paths=[p],
                    commits=[oid],
                    action="moved-aside" if warnings else "reported",
                )
            )


def _stage(raw: bytes) -> dict[str, tuple[str, str, str]]:
    """``git ls-files --stage -z`` output: path -> (mode, oid, stage) (stage 0 wins)."""
    out: dict[str, tuple[str, str, str]] = {}
    for item in raw.decode(errors="surrogateescape").split("\0"):
        if not item:
            continue
        meta, _, path = item.partition("\t")
        mode, oid, stage = meta.split()
        if path not in out or stage == "0":
            out[path] = (mode, oid, stage)
    return out


def _under_any(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def git_guard(protected: tuple[str, ...], session: str, since: float) -> GitGuard | None:
    """The snapshot before launch (both launch paths call this); None: nothing to watch."""
    return GitGuard.snapshot(protected, session, since)


def settle_git(guard: GitGuard, audit: AuditSink) -> list[str]:
    """The teardown step: compare, repair, audit ``git-history`` events; the warnings."""
    warnings: list[str] = []
    for finding in guard.settle():
        warnings.append(finding.message)
        audit.event("git-history", **finding.event())
    return warnings

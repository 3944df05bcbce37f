"""Nested git repositories planted during a session: found and defused afterwards.

The project is writable, so the sandbox can ``git init`` a repository anywhere below it
(``vendor/lib/.git``) and configure it to run a program (``core.fsmonitor``, hooks, a pager,
filter drivers...); host git run in that directory later (a shell prompt's ``git status``)
would run it. Mounts cannot protect paths that do not exist yet, so after the sandbox is gone
the project is scanned:

- every directory is listed with ``os.scandir`` without following symlinks, and symlinked
  directories are never entered; the project's own ``.git`` is skipped (mounts protect it)
  except its ``modules/`` (submodule git dirs);
- a git dir is a ``.git`` entry (a directory, a ``gitdir:`` file or a symlink) or a
  directory that looks like a bare repository (``HEAD``, ``objects/``, ``refs/``);
- one whose ``config``, ``config.worktree``, ``commondir``, ``hooks`` or hook files are new or
  changed during the session (a ctime or mtime at or after its start), or that was moved
  into place (a new ctime, an old mtime), and that would make git run a program is defused:
  its ``config`` (and ``config.worktree``) and its ``hooks`` directory are renamed to
  ``NAME.agent-sandbox-SESSION`` (nothing is deleted); a new ``.git`` file or symlink, or
  a ``commondir`` file, that leads to such a git dir is itself renamed aside (what it points
  to is only read, never changed);
- the scan has a time budget; when it runs out the warning says the scan was incomplete.

Config files are read by host git itself (``git config --file F --list --null``, which does
not follow includes) with a clean environment; a file git cannot read counts as dangerous.
"""

# os-level on purpose: lstat/rename/scandir semantics without following symlinks
# ruff: noqa: PTH104, PTH106, PTH115, PTH118, PTH120

from __future__ import annotations

import os
import stat
import time

__all__ = ["DEFAULT_BUDGET", "NestedScan", "dangerous_keys", "scan_nested"]

#: seconds the scan may take before it stops and says so
DEFAULT_BUDGET = 0.3

#: config keys whose value git may run, matched on the last name component
_EXEC_NAMES = frozenset(
    {
        "fsmonitor",
        "hookspath",
        "sshcommand",
        "pager",
        "editor",
        "askpass",
        "gitproxy",
        "program",
        "helper",
        "textconv",
        "command",
        "cmd",
        "clean",
        "smudge",
        "process",
        "driver",
        "external",
        "uploadpack",
        "receivepack",
        "alternaterefscommand",
        "packobjectshook",
        "defaultkeycommand",
        "browser",
        "worktree",  # core.worktree: moves the work tree (and its .gitattributes) elsewhere
    }
)
#: sections where any key may run a program or pull in another file
_EXEC_SECTIONS = frozenset({"include", "includeif", "pager", "hook"})
_BANG_SECTIONS = frozenset({"alias", "submodule"})  # "!cmd" values run a shell
_MAX_GITFILE = 4096


def dangerous_keys(entries: list[tuple[str, str]]) -> list[str]:
    """The keys of ``(key, value)`` config entries that can make git run a program."""
    found: list[str] = []
    for key, value in entries:
        section, _, rest = key.partition(".")
        name = rest.rsplit(".", 1)[-1].lower()
        section = section.lower()
        if (
            section in _EXEC_SECTIONS
            or name in _EXEC_NAMES
            or (section in _BANG_SECTIONS and value.lstrip().startswith("!"))
        ):
            found.append(key)
    return found


class NestedScan:
    """The outcome of one scan: warnings for the user, and whether it finished.

    A plain class: this runs on the plan cache's fast path, which imports neither
    ``dataclasses`` nor ``subprocess`` (those load only when a changed git dir is read).
    """

    __slots__ = ("complete", "directories", "repositories", "warnings")

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.complete = True
        self.directories = 0
        self.repositories = 0

    def __repr__(self) -> str:
        return (
            f"NestedScan(complete={self.complete}, directories={self.directories}, "
            f"repositories={self.repositories}, warnings={self.warnings!r})"
        )


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _new(path: str, since: float) -> bool:
    st = _lstat(path)
    return st is not None and max(st.st_ctime, st.st_mtime) >= since


def _read_config(path: str, home: str) -> list[tuple[str, str]] | None:
    """Entries of one config file; ``[]`` when absent, ``None`` when git cannot read it."""
    st = _lstat(path)
    if st is None:
        return []
    if not stat.S_ISREG(st.st_mode):
        return None  # a FIFO, a symlink, a directory: nothing a clone makes
    import subprocess

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CEILING_DIRECTORIES": "/",
        "LC_ALL": "C",
    }
    try:
        done = subprocess.run(
            ["git", "config", "--file", path, "--list", "--null"],
            capture_output=True,
            env=env,
            cwd=home,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    entries: list[tuple[str, str]] = []
    for item in done.stdout.decode(errors="replace").split("\0"):
        if item:
            key, _, value = item.partition("\n")
            entries.append((key, value))
    return entries


def _live_hooks(hooks: str) -> list[str]:
    """Hook files that are not git's ``*.sample`` templates."""
    try:
        with os.scandir(hooks) as it:
            return sorted(e.name for e in it if not e.name.endswith(".sample"))
    except OSError:
        return []


class _Checker:
    def __init__(self, since: float, session: str) -> None:
        self.since = since
        self.session = session
        self._home = ""
        self.warnings: list[str] = []
        self.repositories = 0

    @property
    def home(self) -> str:
        """An empty HOME for host git, made on first use."""
        if not self._home:
            import tempfile

            self._home = tempfile.mkdtemp(prefix="agent-sandbox-git-")
        return self._home

    def close(self) -> None:
        if not self._home:
            return
        try:
            os.rmdir(self._home)  # git only read: it is still empty
        except OSError:
            return

    def _config_danger(self, gitdir: str) -> dict[str, list[str] | None]:
        """Dangerous keys per config file of ``gitdir`` (``None``: unreadable)."""
        out: dict[str, list[str] | None] = {}
        for name in ("config", "config.worktree"):
            entries = _read_config(os.path.join(gitdir, name), self.home)
            keys = None if entries is None else dangerous_keys(entries)
            if keys is None or keys:
                out[name] = keys
        return out

    def _danger(self, gitdir: str) -> list[str]:
        """What in ``gitdir`` (read only, following its commondir once) can run a program."""
        what = [
            f"{name} ({', '.join(keys) if keys else 'unreadable'})"
            for name, keys in self._config_danger(gitdir).items()
        ]
        hooks = _live_hooks(os.path.join(gitdir, "hooks"))
        if hooks:
            what.append(f"hooks ({', '.join(hooks)})")
        return what

    def _aside(self, path: str) -> str | None:
        aside = f"{path}.agent-sandbox-{self.session}"
        for n in range(1, 100):  # an earlier run of the same session name: keep both
            if _lstat(aside) is None:
                break
            aside = f"{path}.agent-sandbox-{self.session}.{n}"
        try:
            os.rename(path, aside)  # renames the entry itself, never follows a symlink
        except OSError as exc:
            self.warnings.append(
                f"could not move {path} aside ({exc.strerror}): remove it before running git "
                "there on the host"
            )
            return None
        return aside

    def gitdir(self, gitdir: str) -> None:
        """A git dir inside the project: defuse what the session changed."""
        self.repositories += 1
        # Not the git dir's own times: git commands in a user's nested clone change them.
        # A git dir moved into place keeps its files' times but gets a new ctime (only).
        names = ("config", "config.worktree", "commondir", "hooks")
        changed = any(_new(os.path.join(gitdir, n), self.since) for n in names)
        if not changed and (st := _lstat(gitdir)) is not None:
            changed = st.st_ctime >= self.since > st.st_mtime
        hooks = os.path.join(gitdir, "hooks")
        if not changed and _live_hooks(hooks):
            changed = any(_new(os.path.join(hooks, h), self.since) for h in _live_hooks(hooks))
        if not changed:
            return
        moved: list[str] = []
        for name, keys in self._config_danger(gitdir).items():
            aside = self._aside(os.path.join(gitdir, name))
            if aside is not None:
                why = ", ".join(keys) if keys else "git cannot read it"
                moved.append(f"{name} ({why}) to {aside}")
        if _live_hooks(hooks):
            aside = self._aside(hooks)
            if aside is not None:
                moved.append(f"hooks ({', '.join(_live_hooks(aside))}) to {aside}")
        commondir = os.path.join(gitdir, "commondir")
        if _lstat(commondir) is not None:
            target = _pointer(commondir, "")
            danger = self._danger(target) if target else ["not a plain file naming a directory"]
            if danger and (not target or os.path.realpath(target) != os.path.realpath(gitdir)):
                aside = self._aside(commondir)
                if aside is not None:
                    moved.append(f"commondir (-> {target}: {'; '.join(danger)}) to {aside}")
        if moved:
            self.warnings.append(
                f"the sandbox planted a git repository that would run programs at {gitdir}; "
                f"moved aside: {'; '.join(moved)}"
            )

    def pointer(self, dotgit: str, st: os.stat_result) -> None:
        """A ``.git`` file or symlink: rename it aside if new and leading to danger."""
        self.repositories += 1
        if max(st.st_ctime, st.st_mtime) < self.since:
            return
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.path.join(os.path.dirname(dotgit), os.readlink(dotgit))
            except OSError:
                return
        else:
            target = _pointer(dotgit, "gitdir:")
        if not target:
            return
        danger = self._danger(target)
        if danger:
            aside = self._aside(dotgit)
            if aside is not None:
                self.warnings.append(
                    f"the sandbox planted {dotgit} leading to a git dir that would run programs "
                    f"({target}: {'; '.join(danger)}); moved it to {aside}"
                )


def _pointer(path: str, prefix: str) -> str:
    """The path a ``gitdir:`` file or ``commondir`` file names, relative to its directory."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        text = os.read(fd, _MAX_GITFILE).decode(errors="replace").strip()
    except OSError:
        return ""
    finally:
        os.close(fd)
    if prefix:
        if not text.startswith(prefix):
            return ""
        text = text[len(prefix) :].strip()
    return os.path.join(os.path.dirname(path), text) if text else ""


def _looks_bare(names: set[str]) -> bool:
    return {"HEAD", "objects", "refs"} <= names


def scan_nested(
    root: str, *, since: float, session: str, budget: float = DEFAULT_BUDGET
) -> NestedScan:
    """Find git dirs below ``root`` changed since ``since`` (epoch seconds) and defuse them."""
    result = NestedScan()
    deadline = time.monotonic() + budget
    checker = _Checker(since, session)
    try:
        top = os.path.join(root, ".git")
        stack = [root]
        modules = os.path.join(top, "modules")
        if (st := _lstat(modules)) is not None and stat.S_ISDIR(st.st_mode):
            stack.append(modules)
        while stack:
            if time.monotonic() > deadline:
                result.complete = False
                break
            directory = stack.pop()
            result.directories += 1
            try:
                with os.scandir(directory) as it:
                    entries = list(it)
            except OSError:
                continue
            names = {e.name for e in entries}
            if directory != root and not directory.endswith("/.git") and _looks_bare(names):
                checker.gitdir(directory)
            for entry in entries:
                path = entry.path
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if entry.name == ".git" and path != top:
                        if is_dir:
                            checker.gitdir(path)
                        else:
                            checker.pointer(path, entry.stat(follow_symlinks=False))
                except OSError:
                    continue
                if is_dir and path != top:
                    stack.append(path)
    finally:
        checker.close()
    result.warnings = checker.warnings
    result.repositories = checker.repositories
    if not result.complete:
        result.warnings.append(
            f"the scan of {root} for git repositories planted by the sandbox stopped after "
            f"{budget * 1000:.0f} ms ({result.directories} directories): it is incomplete; "
            f"check before running git below it on the host "
            f"(find {root} -name .git -newermt @{int(since)})"
        )
    return result

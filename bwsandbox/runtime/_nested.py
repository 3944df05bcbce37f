"""Nested git repositories planted during a session: found and defused afterwards.

The project is writable, so the sandbox can ``git init`` a repository anywhere below it
(``vendor/lib/.git``) and configure it to run a program (``core.fsmonitor``, hooks, a pager,
filter drivers...); host git run in that directory later (a shell prompt's ``git status``)
would run it. Mounts cannot protect paths that do not exist yet, so after the sandbox is gone
the project is scanned:

- every directory is listed with ``os.scandir`` without following symlinks, and symlinked
  directories are never entered; the project's own ``.git`` is skipped (mounts protect it,
  and ``runtime._githistory`` checks it against its state before the session) except its
  ``modules/`` (submodule git dirs);
- a candidate is every ``.git`` entry (a directory, a ``gitdir:`` file or a symlink) and every
  directory that git could use as a git dir or as a common dir (git's own
  ``is_git_directory``, or a ``commondir`` file, or ``config`` with ``objects/`` and
  ``refs/``): see :mod:`._gitscan`, which follows ``gitdir:`` and ``commondir`` chains with a
  bound and reads config and hooks from every dir on the chain;
- a chain where anything is new or changed during the session (a ctime or mtime at or after
  its start: a pointer, ``HEAD``, ``commondir``, ``config``, ``config.worktree``, hooks), or
  a git dir moved into place (a new ctime, an old mtime), and that would make git run a
  program is defused: a dangerous ``config`` (or ``config.worktree``) and a ``hooks`` dir with
  live hooks that are new and inside the project are renamed to ``NAME.agent-sandbox-SESSION``
  (nothing is deleted); danger outside the project, or there before the session (a user's own
  clone), is cut off by renaming aside the first new pointer (``.git`` file or symlink,
  ``commondir`` file) of the chain (what it points to is only read, never changed);
- the walk has a time budget, then the candidates it found are all checked within
  :data:`CHECK_BUDGET`; when either runs out the warning says the scan was incomplete.

Config files are read by host git itself (``git config --file F --list --null``, which does
not follow includes) with a clean environment; a file git cannot read counts as dangerous. A
file in whose bytes no dangerous name occurs is not handed to git (:func:`_plainly_safe`:
names cannot be escaped, so this is exact in one direction; git is the oracle in the tests).
"""

# os-level on purpose: lstat/rename/scandir semantics without following symlinks
# ruff: noqa: PTH104, PTH106, PTH118, PTH119, PTH120

from __future__ import annotations

import os
import stat
import time

from bwsandbox.runtime._gitscan import chain, is_git_directory

__all__ = [
    "CHECK_BUDGET",
    "DEFAULT_BUDGET",
    "NestedScan",
    "dangerous_keys",
    "defuse_git_entry",
    "scan_nested",
]

#: seconds the walk may take before it stops and says so
DEFAULT_BUDGET = 0.3
#: seconds for checking the candidates the walk found (each may cost a git process)
CHECK_BUDGET = 10.0

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
        "tunnel",  # imap.tunnel
        "difffilter",  # interactive.diffFilter
        "viewer",  # man.viewer
        "path",  # man.<tool>.path, mergetool.<tool>.path
        "cookiefile",  # http.cookieFile with http.saveCookies: git writes to that path
    }
)
#: sections where any key may run a program or pull in another file
_EXEC_SECTIONS = frozenset({"include", "includeif", "pager", "hook", "protocol", "sendemail"})
_BANG_SECTIONS = frozenset({"alias", "submodule"})  # "!cmd" values run a shell


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


def _plainly_safe(path: str) -> bool:
    """True when no dangerous key can be in the config file ``path`` (no git run needed).

    Section and key names are ASCII letters, digits and ``-``, compared without case, and
    cannot be escaped or split, so a file whose lower-cased bytes contain none of the
    dangerous names (nor ``!`` for aliases) has none of those keys. Anything else is asked of
    git. Read without following a symlink; at most 64 KiB.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        data = os.read(fd, 65537)
    except OSError:
        return False
    finally:
        os.close(fd)
    if len(data) > 65536 or b"!" in data:
        return False
    text = data.lower()
    return not any(name.encode() in text for name in (*_EXEC_NAMES, *_EXEC_SECTIONS))


def _read_config(path: str, home: str) -> list[tuple[str, str]] | None:
    """Entries of one config file; ``[]`` when absent, ``None`` when git cannot read it."""
    st = _lstat(path)
    if st is None:
        return []
    if not stat.S_ISREG(st.st_mode):
        return None  # a FIFO, a symlink, a directory: nothing a clone makes
    if _plainly_safe(path):
        return []  # no dangerous name anywhere in it: git need not be asked
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
    def __init__(self, root: str, since: float, session: str, *, force: bool = False) -> None:
        self.root = os.path.realpath(root)
        self.since = since
        self.session = session
        self.force = force  # everything counts as new (a .git the session created at the top)
        self._home = ""
        self.warnings: list[str] = []
        self.repositories = 0
        self._seen: set[tuple[str, ...]] = set()

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

    def _new(self, path: str) -> bool:
        return self.force or _new(path, self.since)

    def _inside(self, path: str) -> bool:
        real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        return real.startswith(self.root + "/")

    def _config_danger(self, gitdir: str) -> dict[str, list[str] | None]:
        """Dangerous keys per config file of ``gitdir`` (``None``: unreadable)."""
        out: dict[str, list[str] | None] = {}
        for name in ("config", "config.worktree"):
            entries = _read_config(os.path.join(gitdir, name), self.home)
            keys = None if entries is None else dangerous_keys(entries)
            if keys is None or keys:
                out[name] = keys
        return out

    def _dir_changed(self, gitdir: str) -> bool:
        # Not the git dir's own times: git commands in a user's nested clone change them.
        # A git dir moved into place keeps its files' times but gets a new ctime (only).
        names = ("config", "config.worktree", "commondir", "hooks", "HEAD")
        if any(self._new(os.path.join(gitdir, n)) for n in names):
            return True
        if (st := _lstat(gitdir)) is not None and st.st_ctime >= self.since > st.st_mtime:
            return True
        hooks = os.path.join(gitdir, "hooks")
        return any(self._new(os.path.join(hooks, h)) for h in _live_hooks(hooks))

    def _hooks_new(self, hooks: str) -> bool:
        return self._new(hooks) or any(
            self._new(os.path.join(hooks, h)) for h in _live_hooks(hooks)
        )

    def candidate(self, start: str) -> None:
        """A ``.git`` entry or a dir that may be a git dir: defuse what the session planted.

        The whole chain (``gitdir:`` files, the git dir, ``commondir`` files, common dirs) is
        read. A dangerous config or hooks dir that is new and inside the project is renamed
        aside; danger elsewhere (outside the project, or there before the session) is cut off
        by renaming aside the first new pointer of the chain inside the project.
        """
        found = chain(start)
        if not found.dirs:
            return
        key = (start, *found.dirs)
        if key in self._seen:
            return
        self._seen.add(key)
        self.repositories += 1
        changed = any(self._new(p) for p in found.pointers) or any(
            self._dir_changed(d) for d in found.dirs
        )
        if not changed:
            return
        moved: list[str] = []
        cut: list[str] = []  # dangers that only cutting the chain removes
        for pointer in found.pointers:
            if pointer.endswith("/commondir") and self._new(pointer):
                st = _lstat(pointer)
                if st is None or not stat.S_ISREG(st.st_mode):
                    cut.append(f"{pointer}: not a plain file")  # git never writes one
        for gitdir in found.dirs:
            st = _lstat(gitdir)
            moved_in = st is not None and st.st_ctime >= self.since > st.st_mtime
            for name, keys in self._config_danger(gitdir).items():
                path = os.path.join(gitdir, name)
                why = f"{name} ({', '.join(keys) if keys else 'git cannot read it'})"
                if self._inside(path) and (moved_in or self._new(path)):
                    aside = self._aside(path)
                    if aside is not None:
                        moved.append(f"{why} to {aside}")
                        continue
                cut.append(f"{path}: {why}")
            hooks = os.path.join(gitdir, "hooks")
            live = _live_hooks(hooks)
            if live:
                why = f"hooks ({', '.join(live)})"
                if self._inside(hooks) and (moved_in or self._hooks_new(hooks)):
                    aside = self._aside(hooks)
                    if aside is not None:
                        moved.append(f"{why} to {aside}")
                        continue
                cut.append(f"{hooks}: {why}")
        if cut:
            cut_at = next((p for p in found.pointers if self._inside(p) and self._new(p)), None)
            if cut_at is not None:
                aside = self._aside(cut_at)
                if aside is not None:
                    moved.append(f"{os.path.basename(cut_at)} (-> {'; '.join(cut)}) to {aside}")
        if moved:
            self.warnings.append(
                f"the sandbox planted a git repository that would run programs at {start}; "
                f"moved aside: {'; '.join(moved)}"
            )

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


def _maybe_git_dir(directory: str, names: set[str]) -> bool:
    """A dir git could use as a git dir or a common dir (a superset of git's own rule)."""
    if not names & {"HEAD", "commondir", "config"}:
        return False
    return "commondir" in names or {"objects", "refs"} <= names or is_git_directory(directory)


def defuse_git_entry(
    root: str, path: str, *, since: float, session: str, force: bool = False
) -> list[str]:
    """Check one ``.git`` entry (or git dir) ``path`` below ``root`` like the scan does.

    ``force``: count everything as new (a ``.git`` the session created). Returns warnings.
    """
    checker = _Checker(root, since, session, force=force)
    try:
        checker.candidate(path)
    finally:
        checker.close()
    return checker.warnings


def scan_nested(
    root: str, *, since: float, session: str, budget: float = DEFAULT_BUDGET
) -> NestedScan:
    """Find git dirs below ``root`` changed since ``since`` (epoch seconds) and defuse them.

    ``budget`` bounds the walk; the candidates it found are then all checked, within
    :data:`CHECK_BUDGET` (reading a config that may be dangerous costs a git process, and a
    loaded host must not turn that into a skipped repository).
    """
    result = NestedScan()
    deadline = time.monotonic() + budget
    checker = _Checker(root, since, session)
    candidates: list[str] = []
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
            if (
                directory != root
                and not directory.endswith("/.git")
                and _maybe_git_dir(directory, names)
            ):
                candidates.append(directory)
            for entry in entries:
                path = entry.path
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name == ".git" and path != top:
                    candidates.append(path)
                if is_dir and path != top:
                    stack.append(path)
        checks_until = time.monotonic() + CHECK_BUDGET
        for index, path in enumerate(candidates):
            if time.monotonic() > checks_until:
                result.complete = False
                checker.warnings.append(
                    f"{len(candidates) - index} git repositories below {root} were not checked "
                    f"in {CHECK_BUDGET:.0f} s"
                )
                break
            checker.candidate(path)
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

"""Protected paths around a session: what mounts cannot do, checked on the host afterwards.

The compiler makes protected paths read-only mount points, and gives absent ones an empty
read-only placeholder that bwrap creates on the host as a mount point. Two things remain for
the host side, after the sandbox is gone:

- remove the placeholders, only when they are still what bwrap made (an empty regular file,
  an empty directory: ``unlink`` after an ``lstat``, ``rmdir``), never following symlinks;
- a protected path that is a *symlink* has its target protected, but the link itself lives in
  the writable project and can be replaced: such a replacement is moved aside (renamed next to
  it, nothing is deleted) and the original link restored;
- a protected path that was absent and could not get a placeholder (its parent did not exist)
  but exists now is reported, so the user reviews it before their tools run it;
- a *watched* path (``filesystem.watch``: where a placeholder would break tools, such as
  ``.git/commondir``) that the session created is moved aside, with a warning;
- a git repository planted or changed below the project that would make host git run a
  program (``core.fsmonitor``, hooks...) has its config and hooks moved aside
  (``runtime._nested``).

Placeholders are also recorded in the work dir, so a session killed before its cleanup has
them removed by the next session's stale sweep.
"""

# os-level on purpose: lstat/rmdir/unlink semantics without following symlinks
# ruff: noqa: PTH104, PTH106, PTH108, PTH115, PTH118, PTH211

from __future__ import annotations

import os
import stat
import time

TYPE_CHECKING = False  # typing's constant costs an import on the start-up path
if TYPE_CHECKING:
    from bwsandbox.compile._plan import SandboxPlan

__all__ = ["RECORD", "ProtectedPaths", "remove_placeholders"]

#: file in the work dir listing this session's placeholders
RECORD = "placeholders.json"

_Sig = tuple[str, str]  # (kind, symlink target)


def _signature(path: str) -> _Sig:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ("missing", "")
    except OSError:
        return ("unknown", "")
    if stat.S_ISLNK(st.st_mode):
        try:
            return ("symlink", os.readlink(path))
        except OSError:
            return ("symlink", "")
    if stat.S_ISDIR(st.st_mode):
        return ("dir", "")
    if stat.S_ISREG(st.st_mode):
        return ("file", "")
    return ("other", "")


def _exists(path: str) -> bool:
    return _signature(path)[0] != "missing"


def _project_roots(protected: tuple[str, ...]) -> list[str]:
    """The project directories: those whose ``.git`` has protected paths."""
    roots: set[str] = set()
    for path in protected:
        head, sep, _ = path.partition("/.git/")
        if sep and head and head != "/":
            roots.add(head)
    return sorted(roots)


def remove_placeholders(items: list[tuple[str, str]]) -> list[str]:
    """Remove placeholders that are still empty; returns paths left in place."""
    left: list[str] = []
    for path, kind in items:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        except OSError:
            left.append(path)
            continue
        try:
            if kind == "dir" and stat.S_ISDIR(st.st_mode):
                os.rmdir(path)  # only ever removes an empty directory
            elif kind == "file" and stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(path)
            else:
                left.append(path)
        except OSError:
            left.append(path)
    return left


class ProtectedPaths:
    """Snapshot protected paths before launch; settle them after the sandbox is gone."""

    def __init__(self, plan: SandboxPlan, session_id: str) -> None:
        self.session_id = session_id
        self.placeholders = list(plan.placeholders)
        placeholder_paths = {path for path, _ in plan.placeholders}
        self.before = {
            path: _signature(path) for path in plan.protected if path not in placeholder_paths
        }
        #: watched paths absent at start: moved aside if the session creates them
        self.absent = [path for path in plan.watched if _signature(path)[0] == "missing"]
        #: project directories scanned afterwards for planted git repositories
        self.roots = _project_roots(plan.protected)
        #: the session start for that scan (a second early: file times use a coarse clock)
        self.since = time.time() - 1.0
        #: the scan's time budget in seconds
        self.nested_budget = 0.3

    def record(self, workdir: str) -> None:
        """Write the placeholder list into the work dir (for the stale sweep)."""
        if not self.placeholders:
            return
        fd = os.open(
            os.path.join(workdir, RECORD),
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
        try:
            from bwsandbox._jsontext import dumps  # json.dumps's text, no json import

            os.write(fd, dumps(self.placeholders).encode())
        finally:
            os.close(fd)

    def settle(self) -> list[str]:
        """Remove placeholders, restore replaced symlinks; returns warnings for the user."""
        warnings = [
            f"placeholder {path} was changed during the session and was left in place"
            for path in remove_placeholders(self.placeholders)
        ]
        for path, (kind, target) in self.before.items():
            now = _signature(path)
            if now == (kind, target):
                continue
            if kind == "symlink":
                warnings.append(self._restore_link(path, target))
            elif kind == "missing":
                warnings.append(
                    f"the sandbox created protected path {path}: review it before any tool "
                    "on the host uses it"
                )
        warnings += [self._move_aside(path) for path in self.absent if _exists(path)]
        if self.roots:
            from bwsandbox.runtime._nested import scan_nested

            for root in self.roots:
                warnings += scan_nested(
                    root, since=self.since, session=self.session_id, budget=self.nested_budget
                ).warnings
        return warnings

    def _move_aside(self, path: str) -> str:
        aside = f"{path}.agent-sandbox-{self.session_id}"
        try:
            os.rename(path, aside)  # renames the entry itself, never follows a symlink
        except OSError as exc:
            return (
                f"the sandbox created {path}, which must not exist, and it could not be moved "
                f"aside ({exc.strerror}): remove it before any tool on the host uses it"
            )
        return f"the sandbox created {path}, which must not exist; moved it to {aside}"

    def _restore_link(self, path: str, target: str) -> str:
        aside = f"{path}.agent-sandbox-{self.session_id}"
        try:
            if _signature(path)[0] != "missing":
                os.rename(path, aside)
            os.symlink(target, path)
        except OSError as exc:
            return (
                f"the sandbox replaced protected symlink {path} and it could not be restored "
                f"({exc.strerror}): review it before any tool on the host uses it"
            )
        return (
            f"the sandbox replaced protected symlink {path}; restored it (-> {target}), "
            f"the replacement is at {aside}"
        )

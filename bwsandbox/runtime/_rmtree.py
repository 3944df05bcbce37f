"""Remove a directory tree the sandbox wrote to, without ever leaving it.

The walk is fd-based: every directory is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to
its parent's fd, entries are unlinked relative to that fd, symlinks are unlinked and never
followed, directories on another device are never entered, and permissions the sandbox took
away (``chmod 000`` dirs, read-only dirs) are restored on the way down. Only one directory fd is
open at a time (the walk climbs back with ``..`` and checks it is the parent it came from), so
deep nesting neither exhausts fds nor recursion.
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the start-up path
# ruff: noqa: PTH101

from __future__ import annotations

import os
import stat

__all__ = ["remove_tree"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

_Id = tuple[int, int]


def remove_tree(parent_fd: int, name: str) -> list[str]:
    """Remove ``name`` in the directory ``parent_fd``; returns what could not be removed."""
    problems: list[str] = []
    try:
        top = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return problems
    if not stat.S_ISDIR(top.st_mode):
        _unlink(parent_fd, name, problems)
        return problems
    fd = _open_dir(parent_fd, name, top.st_dev, problems)
    if fd is None:
        return problems
    _walk(fd, parent_fd, name, top.st_dev, problems)
    return problems


def _walk(fd: int, parent_fd: int, name: str, dev: int, problems: list[str]) -> None:
    names = [name]
    ids: list[_Id] = [_ident(fd)]
    skipped: set[_Id] = set()
    try:
        while True:
            sub = _clear_entries(fd, dev, skipped, problems)
            if sub is not None:
                child = _open_dir(fd, sub[0], dev, problems)
                if child is None:
                    skipped.add(sub[1])
                    continue
                os.close(fd)
                fd = child
                names.append(sub[0])
                ids.append(_ident(fd))
                continue
            if len(names) == 1:
                break
            up = os.open("..", _DIR, dir_fd=fd)
            if _ident(up) != ids[-2]:
                os.close(up)
                problems.append(f"{'/'.join(names)}: moved during removal; stopped")
                return
            os.close(fd)
            fd = up
            if not _rmdir(fd, names[-1], problems):
                skipped.add(ids[-1])
            names.pop()
            ids.pop()
    finally:
        os.close(fd)
    _rmdir(parent_fd, name, problems)


def _ident(fd: int) -> _Id:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def _clear_entries(
    fd: int, dev: int, skipped: set[_Id], problems: list[str]
) -> tuple[str, _Id] | None:
    """Unlink every non-directory in ``fd``; return the first subdirectory still to remove."""
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                _unlink(fd, entry.name, problems)
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in skipped:
                continue
            if st.st_dev != dev:
                problems.append(f"{entry.name}: on another device (a mount point); not entered")
                skipped.add(ident)
                continue
            return entry.name, ident
    return None


def _open_dir(dir_fd: int, name: str, dev: int, problems: list[str]) -> int | None:
    """Open a subdirectory without following symlinks, making it listable and writable."""
    try:
        fd = os.open(name, _DIR, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except PermissionError:
        if not _grant_access(dir_fd, name, dev, problems):
            return None
        try:
            fd = os.open(name, _DIR, dir_fd=dir_fd)
        except OSError as exc:
            problems.append(f"{name}: {exc.strerror}")
            return None
    except OSError as exc:  # ELOOP / ENOTDIR: swapped for a symlink or file meanwhile
        problems.append(f"{name}: {exc.strerror}")
        return None
    st = os.fstat(fd)
    if st.st_dev != dev:
        os.close(fd)
        problems.append(f"{name}: on another device (a mount point); not entered")
        return None
    if stat.S_IMODE(st.st_mode) & 0o700 != 0o700:
        try:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) | 0o700)
        except OSError as exc:
            problems.append(f"{name}: cannot fix its permissions: {exc.strerror}")
    return fd


def _grant_access(dir_fd: int, name: str, dev: int, problems: list[str]) -> bool:
    """chmod u+rwx a directory we cannot open for reading, through an O_PATH fd (no race)."""
    try:
        path_fd = os.open(name, _PATH, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        problems.append(f"{name}: {exc.strerror}")
        return False
    try:
        st = os.fstat(path_fd)
        if st.st_dev != dev:
            problems.append(f"{name}: on another device (a mount point); not entered")
            return False
        os.chmod(f"/proc/self/fd/{path_fd}", stat.S_IMODE(st.st_mode) | 0o700)
        return True
    except OSError as exc:
        problems.append(f"{name}: cannot fix its permissions: {exc.strerror}")
        return False
    finally:
        os.close(path_fd)


def _unlink(dir_fd: int, name: str, problems: list[str]) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        problems.append(f"{name}: {exc.strerror}")


def _rmdir(dir_fd: int, name: str, problems: list[str]) -> bool:
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return True
    except OSError as exc:
        problems.append(f"{name}: {exc.strerror}")
        return False
    return True

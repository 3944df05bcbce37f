"""Git's own rules for "this is a git dir", read from the file system without running git.

Taken from git's ``setup.c`` (git 2.39 to 2.51 agree):

- ``validate_headref``: ``HEAD`` is a symlink whose target starts with ``refs/``, or a file
  starting with ``ref:`` then ``refs/`` (after blanks), or with a full object id in hex
  (40 or 64 digits);
- ``get_common_dir_noenv``: when ``<gitdir>/commondir`` exists (``stat``: a symlink counts),
  its content without trailing CR/LF, relative to the git dir unless absolute, is the common
  dir; else the git dir is its own common dir;
- ``is_git_directory``: a valid ``HEAD`` in the git dir, and ``objects/`` and ``refs/``
  (``access(X_OK)``: symlinks followed) in the *common* dir. So a dir holding only ``HEAD``
  and ``commondir`` is a git dir when its common dir has ``objects/`` and ``refs/``, and the
  common dir needs no ``HEAD``;
- ``read_gitfile_gently``: ``.git`` that ``stat`` (following symlinks) finds to be a regular
  file of at most 1 MiB starting with ``gitdir: ``; the path after it, without trailing
  CR/LF, relative to the file's directory unless absolute, must be a git dir.

Git itself follows one ``.git`` file and one ``commondir``. The scan is more suspicious than
git: :func:`chain` follows ``gitdir:`` files and ``commondir`` files until they end, up to
:data:`MAX_HOPS`, so that a layout a later git (or another tool) would read differently is
still seen. Config and hooks are read from every dir on the chain.
"""

# os-level on purpose: lstat/readlink semantics without following symlinks
# ruff: noqa: PTH112, PTH115, PTH118, PTH120

from __future__ import annotations

import os
import stat

__all__ = [
    "MAX_HOPS",
    "Chain",
    "chain",
    "common_dir",
    "is_git_directory",
    "read_gitfile",
    "valid_head",
]

#: how many ``gitdir:``/``commondir`` pointers :func:`chain` follows
MAX_HOPS = 8
_MAX_GITFILE = 1 << 20  # read_gitfile_gently's max_file_size
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _read(path: str, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of a regular file (symlinks followed, like git); None if not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def valid_head(gitdir: str) -> bool:
    """git's ``validate_headref`` on ``<gitdir>/HEAD``."""
    path = os.path.join(gitdir, "HEAD")
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        try:
            return os.readlink(path).startswith("refs/")
        except OSError:
            return False
    data = _read(path, 255)
    if data is None:
        return False
    if data.startswith(b"ref:") and data[4:].lstrip().startswith(b"refs/"):
        return True
    return len(data) >= 40 and all(c in _HEX for c in data[:40])


def _commondir_text(gitdir: str) -> str | None:
    data = _read(os.path.join(gitdir, "commondir"), 4096)
    if data is None:
        return None
    return data.decode(errors="surrogateescape").rstrip("\r\n")


def common_dir(gitdir: str) -> str:
    """git's ``get_common_dir_noenv``: the common dir of ``gitdir`` (itself if none)."""
    text = _commondir_text(gitdir)
    if text is None:
        return gitdir
    return os.path.realpath(os.path.join(gitdir, text))


def _accessible_dir(path: str) -> bool:
    return os.access(path, os.X_OK)


def is_git_directory(path: str) -> bool:
    """git's ``is_git_directory``: valid HEAD here, ``objects/`` and ``refs/`` in the common dir."""
    if not valid_head(path):
        return False
    common = common_dir(path)
    return _accessible_dir(os.path.join(common, "objects")) and _accessible_dir(
        os.path.join(common, "refs")
    )


def _gitfile_target(path: str) -> str | None:
    """The path a ``gitdir:`` file names (not checked to be a git dir); None if not one."""
    data = _read(path, _MAX_GITFILE + 1)
    if data is None or len(data) > _MAX_GITFILE or not data.startswith(b"gitdir: "):
        return None
    text = data[8:].decode(errors="surrogateescape").rstrip("\r\n")
    if not text:
        return None
    return os.path.join(os.path.dirname(path), text)


def read_gitfile(path: str) -> str | None:
    """git's ``read_gitfile_gently``: the git dir a ``.git`` file leads to, or None."""
    target = _gitfile_target(path)
    if target is None or not is_git_directory(target):
        return None
    return os.path.realpath(target)


class Chain:
    """What a ``.git`` entry or a candidate git dir leads to.

    ``pointers``: the ``.git`` files/symlinks and ``commondir`` files followed (host paths as
    found, not resolved); ``dirs``: the git dir and every common dir after it (resolved);
    ``git_dir``: whether git itself would take the first dir as a repository.
    """

    __slots__ = ("dirs", "git_dir", "pointers")

    def __init__(self) -> None:
        self.pointers: list[str] = []
        self.dirs: list[str] = []
        self.git_dir = False


def chain(start: str) -> Chain:
    """Follow ``start`` (a ``.git`` entry or a dir) through ``gitdir:`` and ``commondir``.

    Bounded by :data:`MAX_HOPS`; a loop ends the chain. Only reads.
    """
    out = Chain()
    current = start
    seen: set[str] = set()
    for _ in range(MAX_HOPS):
        try:
            st = os.lstat(current)
        except OSError:
            return out
        if stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode):
            if not os.path.isdir(current):  # a gitdir: file (or a symlink to one)
                target = _gitfile_target(current)
                if target is None:
                    return out
                out.pointers.append(current)
                current = target
                continue
            out.pointers.append(current)  # a symlink to a directory
        real = os.path.realpath(current)
        if real in seen or not os.path.isdir(real):
            return out
        if not out.dirs:
            out.git_dir = is_git_directory(real)
        seen.add(real)
        out.dirs.append(real)
        text = _commondir_text(real)
        if text is None:
            return out
        out.pointers.append(os.path.join(real, "commondir"))
        current = os.path.join(real, text)
    return out

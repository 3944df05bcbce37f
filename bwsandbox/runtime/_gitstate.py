"""The project's git state read before a session, without running git (``runtime._githistory``).

Plain file reads that never follow a symlink: the top ``.git`` entry, ``HEAD``, the loose refs
(a symlinked ref is recorded as such, never entered), ``packed-refs``, the alternates files and
the index (its bytes when at most :data:`MAX_INDEX`, else its size and times). About 0.3 ms
for an ordinary repository, where one ``git`` process costs tens of milliseconds.
"""

# os-level on purpose: lstat/rename/open semantics without following symlinks
# ruff: noqa: PTH104, PTH108, PTH115, PTH118

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MAX_INDEX",
    "MAX_PACKED",
    "MAX_REF",
    "MAX_REFS",
    "RepoState",
    "file_sig",
    "loose_refs",
    "lstat_or_none",
    "parse_packed",
    "project_roots",
    "read_entry",
    "read_file",
    "ref_tips",
    "replace_file",
]

#: an index at most this big is kept in memory for an exact comparison afterwards
MAX_INDEX = 8 << 20
MAX_REF = 4096
MAX_PACKED = 64 << 20
MAX_REFS = 20000  # loose refs read before the session; more: the refs check is skipped


def lstat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def read_file(path: str, limit: int) -> bytes | None:
    """A regular file's bytes (not through a symlink), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks = []
        while data := os.read(fd, 1 << 20):
            chunks.append(data)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_entry(path: str) -> tuple[str, bytes]:
    """The kind and content of a ``.git`` entry: ("dir"|"file"|"link"|"other"|"missing", ...)."""
    st = lstat_or_none(path)
    if st is None:
        return ("missing", b"")
    if stat.S_ISDIR(st.st_mode):
        return ("dir", b"")
    if stat.S_ISLNK(st.st_mode):
        try:
            return ("link", os.fsencode(os.readlink(path)))
        except OSError:
            return ("link", b"")
    if stat.S_ISREG(st.st_mode):
        return ("file", read_file(path, MAX_REF) or b"")
    return ("other", b"")


def loose_refs(common: str) -> dict[str, bytes] | None:
    """Loose refs under ``refs/``: name -> content; a symlink's content is ``b"\\0link:"``.

    Never follows a symlink. None when there are too many to keep.
    """
    refs: dict[str, bytes] = {}
    stack = ["refs"]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(common, rel)) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            name = f"{rel}/{entry.name}"
            try:
                if entry.is_symlink():
                    refs[name] = b"\0link:" + os.fsencode(os.readlink(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(name)
                elif entry.is_file(follow_symlinks=False):
                    if entry.name.endswith(".lock"):
                        continue
                    refs[name] = (read_file(entry.path, MAX_REF) or b"").strip()
            except OSError:
                continue
            if len(refs) > MAX_REFS:
                return None
    return refs


def _resolve(name: str, loose: dict[str, bytes], packed: dict[str, str]) -> str:
    for _ in range(5):
        value = loose.get(name)
        if value is None:
            return packed.get(name, "")
        if value.startswith(b"ref:"):
            name = value[4:].strip().decode(errors="replace")
            continue
        return value.decode(errors="replace") if not value.startswith(b"\0") else ""
    return ""


def ref_tips(head: bytes, loose: dict[str, bytes], packed: dict[str, str]) -> set[str]:
    names = set(loose) | set(packed)
    tips = {_resolve(n, loose, packed) for n in names}
    head = head.strip()
    if head.startswith(b"ref:"):
        tips.add(_resolve(head[4:].strip().decode(errors="replace"), loose, packed))
    else:
        tips.add(head.decode(errors="replace"))
    return {t for t in tips if len(t) in (40, 64) and all(c in "0123456789abcdef" for c in t)}


class RepoState:
    """What was read of one project's repository before the session."""

    __slots__ = (
        "alternates",
        "common",
        "dotgit",
        "gitdir",
        "head",
        "index",
        "index_sig",
        "loose",
        "packed",
        "root",
    )

    def __init__(self, root: str) -> None:
        from bwsandbox.runtime._gitscan import chain

        self.root = root
        self.dotgit = read_entry(os.path.join(root, ".git"))
        found = chain(os.path.join(root, ".git")) if self.dotgit[0] != "missing" else None
        self.gitdir = found.dirs[0] if found is not None and found.dirs else ""
        self.common = found.dirs[1] if found is not None and len(found.dirs) > 1 else self.gitdir
        self.head = b""
        self.index: bytes | None = None
        self.index_sig: tuple[int, ...] = ()
        self.loose: dict[str, bytes] | None = None
        self.packed = b""
        self.alternates: dict[str, tuple[str, bytes]] = {}
        if not self.gitdir:
            return
        self.head = read_file(os.path.join(self.gitdir, "HEAD"), MAX_REF) or b""
        index = os.path.join(self.gitdir, "index")
        self.index_sig = file_sig(index)
        if self.index_sig and self.index_sig[0] <= MAX_INDEX:
            self.index = read_file(index, MAX_INDEX)
        self.loose = loose_refs(self.common)
        self.packed = read_file(os.path.join(self.common, "packed-refs"), MAX_PACKED) or b""
        for name in ("alternates", "http-alternates"):
            path = os.path.join(self.common, "objects", "info", name)
            self.alternates[name] = read_entry(path)


def file_sig(path: str) -> tuple[int, ...]:
    st = lstat_or_none(path)
    if st is None or not stat.S_ISREG(st.st_mode):
        return ()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def project_roots(protected: Iterable[str]) -> list[str]:
    """Project directories: those whose ``.git`` holds protected paths (as ``_protect``)."""
    roots: set[str] = set()
    for path in protected:
        head, sep, _ = path.partition("/.git/")
        if sep and head and head != "/":
            roots.add(head)
    return sorted(roots)


def parse_packed(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode(errors="replace").splitlines():
        if line[:1] in ("#", "^", ""):
            continue
        oid, _, name = line.partition(" ")
        out[name.strip()] = oid
    return out


def replace_file(path: str, content: bytes) -> bool:
    """Write ``content`` to ``path`` through a new file renamed over it (no symlink followed)."""
    tmp = f"{path}.agent-sandbox-tmp"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
    except OSError:
        return False
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    try:
        os.rename(tmp, path)
    except OSError:
        os.unlink(tmp)
        return False
    return True

"""The session work dir: ``<tmpdir>/agent-sandbox-XXXXXXXXXXXX/`` (0700) with ``tmp/`` (the
sandbox's /tmp), ``home/`` (its private home) and a marker naming the owning process.

A work dir whose owner died (killed session, reboot) is removed at the next start: only ours
(same uid), only with a valid marker, only through the fd-based walk of :mod:`._rmtree`.
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the start-up path
# ruff: noqa: PTH100, PTH102, PTH118, PTH123

from __future__ import annotations

import functools
import os
import stat

from bwsandbox._errors import WorkspaceError
from bwsandbox.runtime._rmtree import remove_tree

__all__ = [
    "MARKER",
    "PREFIX",
    "Workdir",
    "create_workdir",
    "keep_workdir",
    "proc_start_time",
    "process_identity",
    "remove_workdir",
    "sweep_stale_workdirs",
    "written_marker",
]

PREFIX = "agent-sandbox-"
MARKER = ".owner"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MARKER_MAX = 4096


class Workdir:
    """A session work dir (a value; a plain class so that importing this module stays cheap)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"Workdir({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workdir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def tmp(self) -> str:
        return os.path.join(self.path, "tmp")

    @property
    def home(self) -> str:
        return os.path.join(self.path, "home")


@functools.cache
def _boot_id() -> str:
    try:
        # bytes, decoded by hand: a text file would look up the ascii codec (an import)
        with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
            return handle.read().decode("ascii").strip()
    except OSError:
        return ""


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks); None when pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_identity(pid: int | None = None) -> dict[str, int | str]:
    """What the marker records: owner uid, supervisor pid, its start time, the boot id."""
    pid = os.getpid() if pid is None else pid
    return {
        "uid": os.getuid(),
        "pid": pid,
        "start_time": proc_start_time(pid) or 0,
        "boot_id": _boot_id(),
    }


def create_workdir(tmpdir: str, *, name: str | None = None) -> Workdir:
    """Create a fresh 0700 work dir with ``tmp/``, ``home/`` and the owner marker.

    ``name``: exactly ``tmpdir/name`` (the path a prepared plan was compiled with);
    FileExistsError when anything (a symlink too) is there already. Default: a random name.
    """
    for _ in range(1 if name else 100):
        path = os.path.join(tmpdir, name or PREFIX + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            break
        except FileExistsError:
            if name:
                raise
            continue
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create a work dir in {tmpdir}: {exc.strerror}",
                hint="set TMPDIR to a writable directory",
            ) from exc
    else:
        raise WorkspaceError(f"cannot create a unique work dir in {tmpdir}")
    try:
        fd = os.open(path, _DIR)
        try:
            os.mkdir("tmp", 0o700, dir_fd=fd)
            os.mkdir("home", 0o700, dir_fd=fd)
            marker = os.open(
                MARKER,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=fd,
            )
            try:
                from bwsandbox._jsontext import dumps  # json.dumps's text, no json import

                os.write(marker, dumps(process_identity()).encode())
            finally:
                os.close(marker)
        finally:
            os.close(fd)
    except OSError as exc:
        remove_workdir(path)
        raise WorkspaceError(f"cannot set up the work dir {path}: {exc.strerror}") from exc
    return Workdir(path)


def remove_workdir(path: str) -> None:
    """Remove a work dir without following symlinks or leaving it; WorkspaceError if it stays."""
    parent, name = os.path.split(os.path.abspath(path))
    try:
        parent_fd = os.open(parent, _DIR)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WorkspaceError(f"cannot remove the work dir {path}: {exc.strerror}") from exc
    try:
        problems = remove_tree(parent_fd, name)
    finally:
        os.close(parent_fd)
    if problems:
        shown = "; ".join(problems[:3])
        raise WorkspaceError(
            f"the work dir {path} was not removed completely: {shown}",
            hint="remove it by hand after checking what is left",
        )


def _read_marker(dir_fd: int, uid: int) -> dict[str, object] | None:
    try:
        fd = os.open(MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_size > _MARKER_MAX:
            return None
        data = os.read(fd, _MARKER_MAX)
    finally:
        os.close(fd)
    marker = written_marker(data)
    if marker is not None:
        return marker
    import json  # a marker this version did not write

    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


_MARKER_KEYS = ("uid", "pid", "start_time", "boot_id")
_BOOT_ID_CHARS = "0123456789abcdef-"


def written_marker(data: bytes) -> dict[str, object] | None:
    """A marker exactly as :func:`create_workdir` writes it (``{"uid": 0, "pid": 12,
    "start_time": 34, "boot_id": "..."}``), parsed without importing json (a start reads the
    markers of the user's running sessions); None for any other text, which the caller gives
    to ``json.loads``. Where this returns a value, it is ``json.loads``'s
    (tests/unit/test_workdir.py checks it)."""
    if not data.isascii() or data[:1] != b"{" or data[-1:] != b"}":
        return None
    parts = data[1:-1].decode("ascii").split(", ")
    if len(parts) != len(_MARKER_KEYS):
        return None
    marker: dict[str, object] = {}
    for part, name in zip(parts, _MARKER_KEYS, strict=True):
        key, separator, value = part.partition(": ")
        if key != f'"{name}"' or not separator:
            return None
        if name == "boot_id":
            inner = value[1:-1]
            if len(value) < 2 or value[0] != '"' or value[-1] != '"' or inner.strip(_BOOT_ID_CHARS):
                return None
            marker[name] = inner
        elif value.isdigit() and str(int(value)) == value:
            marker[name] = int(value)
        else:
            return None
    return marker


def _is_stale(marker: dict[str, object], uid: int, boot_id: str) -> bool:
    pid, start = marker.get("pid"), marker.get("start_time")
    if marker.get("uid") != uid or not isinstance(pid, int) or not isinstance(start, int):
        return False  # not a marker we wrote: leave it alone
    if marker.get("boot_id") != boot_id:
        return True
    return proc_start_time(pid) != start


def _owned_dir(tmp_fd: int, name: str, uid: int) -> bool:
    try:
        st = os.stat(name, dir_fd=tmp_fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid


def sweep_stale_workdirs(tmpdir: str) -> list[str]:
    """Remove work dirs in ``tmpdir`` whose owner process is gone. Returns the removed paths."""
    uid, boot_id = os.getuid(), _boot_id()
    removed: list[str] = []
    try:
        tmp_fd = os.open(tmpdir, _DIR)
    except OSError:
        return removed
    try:
        with os.scandir(tmp_fd) as entries:
            names = [e.name for e in entries if e.name.startswith(PREFIX)]
        for name in names:
            if not _owned_dir(tmp_fd, name, uid):
                continue
            try:
                fd = os.open(name, _DIR, dir_fd=tmp_fd)
            except OSError:
                continue
            try:
                marker = _read_marker(fd, uid)
            finally:
                os.close(fd)
            if marker is None or not _is_stale(marker, uid, boot_id):
                continue
            _remove_recorded_placeholders(tmp_fd, name)
            if not remove_tree(tmp_fd, name):
                removed.append(os.path.join(tmpdir, name))
    finally:
        os.close(tmp_fd)
    return removed


def _remove_recorded_placeholders(tmp_fd: int, name: str) -> None:
    """A killed session's placeholders in the project (see :mod:`._protect`)."""
    import json  # a killed session's record: not read on a normal start

    from bwsandbox.runtime._protect import RECORD, remove_placeholders

    try:
        fd = os.open(f"{name}/{RECORD}", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=tmp_fd)
    except OSError:
        return
    try:
        items = json.loads(os.read(fd, 1 << 20))
    except ValueError:
        return
    finally:
        os.close(fd)
    if isinstance(items, list):
        remove_placeholders(
            [
                (str(item[0]), str(item[1]))
                for item in items
                if isinstance(item, list) and len(item) == 2
            ]
        )


def keep_workdir(path: str) -> None:
    """Keep a work dir for the user: drop its owner marker so no stale sweep removes it."""
    try:
        fd = os.open(path, _DIR)
    except OSError:
        return
    try:
        os.unlink(MARKER, dir_fd=fd)
    except OSError:
        pass
    finally:
        os.close(fd)

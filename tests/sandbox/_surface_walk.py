"""Run INSIDE a sandbox with its python3: walk the whole visible tree, print one JSON object.

Usage: ``python3 _surface_walk.py [ROOT [PRUNE...]]`` (ROOT defaults to ``/``; stdlib only).
A PRUNE directory is reported but not entered: the per-policy audits prune ``/usr`` (the same
read-only bind of the host's ``/usr`` in every sandbox) and one test walks ``/usr`` in full.

It never writes anything: writability is ``access(W_OK)`` (which answers ``EROFS`` for regular
files and directories on read-only mounts) plus the mount flags from ``/proc/self/mountinfo``
for what ``access`` does not see (a device node on a ``nodev`` mount cannot be opened; a device,
fifo or socket on a read-only mount still can). Readability of regular files is an
``open(O_RDONLY|O_NONBLOCK)`` that reads nothing (no kernel setting is touched by opening).

Skipped: the sandbox's own processes (``/proc/<pid>``, ``/proc/self``, ``/proc/thread-self``;
``proc_self_writable`` lists what the own process may write there), and the inside of
``autofs`` mounts (listing one would ask the host's automounter).

Output keys:

- ``writable``: writable paths whose parent is not a writable directory on the same mount,
  plus every writable device, fifo and socket (the roots of the writable surface);
- ``readable``: readable paths (listable dirs, openable files, usable specials), each reported
  only when its parent is not itself reported (again: roots), excluding ``/proc``;
- ``proc``: every readable path under ``/proc`` outside the own pids, with its size
  (``-1``: unreadable); ``pids``: the pid dirs seen; ``sockets``: socket files seen;
- ``mounts``: ``[mount point, options, fs type]``; ``errors``: paths the walk could not list.
"""

# os-level on purpose: it runs inside the sandbox with whatever python3 is there
# ruff: noqa: PTH114, PTH123, PTH208

from __future__ import annotations

import json
import os
import stat
import sys

SKIP_PROC = ("self", "thread-self")


def mountinfo() -> list[tuple[str, set[str], str]]:
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            fields = left.split()
            point = fields[4].encode().decode("unicode_escape")
            opts = set(fields[5].split(","))
            fstype = right.split()[0]
            mounts.append((point, opts, fstype))
    return mounts


def mount_of(path: str, mounts: list[tuple[str, set[str], str]]) -> tuple[str, set[str], str]:
    best: tuple[str, set[str], str] = ("/", set(), "")
    for point, opts, fstype in mounts:  # later mounts cover earlier ones at the same place
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(
            best[0]
        ):
            best = (point, opts, fstype)
    return best


def can_open(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def proc_size(path: str) -> int:
    """Bytes readable from a /proc file (at most 64 kB; -1: not readable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return -1
    try:
        return len(os.read(fd, 65536))
    except OSError:
        return -1
    finally:
        os.close(fd)


def main(root: str, prune: frozenset[str] = frozenset()) -> dict[str, object]:
    mounts = mountinfo()
    autofs = {point for point, _, fstype in mounts if fstype == "autofs"}
    points = {point for point, _, _ in mounts}
    writable: list[str] = []
    readable: list[str] = []
    proc: dict[str, int] = {}
    pids: list[str] = []
    sockets: list[str] = []
    errors: list[str] = []
    # stack of (dir path, dir writable, dir readable-reported)
    stack: list[tuple[str, bool, bool]] = []
    root_w = os.access(root, os.W_OK | os.X_OK)
    root_r = os.access(root, os.R_OK | os.X_OK)
    if root_w:
        writable.append(root)
    stack.append((root, root_w, False))
    while stack:
        directory, dir_w, dir_r_reported = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            errors.append(f"{directory}: {exc.strerror}")
            continue
        dir_ro = "ro" in mount_of(directory, mounts)[1]
        for entry in entries:
            path = entry.path if directory != "/" else "/" + entry.name
            if directory == "/proc" and (entry.name.isdigit() or entry.name in SKIP_PROC):
                if entry.name.isdigit():
                    pids.append(entry.name)
                continue
            try:
                if entry.is_symlink():
                    continue  # the target is walked where it lives (if visible at all)
                is_dir = entry.is_dir(follow_symlinks=False)
                is_reg = not is_dir and entry.is_file(follow_symlinks=False)
                mode = 0 if is_dir or is_reg else os.lstat(path).st_mode
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror}")
                continue
            in_proc = path.startswith("/proc/")
            is_mount = path in points
            ro = "ro" in mount_of(path, mounts)[1] if is_mount else dir_ro
            special = not (is_dir or is_reg)
            if is_dir:
                w = not ro and os.access(path, os.W_OK | os.X_OK)
                r = os.access(path, os.R_OK | os.X_OK)
            elif is_reg:
                w = not ro and os.access(path, os.W_OK)
                # inside a reported readable dir only /proc needs the real answer
                r = (not dir_r_reported or in_proc or is_mount) and can_open(path)
            else:  # device, fifo, socket: ro mounts do not stop them, nodev stops devices
                if stat.S_ISSOCK(mode):
                    sockets.append(path)
                device = stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                usable = not (device and "nodev" in mount_of(path, mounts)[1])
                w = usable and os.access(path, os.W_OK)
                r = usable and os.access(path, os.R_OK)
            if w and (special or is_mount or not dir_w):
                writable.append(path)
            if in_proc:
                if is_reg:
                    proc[path] = proc_size(path) if r else -1
                elif r:
                    proc[path] = 0
            r_reported = dir_r_reported
            if r and not in_proc and (special or is_mount or not dir_r_reported):
                readable.append(path)
                r_reported = True
            if is_dir and path not in autofs and path not in prune and r:
                stack.append((path, w, r_reported))
    own_w = []
    for name in sorted(os.listdir("/proc/self")):
        path = f"/proc/self/{name}"
        if not os.path.islink(path) and os.access(path, os.W_OK):
            own_w.append(path)
    return {
        "writable": sorted(writable),
        "readable": sorted(readable),
        "proc": dict(sorted(proc.items())),
        "pids": sorted(pids, key=int),
        "sockets": sorted(sockets),
        "proc_self_writable": own_w,
        "mounts": [[p, ",".join(sorted(o)), t] for p, o, t in mounts],
        "errors": errors,
        "root_readable": root_r,
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    json.dump(main(args[0] if args else "/", frozenset(args[1:])), sys.stdout)

"""The compiled-plan cache: what a launch needed, keyed by everything it depended on.

A miss takes the full path (typer-free parse, policy files, host probe, compile, runtime) and
stores a *recipe* (see :mod:`._recipe`): the rendered bwrap argv with symbolic fds and work
dir, the environment (names only for values copied from the host), the generated files, and
the audit record. A hit launches it with os-level calls only (:mod:`._fastlaunch`).

Validity, two levels:

- the **key** (the file name) hashes the normalized command line, cwd, ids, whether stdin and
  stdout are terminals, the package version and the **whole environment** (bytes);
- the entry lists its **dependencies**, each ``(tag, path, signature)``, re-checked on every
  hit: policy files and the policy search dirs, every host path the compiler probed, the
  bwrap binary and the PATH entries before it, /etc/passwd and /etc/group, the project's real
  path, where the command resolves, and the source of every bwsandbox module the full path
  loaded. One mismatch is a miss.

Entries live in ``<runtime dir>/agent-sandbox/plans/`` (0700 dirs, 0600 files, owned by us,
never followed through symlinks); an entry that fails any check is ignored. Plans that use
the filtered network, a terminal, or secret data are never cached, nor recorded sessions.
``AGENT_SANDBOX_PLAN_CACHE=0`` turns the cache off.

Import-light: only builtin modules (on the start-up path).
"""

# os-level on purpose: fd-relative calls and no pathlib on the start-up path
# ruff: noqa: PTH102, PTH109, PTH115, PTH116, PTH118, PTH120, SIM105

from __future__ import annotations

import marshal
import os
import stat
import sys
from _blake2 import blake2b

from bwsandbox.cli._spec import CACHE_VAR, may_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from bwsandbox.compile import SandboxPlan

__all__ = [
    "DISABLE_VAR",
    "FORMAT",
    "MAX_ENTRIES",
    "cache_dir",
    "clear",
    "discard",
    "exposes_cache",
    "load",
    "lookup_key",
    "module_files",
    "path_kind",
    "signature",
    "store",
]

FORMAT = 3  # 2: recipes carry "watched"; 3: "record_key"
MAX_ENTRIES = 64
DISABLE_VAR = CACHE_VAR
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_BYTES = 4 << 20

#: variables whose *value* is left out of the key (the name stays in): benchmark tools set
#: them to a random length on every run. The library never reads them; a policy passing one
#: through gets the value at launch (recipes keep host values by name).
_VALUE_IGNORED = frozenset({b"HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET"})

#: a dependency: (tag, path, signature); see :func:`signature`
Dep = tuple[str, str, object]


def lookup_key(name: str, values: Mapping[str, object], words: tuple[str, ...]) -> str | None:
    """The cache key for this invocation, or None when it is not cacheable."""
    if not may_cache(name, os.environ):
        return None  # agent profiles: filtered network, compartments; never cached
    tty = values.get("tty")
    if tty is True or (tty is None and os.isatty(0) and os.isatty(1)):
        return None  # interactive: the runtime's pty path
    if values.get("network") == "filtered" or values.get("allow") or values.get("add_host"):
        return None
    if values.get("worktree") is not None:
        return None  # git on the host finds or creates the worktree on every run
    if values.get("record") or values.get("record_input"):
        return None  # recording: the runtime's supervisor relays (and tees) the output
    from bwsandbox import __version__

    digest = blake2b(digest_size=32)
    head = (
        FORMAT,
        __version__,
        name,
        sorted(values.items()),
        words,
        os.getcwd(),
        os.getuid(),
        os.geteuid(),
        os.getgid(),
        os.getegid(),
        os.isatty(0),
        os.isatty(1),
        os.isatty(2),  # a terminal there is filtered by the runtime: never a cached launch
    )
    digest.update(repr(head).encode("utf-8", "surrogateescape"))
    for env_name, env_value in sorted(os.environb.items()):
        value = b"" if env_name in _VALUE_IGNORED else env_value
        digest.update(b"\0%b=%b" % (env_name, value))
    return digest.hexdigest()


def _private_dir(path: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.geteuid()
        and stat.S_IMODE(st.st_mode) & 0o077 == 0
    )


def cache_dir() -> str | None:
    """``<runtime dir>/agent-sandbox/plans`` (the runtime dir as the host probe chooses it)."""
    from bwsandbox._paths import runtime_dir_path

    runtime = runtime_dir_path()
    if not _private_dir(runtime):
        return None  # not made yet (the first full run makes it)
    return os.path.join(runtime, "agent-sandbox", "plans")


def under(path: str, parent: str) -> bool:
    if parent == "/":
        return True
    parent = parent.rstrip("/")
    return path == parent or path.startswith(parent + "/")


def exposes_cache(plan: SandboxPlan) -> bool:
    """True when a writable bind covers the cache dir (or lies inside it)."""
    from bwsandbox.compile import MountKind  # the caller has a plan: already imported

    directory = cache_dir()
    if directory is None:
        return False
    real = os.path.realpath(directory)
    for entry in plan.mounts:
        if entry.kind is MountKind.RW and entry.src and "\0" not in entry.src:
            src = os.path.realpath(entry.src)
            if under(real, src) or under(src, real):
                return True
    return False


def path_kind(path: str) -> tuple[str, str]:
    """``(kind, symlink target)`` exactly as the host probe records a path (``PathInfo``)."""
    try:
        st = os.lstat(path)
    except OSError:
        return ("missing", "")
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        try:
            return ("symlink", os.readlink(path))
        except OSError:
            return ("missing", "")
    if stat.S_ISDIR(mode):
        return ("dir", "")
    if stat.S_ISREG(mode):
        return ("file", "")
    return ("other", "")


def signature(tag: str, path: str) -> object:
    """What a dependency looked like; equal signatures mean the compile would not change.

    - ``k``: what the host probe saw (:func:`path_kind`: kind and symlink target);
    - ``x``: kind and permission bits after following symlinks (command lookup);
    - ``c``: identity and content stamp of a file that was read (follows symlinks);
    - ``d``: a directory whose listing was searched (inode, mtime);
    - ``r``: the real path.
    """
    if tag == "k":
        return path_kind(path)
    try:
        if tag == "x":
            st = os.stat(path)
            return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_ino)
        if tag == "c":
            st = os.stat(path)
            return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if tag == "d":
            st = os.stat(path)
            return (st.st_dev, st.st_ino, st.st_mtime_ns)
        if tag == "r":
            return os.path.realpath(path)
    except OSError:
        return None
    raise ValueError(f"unknown dependency tag {tag!r}")


def _fresh(deps: object) -> bool:
    if not isinstance(deps, list):
        return False
    for dep in deps:
        if not (isinstance(dep, tuple) and len(dep) == 3):
            return False
        tag, path, sig = dep
        if signature(tag, path) != sig:
            return False
    return True


def _open_dir(path: str, *, create: bool) -> int | None:
    """An fd on ``path`` when it is a private dir of ours (created 0700 if asked)."""
    if create:
        parent = os.path.dirname(path)
        for directory in (parent, path):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass
            except OSError:
                return None
    if not (_private_dir(os.path.dirname(path)) and _private_dir(path)):
        return None
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError:
        return None


def load(key: str) -> dict[str, object] | None:
    """The recipe stored under ``key`` if every dependency is unchanged, else None."""
    directory = cache_dir()
    if directory is None:
        return None
    dir_fd = _open_dir(directory, create=False)
    if dir_fd is None:
        return None
    try:
        fd = os.open(key, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        os.close(dir_fd)
        return None
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_uid != os.geteuid()
            or stat.S_IMODE(st.st_mode) & 0o077
            or st.st_size > _MAX_BYTES
        ):
            return None
        data = b""
        while chunk := os.read(fd, 1 << 20):
            data += chunk
    finally:
        os.close(fd)
        os.close(dir_fd)
    try:
        entry = marshal.loads(data)  # noqa: S302 - our own 0600 file, owner checked above
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
        return None
    recipe = entry.get("recipe")
    if not isinstance(recipe, dict) or not _fresh(entry.get("deps")):
        return None
    return recipe


def store(key: str, deps: Iterable[Dep], recipe: dict[str, object]) -> bool:
    """Write an entry (atomically, 0600). False when the cache dir is unusable."""
    directory = cache_dir()
    if directory is None:
        return False
    dir_fd = _open_dir(directory, create=True)
    if dir_fd is None:
        return False
    entry = {"format": FORMAT, "key": key, "deps": list(deps), "recipe": recipe}
    data = marshal.dumps(entry)
    temp = f".tmp-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        fd = os.open(
            temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.rename(temp, key, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        _prune(dir_fd, keep=key)
    except OSError:
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
        return False
    finally:
        os.close(dir_fd)
    return True


def _prune(dir_fd: int, *, keep: str) -> None:
    with os.scandir(dir_fd) as entries:
        names = [e.name for e in entries if e.name != keep]
    if len(names) < MAX_ENTRIES:
        return
    aged = []
    for name in names:
        try:
            aged.append((os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns, name))
        except OSError:
            continue
    aged.sort()
    for _, name in aged[: len(aged) - MAX_ENTRIES // 2]:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass


def discard(key: str) -> None:
    """Remove one entry (its launch failed: the next run takes the full path)."""
    directory = cache_dir()
    dir_fd = None if directory is None else _open_dir(directory, create=False)
    if dir_fd is None:
        return
    try:
        os.unlink(key, dir_fd=dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def clear() -> None:
    """Remove every entry (e.g. after a sandbox that could write to the cache dir)."""
    directory = cache_dir()
    if directory is None:
        return
    dir_fd = _open_dir(directory, create=False)
    if dir_fd is None:
        return
    try:
        with os.scandir(dir_fd) as entries:
            names = [e.name for e in entries]
        for name in names:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except OSError:
                pass
    finally:
        os.close(dir_fd)


def module_files() -> list[str]:
    """Source files of the bwsandbox modules loaded now (a code change is a miss)."""
    files = []
    for name, module in list(sys.modules.items()):
        if name == "bwsandbox" or name.startswith("bwsandbox."):
            path = getattr(module, "__file__", None)
            if path:
                files.append(path)
    return sorted(files)

"""Finding and reading the admin-enforced policy, ``/etc/agent-sandbox/enforced.toml``.

The enforced layer is applied last and only restricts (see :mod:`._enforce` for what each
key means there). Because it is a guard the user must not be able to remove or swap, it
is read only when it is safe:

- the file is a regular file (not a symlink), owned by root and not writable by group or
  others;
- every directory on its real path is owned by root and not writable by group or others,
  unless it has the sticky bit (``/tmp``: others cannot rename or replace root's entries);
- it is valid (the same schema as every policy, no ``extends``, only keys that have a
  meaning as a restriction).

A file that exists but fails any of these stops the launch (:class:`PolicyError`, exit 125):
starting without the guard the admin asked for would be the loosening we refuse elsewhere.

The test seam, :data:`EXTRA_VAR`, names **one more** enforced file, applied after the
system one, never instead of it, and checked the same way: it can add restrictions, never
remove one, and an ordinary user cannot make a file of their own count (it must be owned by
root). So pointing it at a stricter file is harmless and at a weaker one pointless.

``os`` calls rather than pathlib: this runs on the start-up path of every launch.
"""

# ruff: noqa: PTH100, PTH116, PTH117, PTH118, PTH119, PTH120

from __future__ import annotations

import os
import stat

from bwsandbox._errors import PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from bwsandbox.policy._validate import Layer

__all__ = [
    "ENFORCED_PATH",
    "EXTRA_VAR",
    "check_enforced_file",
    "enforced_deps",
    "enforced_paths",
    "is_enforced_path",
    "read_enforced",
]

#: the admin-enforced policy (root-owned)
ENFORCED_PATH = "/etc/agent-sandbox/enforced.toml"
#: one more enforced file, applied after :data:`ENFORCED_PATH` (tests; stricter local rules)
EXTRA_VAR = "AGENT_SANDBOX_ENFORCED"
_MAX_BYTES = 1 << 20
_HINT = (
    "an enforced policy and the directories above it must be owned by root (uid 0) and "
    "not writable by group or others"
)


def enforced_paths(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The enforced files to apply, in order: always the system one, then :data:`EXTRA_VAR`.

    A path is listed whether or not it exists (the system one is skipped when absent; the
    extra one must exist).
    """
    env = os.environ if environ is None else environ
    extra = env.get(EXTRA_VAR, "")
    paths = [ENFORCED_PATH]
    if extra and extra != ENFORCED_PATH:
        paths.append(extra)
    return tuple(paths)


def read_enforced(environ: Mapping[str, str] | None = None) -> tuple[Layer, ...]:
    """The enforced layers that apply, checked; :class:`PolicyError` when one is unsafe."""
    layers = []
    for index, path in enumerate(enforced_paths(environ)):
        data = _read_safely(path, required=index > 0)
        if data is not None:
            layers.append(_parse(path, data))
    return tuple(layers)


def check_enforced_file(path: str) -> Layer:
    """One enforced file, checked exactly as a launch checks it (``policy check``)."""
    data = _read_safely(path, required=True)
    assert data is not None
    return _parse(path, data)


def is_enforced_path(path: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``path`` is one of :func:`enforced_paths` (after resolving symlinks)."""
    real = os.path.realpath(path)
    return any(os.path.realpath(p) == real for p in enforced_paths(environ))


def enforced_deps(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``(tag, path)`` plan-cache dependencies: each enforced file and its directories.

    ``k`` (appears, disappears) and ``c`` (content, and owner or mode through the ctime) on
    the file, ``x`` (kind, mode, inode) on the directories above it: a change that could
    alter the decision is a miss. (Not a directory's ctime: ``/tmp``'s changes constantly.)
    """
    deps: list[tuple[str, str]] = []
    for path in enforced_paths(environ):
        deps += [("k", path), ("c", path)]
        directory = os.path.dirname(os.path.abspath(path))
        while True:
            deps.append(("x", directory))
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    return deps


def _unsafe(path: str, st: os.stat_result, *, directory: bool) -> PolicyError | None:
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != 0:
        problem = f"owned by uid {st.st_uid}, not root"
    elif mode & 0o022 and not (directory and mode & stat.S_ISVTX):
        problem = f"writable by group or others (mode {mode:04o})"
    else:
        return None
    what = "its directory " + path if directory else "the file"
    return PolicyError(f"refusing the enforced policy: {what} is {problem}", file=path, hint=_HINT)


def _read_safely(path: str, *, required: bool) -> bytes | None:
    """The file's bytes after the ownership checks; None when an optional file is absent."""
    if not os.path.isabs(path):
        raise PolicyError(
            f"{EXTRA_VAR} must be an absolute path", file=path, hint="unset it or fix the path"
        )
    directory = os.path.realpath(os.path.dirname(path))
    real = os.path.join(directory, os.path.basename(path))
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        if not required:
            return None
        raise PolicyError(
            "no such enforced policy file", file=path, hint=f"unset {EXTRA_VAR}"
        ) from None
    except OSError as exc:
        raise PolicyError(
            f"cannot read the enforced policy: {exc.strerror or exc}", file=path, hint=_HINT
        ) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PolicyError(
                "refusing the enforced policy: not a regular file", file=path, hint=_HINT
            )
        error = _unsafe(path, st, directory=False)
        if error is not None:
            raise error
        current = directory
        while True:
            dir_error = _unsafe(current, os.stat(current), directory=True)
            if dir_error is not None:
                raise PolicyError(str(dir_error.message), file=path, hint=_HINT)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        chunks = []
        size = 0
        while size <= _MAX_BYTES:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > _MAX_BYTES:
            raise PolicyError("the enforced policy is larger than 1 MiB", file=path)
        return b"".join(chunks)
    except OSError as exc:
        raise PolicyError(
            f"cannot read the enforced policy: {exc.strerror or exc}", file=path
        ) from exc
    finally:
        os.close(fd)


def _parse(path: str, data: bytes) -> Layer:
    import tomllib

    from bwsandbox.policy._enforce import check_enforceable
    from bwsandbox.policy._validate import read_layer, toml_error

    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not UTF-8 text (byte {exc.start})", file=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(toml_error(exc), file=path) from exc
    layer = read_layer(raw, path, can_extend=False)
    check_enforceable(layer)
    return layer

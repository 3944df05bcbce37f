"""Where things live on the host (platformdirs), computed lazily and in one place.

- user policies:   <config>/agent-sandbox/policies/*.toml
- client state:    <data>/agent-sandbox/clients/<client>/...
- session audit:   <data>/agent-sandbox/clients/<client>/sessions/<session-id>/audit.jsonl
- running sandboxes: <runtime>/agent-sandbox/ (mode 0700); the runtime dir is
  ``$XDG_RUNTIME_DIR`` when it is a private dir of ours, else
  ``<state>/agent-sandbox/runtime/<host name>`` (never a shared place such as /tmp, where
  another user could take the name first)
- the key that authenticates session records: <data>/keys/ (never bound into a sandbox)

``AGENT_SANDBOX_CONFIG_DIR`` / ``AGENT_SANDBOX_DATA_DIR`` override the first two (tests use
them to stay out of the real home).

:func:`check_project` is the one project guard: every way of starting a sandbox (``run``,
``shell``, ``explain``, the agents, the plan-cache fast path, :func:`bwsandbox.run`) calls it.
"""

# os.path on purpose: imported on the start-up path, where pathlib costs milliseconds
# ruff: noqa: PTH100, PTH102, PTH103, PTH108, PTH112, PTH116, PTH117, PTH118, PTH120

from __future__ import annotations

import contextlib
import os
import re
import stat

from bwsandbox._errors import WorkspaceError

TYPE_CHECKING = False  # typing's constant costs an import on the start-up path
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "bind_exposure",
    "check_project",
    "client_dir",
    "config_dir",
    "data_dir",
    "normalize",
    "private_dir",
    "project_refusal",
    "record_key",
    "record_key_path",
    "runtime_dir",
    "runtime_dir_path",
    "session_dir",
    "shipped_policies_dir",
    "user_policies_dir",
    "valid_client_name",
]

_CLIENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def config_dir() -> str:
    override = os.environ.get("AGENT_SANDBOX_CONFIG_DIR")
    if override:
        return override
    import platformdirs

    return platformdirs.user_config_dir("agent-sandbox")


def data_dir() -> str:
    override = os.environ.get("AGENT_SANDBOX_DATA_DIR")
    if override:
        return override
    import platformdirs

    return platformdirs.user_data_dir("agent-sandbox")


def user_policies_dir() -> str:
    return os.path.join(config_dir(), "policies")


def shipped_policies_dir() -> str:
    """Policies shipped in the wheel (bwsandbox/_policies) or, in a checkout, ./policies."""
    here = os.path.dirname(os.path.abspath(__file__))
    wheel = os.path.join(here, "_policies")
    if os.path.isdir(wheel):
        return wheel
    return os.path.join(os.path.dirname(here), "policies")


def valid_client_name(name: str) -> bool:
    return bool(_CLIENT_RE.match(name)) and name not in {".", ".."}


def client_dir(client: str) -> str:
    if not valid_client_name(client):
        raise ValueError(f"invalid client name {client!r}")
    return os.path.join(data_dir(), "clients", client)


def session_dir(client: str, session_id: str) -> str:
    return os.path.join(client_dir(client), "sessions", session_id)


def normalize(path: str) -> str:
    """``posixpath.normpath`` that also folds a leading ``//`` (POSIX keeps it) into ``/``.

    Every result is either ``/``, ``.``, or has no empty, ``.`` component and no trailing
    slash; an absolute input gives an absolute result. ``..`` is folded lexically.
    """
    folded = os.path.normpath(path)
    if folded.startswith("//"):
        folded = "/" + folded.lstrip("/")
    return folded


def private_dir(path: str, uid: int | None = None) -> bool:
    """``path`` is a directory (not a symlink) owned by ``uid`` (ours) and closed to others."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return False
    owner = os.getuid() if uid is None else uid
    return stat.S_ISDIR(st.st_mode) and st.st_uid == owner and stat.S_IMODE(st.st_mode) & 0o077 == 0


def _xdg_runtime_dir(environ: Mapping[str, str]) -> str | None:
    candidate = environ.get("XDG_RUNTIME_DIR", "")
    if candidate and os.path.isabs(candidate) and private_dir(candidate):
        return normalize(candidate)
    return None


def runtime_dir_path(environ: Mapping[str, str] | None = None) -> str:
    """Where the runtime dir is (nothing created): see :func:`runtime_dir`."""
    env = os.environ if environ is None else environ
    xdg = _xdg_runtime_dir(env)
    if xdg is not None:
        return xdg
    return os.path.join(_real(_runtime_base(env)), os.uname().nodename)


def _runtime_base(environ: Mapping[str, str]) -> str:
    """``<data>/runtime`` with ``AGENT_SANDBOX_DATA_DIR``, else ``<state>/agent-sandbox/runtime``.

    ``<state>`` is ``$XDG_STATE_HOME`` (absolute) or ``~/.local/state``: computed here rather
    than by platformdirs, whose import costs 15-20 ms on the cache-hit path.
    """
    override = os.environ.get("AGENT_SANDBOX_DATA_DIR")
    if override:
        return os.path.join(override, "runtime")
    state = environ.get("XDG_STATE_HOME", "").strip()
    if not os.path.isabs(state):
        home = environ.get("HOME", "")
        if not os.path.isabs(home):
            import pwd

            home = pwd.getpwuid(os.getuid()).pw_dir
        state = os.path.join(home, ".local", "state")
    return os.path.join(state, "agent-sandbox", "runtime")


def runtime_dir(environ: Mapping[str, str] | None = None) -> str:
    """The runtime dir, created 0700 when needed; WorkspaceError when it is not ours.

    ``$XDG_RUNTIME_DIR`` when it is a private dir of ours; otherwise
    ``~/.local/state/agent-sandbox/runtime/<host>`` (``$XDG_STATE_HOME``; under
    ``AGENT_SANDBOX_DATA_DIR`` when that is set; the host name keeps hosts that share a home
    apart), created 0700. Nothing under /tmp or
    ``$TMPDIR``: another user could create the name first, and ``$TMPDIR`` may lie inside a
    project. The fallback must be ours, 0700 and not a symlink; the dirs above it ours and
    not writable by other users, so nobody else can swap it.
    """
    env = os.environ if environ is None else environ
    xdg = _xdg_runtime_dir(env)
    if xdg is not None:
        return xdg
    path = runtime_dir_path(env)
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise WorkspaceError(
            f"cannot create the runtime dir {path}: {exc.strerror or exc}",
            hint="set XDG_RUNTIME_DIR to a private directory you own",
        ) from exc
    for directory, mask in ((os.path.dirname(parent), 0o002), (parent, 0o002), (path, 0o077)):
        if not _ours(directory, mask):
            raise WorkspaceError(
                f"{directory} is not a directory of uid {os.getuid()} closed to other users",
                hint="fix its owner and mode (chmod 700), or set XDG_RUNTIME_DIR",
            )
    return path


def _ours(path: str, mask: int) -> bool:
    """A directory (not a symlink) owned by us with none of the ``mask`` mode bits."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & mask


def record_key_path() -> str:
    """The key that authenticates session records: ``<data>/keys/session-record.key``."""
    return os.path.join(data_dir(), "keys", "session-record.key")


def record_key(path: str | None = None) -> bytes:
    """The session-record key (32 random bytes), made on first use; WorkspaceError if unsafe.

    The file must be a regular file of ours, mode 0600, in a 0700 dir of ours: the data dir
    itself is never bound into a sandbox (only ``clients/<client>/...`` below it are), and
    :func:`check_project` refuses a project that contains it.
    """
    key_path = record_key_path() if path is None else path
    directory = os.path.dirname(key_path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not private_dir(directory):
            raise WorkspaceError(
                f"{directory} is not a private directory of uid {os.getuid()}",
                hint=f"chmod 700 {directory}",
            )
        if not os.path.lexists(key_path):  # whole or nothing: write aside, then link
            temporary = f"{key_path}.{os.getpid()}.{os.urandom(4).hex()}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, os.urandom(32))
            finally:
                os.close(fd)
            try:
                with contextlib.suppress(FileExistsError):  # another process was first
                    os.link(temporary, key_path)
            finally:
                os.unlink(temporary)
        fd = os.open(key_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            key = os.read(fd, 64)
        finally:
            os.close(fd)
    except OSError as exc:
        raise WorkspaceError(
            f"cannot read the session-record key {key_path}: {exc.strerror or exc}",
            hint="check the agent-sandbox data dir",
        ) from exc
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise WorkspaceError(
            f"the session-record key {key_path} is not a private file of uid {os.getuid()}",
            hint=f"remove it (a new one is made): rm {key_path}",
        )
    if len(key) < 32:
        raise WorkspaceError(
            f"the session-record key {key_path} is too short",
            hint=f"remove it (a new one is made): rm {key_path}",
        )
    return key


def _real(path: str) -> str:
    return normalize(os.path.realpath(path))


def _inside(path: str, parent: str) -> bool:
    """``path`` is ``parent`` or below it (both normalized, absolute)."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _homes(environ: Mapping[str, str]) -> list[str]:
    """The home dirs to protect: ``$HOME``, the account's, and under sudo the caller's."""
    import pwd

    homes = [environ.get("HOME", "")]
    uids = [os.getuid()]
    sudo = environ.get("SUDO_UID", "")
    if sudo.isdigit():
        uids.append(int(sudo))
    for uid in uids:
        with contextlib.suppress(KeyError):
            homes.append(pwd.getpwuid(uid).pw_dir)
    return [_real(home) for home in homes if home and os.path.isabs(home)]


def project_refusal(project: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why ``project`` (a real, absolute path) must not be a project; None when it may be.

    A project is bound read-write, so it must not be ``/``, a home dir or an ancestor of one
    (~/.ssh, every client's compartment), inside agent-sandbox's own data or config dir, nor
    contain the data, config or runtime dir (session records, the record key, the plan cache,
    user policies: what the host later trusts).
    """
    env = os.environ if environ is None else environ
    real = _real(project)
    if real == "/":
        return "the project is the root directory /"
    for home in _homes(env):
        if home == "/":
            continue
        if real == home:
            return f"the project {real} is your home directory"
        if _inside(home, real):
            return f"the project {real} contains your home directory {home}"
    owned = (
        ("agent-sandbox's data dir (every client's agent state)", _real(data_dir())),
        ("agent-sandbox's config dir", _real(config_dir())),
        ("the runtime dir", _real(runtime_dir_path(env))),
    )
    for what, directory in owned:
        if _inside(directory, real):
            return f"the project {real} contains {what.split(' (')[0]} {directory}{_why(what)}"
        if what != "the runtime dir" and _inside(real, directory):
            return f"the project {real} is inside {what.split(' (')[0]} {directory}{_why(what)}"
    return None


def _why(what: str) -> str:
    return f" ({what.split(' (', 1)[1]}" if " (" in what else ""


def check_project(project: str, environ: Mapping[str, str] | None = None) -> str:
    """The project's real path; WorkspaceError when it is missing or refused (see above)."""
    real = _real(os.path.abspath(project))
    try:
        st = os.stat(real)
    except (OSError, ValueError) as exc:
        raise WorkspaceError(
            f"the project directory {project!r} does not exist or is not a directory",
            hint="pass an existing directory with --project",
        ) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise WorkspaceError(
            f"the project {project!r} is not a directory", hint="pass a directory with --project"
        )
    reason = project_refusal(real, environ)
    if reason is not None:
        raise WorkspaceError(
            reason,
            hint="run agent-sandbox from a project directory (cd into it, or --project DIR); "
            "share more with --ro/--rw",
        )
    return real


def bind_exposure(
    binds: Iterable[tuple[str, bool]], environ: Mapping[str, str] | None = None
) -> str | None:
    """Why one of ``binds`` (host source, writable) must not be bound; None when none is.

    Beyond the project (:func:`check_project`), no bind may hand the sandbox what the host
    later trusts: the runtime dir or anything in its ``agent-sandbox/`` (session records hold
    each session's environment; the plan cache), and writable, the record key's dir or the
    config dir (user policies), or anything in them.
    """
    runtime = _real(runtime_dir_path(environ))
    ours = os.path.join(runtime, "agent-sandbox")
    trusted = (
        ("the runtime dir", runtime, ours, False),
        ("the session-record key", *(2 * (_real(os.path.dirname(record_key_path())),)), True),
        ("agent-sandbox's config dir", *(2 * (_real(config_dir()),)), True),
    )
    for source, writable in binds:
        real = _real(source)
        kind = "read-write" if writable else "read-only"
        for what, directory, below, only_writable in trusted:
            if only_writable and not writable:
                continue
            if _inside(directory, real):
                return f"the {kind} bind {source} contains {what} {directory}"
            if _inside(real, below):
                return f"the {kind} bind {source} is inside agent-sandbox's own {below}"
    return None

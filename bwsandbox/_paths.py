"""Where things live on the host (the XDG base directories), computed lazily and in one place.

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

``<config>`` and ``<data>`` are platformdirs' ``user_config_dir`` and ``user_data_dir`` on Linux,
computed by :func:`xdg_home` instead of importing platformdirs: its import (with pathlib,
tempfile and shutil) cost 7.8 ms of a ``run -- true`` start-up that has 35 ms in all
(``python -X importtime``). ``tests/unit/test_paths_xdg.py`` checks the two agree, with
platformdirs as the oracle, over generated environments.

The guards that keep these out of every sandbox are in :mod:`bwsandbox._guard`.
"""

# os.path on purpose: imported on the start-up path, where pathlib costs milliseconds
# ruff: noqa: PTH100, PTH102, PTH103, PTH108, PTH112, PTH117, PTH118, PTH120

from __future__ import annotations

import contextlib
import os
import stat

from bwsandbox._errors import WorkspaceError
from bwsandbox._printable import ASCII_ALNUM, spelled

TYPE_CHECKING = False  # typing's constant costs an import on the start-up path
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "client_dir",
    "config_dir",
    "data_dir",
    "normalize",
    "private_dir",
    "real",
    "record_key",
    "record_key_path",
    "runtime_dir",
    "runtime_dir_path",
    "session_dir",
    "shipped_policies_dir",
    "user_policies_dir",
    "valid_client_name",
    "xdg_home",
]

_CLIENT_CHARS = ASCII_ALNUM + "._-"


def config_dir() -> str:
    override = os.environ.get("AGENT_SANDBOX_CONFIG_DIR")
    if override:
        return override
    return os.path.join(xdg_home("XDG_CONFIG_HOME", ".config"), "agent-sandbox")


def data_dir() -> str:
    override = os.environ.get("AGENT_SANDBOX_DATA_DIR")
    if override:
        return override
    return os.path.join(xdg_home("XDG_DATA_HOME", ".local/share"), "agent-sandbox")


def xdg_home(variable: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """An XDG base directory: ``$variable`` when it is absolute, else ``~/default``.

    ``~`` is ``$HOME`` when that is absolute, else the account's home from the password
    database (as platformdirs does: a relative ``HOME`` counts as unset). WorkspaceError when
    no absolute home can be found.
    """
    env = os.environ if environ is None else environ
    path = env.get(variable, "")
    if os.path.isabs(path):
        return path
    home = env.get("HOME")
    if home is None or not os.path.isabs(home):
        import pwd

        try:
            home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:
            home = None
    base = "" if home is None else home.rstrip("/") + "/" + default
    if not os.path.isabs(base):
        raise WorkspaceError(
            f"cannot tell where ${variable} is: no absolute home directory",
            hint=f"set HOME or {variable} to an absolute path",
        )
    return base


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
    """``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``, the whole name (no trailing newline, which the
    regex this replaced let through with ``$``); checked by characters, no regex at start-up."""
    return spelled(name, ASCII_ALNUM, _CLIENT_CHARS, 64)  # so never "." or ".."


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
    return os.path.join(real(_runtime_base(env)), os.uname().nodename)


def _runtime_base(environ: Mapping[str, str]) -> str:
    """``<data>/runtime`` with ``AGENT_SANDBOX_DATA_DIR``, else ``<state>/agent-sandbox/runtime``.

    ``<state>`` is ``$XDG_STATE_HOME`` (absolute) or ``~/.local/state``.
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
    :func:`bwsandbox._guard.check_project` refuses a project that contains it.
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


def real(path: str) -> str:
    """``os.path.realpath``, normalized (:func:`normalize`)."""
    return normalize(os.path.realpath(path))

"""What may never be handed to a sandbox: the one project guard and the bind guard.

A project is bound read-write. :func:`check_project` refuses ``/``, a home dir or an ancestor
of one (``~/.ssh``, credentials, every client's compartment), a dir inside agent-sandbox's
data or config dir, and one that contains the data, config or runtime dir (session records,
their key, the plan cache, user policies: what the host trusts later). Every way of starting
a sandbox goes through it: ``run``, ``shell`` and ``explain`` (``cli._resolve``), the agent
commands (``agents._prepare``), :class:`bwsandbox.runtime.Sandbox` and so
:func:`bwsandbox.run`. The plan-cache fast path only launches recipes that the full path made
after this check, for the same working directory, environment and project real path.

:func:`bind_exposure` does the same for every other bind of a compiled plan (``--ro``,
``--rw``, policies): none may contain the runtime dir or lie in its ``agent-sandbox/``, and
no writable one may contain (or lie in) the record key's dir or the config dir.

There is no override: with the default dirs ``$HOME`` and its ancestors contain the data dir
anyway, and a project below the home plus ``--ro``/``--rw`` for single paths gives a sandbox
what it needs without the rest.
"""

# os.path on purpose: on the start-up path, where pathlib costs milliseconds
# ruff: noqa: PTH100, PTH116, PTH117, PTH118, PTH120

from __future__ import annotations

import contextlib
import os
import stat

from bwsandbox._errors import WorkspaceError
from bwsandbox._paths import config_dir, data_dir, real, record_key_path, runtime_dir_path

TYPE_CHECKING = False  # typing's constant costs an import on the start-up path
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["bind_exposure", "check_project", "project_refusal"]

_HINT = (
    "run agent-sandbox from a project directory (cd into it, or --project DIR); "
    "share more with --ro/--rw"
)


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
    return [real(home) for home in homes if home and os.path.isabs(home)]


def project_refusal(project: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why ``project`` must not be a project (see the module docstring); None when it may."""
    env = os.environ if environ is None else environ
    path = real(project)
    if path == "/":
        return "the project is the root directory /"
    for home in _homes(env):
        if home == "/":
            continue
        if path == home:
            return f"the project {path} is your home directory"
        if _inside(home, path):
            return f"the project {path} contains your home directory {home}"
    owned = (
        ("agent-sandbox's data dir", real(data_dir()), " (every client's agent state)", True),
        ("agent-sandbox's config dir", real(config_dir()), "", True),
        ("the runtime dir", real(runtime_dir_path(env)), "", False),
    )
    for what, directory, why, not_below in owned:
        if _inside(directory, path):
            return f"the project {path} contains {what} {directory}{why}"
        if not_below and _inside(path, directory):
            return f"the project {path} is inside {what} {directory}{why}"
    return None


def check_project(project: str, environ: Mapping[str, str] | None = None) -> str:
    """The project's real path; WorkspaceError when it is missing or refused."""
    path = real(os.path.abspath(project))
    try:
        st = os.stat(path)
    except (OSError, ValueError) as exc:
        raise WorkspaceError(
            f"the project directory {project!r} does not exist or is not a directory",
            hint="pass an existing directory with --project",
        ) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise WorkspaceError(
            f"the project {project!r} is not a directory", hint="pass a directory with --project"
        )
    reason = project_refusal(path, environ)
    if reason is not None:
        raise WorkspaceError(reason, hint=_HINT)
    return path


def bind_exposure(
    binds: Iterable[tuple[str, bool]], environ: Mapping[str, str] | None = None
) -> str | None:
    """Why one of ``binds`` (host source, writable) must not be bound; None when none is."""
    runtime = real(runtime_dir_path(environ))
    key_dir = real(os.path.dirname(record_key_path()))
    config = real(config_dir())
    trusted = (  # (what, no bind may contain it, no bind may lie in, writable binds only)
        ("the runtime dir", runtime, os.path.join(runtime, "agent-sandbox"), False),
        ("the session-record key", key_dir, key_dir, True),
        ("agent-sandbox's config dir", config, config, True),
    )
    for source, writable in binds:
        path = real(source)
        kind = "read-write" if writable else "read-only"
        for what, directory, below, only_writable in trusted:
            if only_writable and not writable:
                continue
            if _inside(directory, path):
                return f"the {kind} bind {source} contains {what} {directory}"
            if _inside(path, below):
                return f"the {kind} bind {source} is inside agent-sandbox's own {below}"
    return None

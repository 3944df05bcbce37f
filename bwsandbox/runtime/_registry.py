"""The session registry: one small JSON record per running sandbox, in the runtime dir.

``<runtime dir>/agent-sandbox/sessions/<id>.json`` (dirs 0700, files 0600, written atomically
by rename) is created by the supervisor when the sandbox starts and removed when it ends. A
record whose supervisor is gone (or whose pid now belongs to another process: the start time
from ``/proc/PID/stat`` differs) is stale: readers ignore it and :func:`list_sessions` removes
it. Only the invoking uid's runtime dir is read, and only records that uid owns.

Writing is import-light (``os``, ``json``): the cache-hit launcher registers too. Reading gives
:class:`~bwsandbox.runtime._registry_record.SessionRecord` values.

``exec`` trusts a record's seccomp program, environment, cwd, uid and gid, so a record is
authenticated: ``mac`` is a keyed BLAKE2b of the rest, with the key from
:func:`bwsandbox._paths.record_key` (in the data dir, never bound into a sandbox). A record
without a valid ``mac`` is ignored (and pruned) like a malformed one. Env-delivered secrets
never enter a record (``hidden``); ``exec`` runs without them.
"""

# os-level on purpose: the writer is on the start-up path (no pathlib)
# ruff: noqa: PTH102, PTH104, PTH106, PTH108, PTH118, PTH120, PTH208, SIM105

from __future__ import annotations

import os
import stat
import time
from _blake2 import blake2b  # hashlib itself loads OpenSSL: milliseconds on the start-up path

from bwsandbox._errors import LaunchError, WorkspaceError
from bwsandbox.runtime._workdir import proc_start_time

TYPE_CHECKING = False  # typing's constant costs an import on the start-up path
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from bwsandbox.runtime._registry_record import SessionRecord

__all__ = [
    "find_session",
    "list_sessions",
    "proc_start_time",
    "register",
    "registry_dir",
    "runtime_dir",
    "unregister",
]

_VERSION = 2  # 2: authenticated (``mac``)


def runtime_dir(environ: Mapping[str, str] | None = None) -> str:
    """The runtime dir as :func:`bwsandbox.runtime.probe_host` picks it (created if needed)."""
    from bwsandbox._paths import runtime_dir as chosen

    return chosen(environ)


def registry_dir(runtime: str) -> str:
    return os.path.join(runtime, "agent-sandbox", "sessions")


def _private_dir(path: str, uid: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and stat.S_IMODE(st.st_mode) & 0o077 == 0


def _ensure_dir(path: str) -> None:
    """Create ``path`` (and its parent) 0700; refuse one that is not ours and private."""
    uid = os.getuid()
    for directory in (os.path.dirname(path), path):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        if not _private_dir(directory, uid):
            raise OSError(f"{directory} is not a private directory owned by uid {uid}")


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def _process(pid: int) -> dict[str, int]:
    return {"pid": pid, "start": proc_start_time(pid) or 0}


def register(
    runtime: str,
    *,
    session: str,
    client: str,
    policy: str,
    project: str,
    network: str,
    bwrap_pid: int,
    init_pid: int,
    env: Iterable[tuple[str, str]],
    cwd: str,
    uid: int,
    gid: int,
    key: bytes,
    seccomp: bytes = b"",
    hidden: Iterable[str] = (),
) -> str:
    """Write this sandbox's record atomically; returns its path (for :func:`unregister`).

    ``init_pid`` is the sandbox's pid 1 as bwrap's info fd reports it: every namespace of the
    sandboxed command, the nested user namespace included, is also its. ``seccomp`` is the
    BPF program bwrap installed (``--seccomp``), for ``exec`` to install the same one.
    ``key`` authenticates the record (:func:`bwsandbox._paths.record_key`); variables named
    in ``hidden`` (env-delivered secrets) are left out.
    """
    secret = frozenset(hidden)
    record = {
        "version": _VERSION,
        "id": session,
        "client": client,
        "policy": policy,
        "project": project,
        "started": _now(),
        "network": network,
        "supervisor": _process(os.getpid()),
        "bwrap": _process(bwrap_pid),
        "init": _process(init_pid),
        "env": [[name, value] for name, value in env if name not in secret],
        "cwd": cwd,
        "uid": uid,
        "gid": gid,
        "seccomp": seccomp.hex(),
    }
    record["mac"] = _mac(key, record)
    directory = registry_dir(runtime)
    path = os.path.join(directory, f"{session}.json")
    from bwsandbox._jsontext import dumps  # json.dumps's text without json (start-up)

    data = dumps(record, separators=(",", ":")).encode()
    for attempt in range(3):
        try:
            _write(directory, session, path, data)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and attempt < 2:
                continue  # a concurrent unregister removed the emptied dir: again
            raise WorkspaceError(
                f"cannot register the session in {directory}: {exc.strerror or exc}",
                hint="check the runtime dir (XDG_RUNTIME_DIR)",
            ) from exc
        break
    _prune(directory, keep=f"{session}.json")
    return path


def _mac(key: bytes, record: Mapping[str, object]) -> str:
    """The record's authenticator: keyed BLAKE2b over its canonical JSON (without ``mac``)."""
    body = {name: value for name, value in record.items() if name != "mac"}
    from bwsandbox._jsontext import dumps

    canonical = dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return blake2b(canonical, key=key[:64], digest_size=32, person=b"bwsandbox-rec").hexdigest()


def _authentic(key: bytes, record: Mapping[str, object]) -> bool:
    import hmac

    mac = record.get("mac")
    return isinstance(mac, str) and hmac.compare_digest(mac, _mac(key, record))


def _prune(directory: str, keep: str) -> None:
    """Remove records whose supervisor is gone (killed before it could clean up)."""
    uid = os.getuid()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name == keep or not name.endswith(".json") or name.startswith("."):
            continue
        path = os.path.join(directory, name)
        raw = _load(path, uid)
        supervisor = raw.get("supervisor") if raw is not None else None
        try:
            alive = proc_start_time(supervisor["pid"]) == supervisor["start"]  # type: ignore[index]
        except (KeyError, TypeError):
            alive = False
        if not alive:
            try:
                os.unlink(path)
            except OSError:
                pass


def _write(directory: str, session: str, path: str, data: bytes) -> None:
    _ensure_dir(directory)
    temporary = os.path.join(directory, f".{session}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def unregister(path: str) -> None:
    """Remove a record written by :func:`register` (gone already is fine)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    try:
        os.rmdir(os.path.dirname(path))  # the last one leaves nothing behind
    except OSError:
        pass


def _load(path: str, uid: int) -> dict[str, object] | None:
    """A record's JSON, or None when unreadable, not ours or malformed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_size > 1 << 20:
            return None
        data = os.read(fd, st.st_size + 1)
    finally:
        os.close(fd)
    import json

    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("version") == _VERSION else None


def list_sessions(
    runtime: str | None = None, *, prune: bool = True, key: bytes | None = None
) -> list[SessionRecord]:
    """Live sessions of this uid, oldest first; stale, malformed or forged records are removed.

    ``key``: the record key (default: :func:`bwsandbox._paths.record_key`).
    """
    from bwsandbox._paths import record_key
    from bwsandbox.runtime._registry_record import SessionRecord

    directory = registry_dir(runtime_dir() if runtime is None else runtime)
    uid = os.getuid()
    if not _private_dir(directory, uid):
        return []
    secret = record_key() if key is None else key
    found: list[SessionRecord] = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = os.path.join(directory, name)
        raw = _load(path, uid)
        if raw is not None and not _authentic(secret, raw):
            raw = None  # changed by someone without the key: never trusted
        record = None if raw is None else SessionRecord.from_json(raw, path)
        if record is not None and record.id == name.removesuffix(".json") and record.alive():
            found.append(record)
        elif prune:
            unregister(path)
    found.sort(key=lambda r: (r.started, r.id))
    return found


def find_session(
    ident: str, runtime: str | None = None, *, key: bytes | None = None
) -> SessionRecord:
    """The live session whose id is ``ident`` or starts with it (unique); else LaunchError."""
    sessions = list_sessions(runtime, key=key)
    exact = [s for s in sessions if s.id == ident]
    matches = exact or [s for s in sessions if ident and s.id.startswith(ident)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LaunchError(
            f"no running sandbox with id {ident!r}", hint="`agent-sandbox ps` lists them"
        )
    ids = ", ".join(s.id for s in matches)
    raise LaunchError(f"sandbox id {ident!r} is ambiguous ({ids})", hint="give more characters")

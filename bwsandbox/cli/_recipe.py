"""Build a cache entry on a miss: dependencies captured *before* the launch, checked after.

:func:`stamp_inputs` (before anything is read) and :func:`prepare` (after the full path
prepared the session once: ``bwsandbox._prepare``, before the runtime starts anything) stamp
every input; :func:`finish` (after the runtime started the sandbox: it runs while the command
does, off the critical path) reads the policy again and compares it with the one compiled
(stamp first, read again after: a policy file saved in between is "do not cache"), renders
the session's plan and the runtime's own plan the same way and stores the entry only when
both are identical. So the stored dependencies describe exactly the state the stored plan was
compiled from: a change during the launch (a concurrent sandbox editing the project, a policy
file saved mid-way) means "do not cache", never a stale hit.

The recipe is plain marshal-able data:

- ``bwrap``, ``argv``: the rendered argv; the work dir appears as :data:`WORKDIR` and each fd
  as an empty token whose position is listed in ``fds`` (``[(index, name)]``);
  ``command_len``: how many tokens at the end are the command (bwrap's options before its
  ``--`` travel in an ``--args`` memfd, see ``runtime._launcher``);
- ``env``: ``[(name, value)]``; ``value`` None means "the host's value" (the key covers the
  whole environment, so it is the same): host secrets never enter the cache file;
- ``data``: ``[(fd name, content)]`` for ``--ro-bind-data`` (work dir as :data:`WORKDIR_B`);
- ``placeholders``, ``protected``, ``watched``: what ``runtime._protect.ProtectedPaths``
  checks around the session;
- ``tmpdir``, ``sessions`` (the client's sessions dir), ``keep_workdir``, ``audit_start``:
  the runtime's audit ``start`` record as JSON text with :data:`SESSION`, :data:`TIME` and
  :data:`WORKDIR_JSON` in place of per-session values, ``workdir_json``: tmpdir JSON-escaped.
"""

# os.path like the runtime: paths stay plain strings end to end
# ruff: noqa: PTH102, PTH106, PTH109, PTH113, PTH118, PTH120, SIM105

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable, Mapping

from bwsandbox import _paths
from bwsandbox._errors import SandboxError
from bwsandbox._jsontext import dumps
from bwsandbox._record import record, replace
from bwsandbox.cli import _plancache
from bwsandbox.cli._plancache import Dep, signature
from bwsandbox.cli._resolve import Resolved, resolve
from bwsandbox.compile import MountEntry, SandboxPlan
from bwsandbox.policy import NetworkMode, enforced_deps, policy_digest
from bwsandbox.runtime import Prepared as PreparedSession
from bwsandbox.runtime import Sandbox, find_bwrap, sandbox_lookup, spec_for, start_record

__all__ = [
    "SESSION",
    "TIME",
    "WORKDIR",
    "WORKDIR_B",
    "WORKDIR_JSON",
    "Prepared",
    "Stamps",
    "finish",
    "prepare",
    "stamp_inputs",
]

WORKDIR = "\0workdir\0"
WORKDIR_B = WORKDIR.encode()
#: placeholders in the audit JSON text (plain ASCII: json.dumps keeps them as they are)
WORKDIR_JSON = "@@bwsandbox-workdir@@"
SESSION = "@@bwsandbox-session@@"
TIME = "@@bwsandbox-time@@"
_PIPES = ("info", "block", "json-status")


@record
class Prepared:
    """What :func:`prepare` found: the dependencies stamped before the launch, and what
    :func:`finish` needs to check and render the session's own compile after it."""

    deps: tuple[Dep, ...]
    plan: SandboxPlan
    workdir: str
    environ: dict[str, str]
    name: str
    values: dict[str, object]
    words: tuple[str, ...]


def _argv(plan: SandboxPlan, workdir: str) -> tuple[list[str], list[tuple[int, str]]]:
    """The launcher's argv for ``plan`` (fd slots empty, the work dir symbolic), its fds."""
    spec = spec_for(plan)
    slots = {index for index, _ in spec.fds}
    argv = ["" if i in slots else t.replace(workdir, WORKDIR) for i, t in enumerate(spec.argv)]
    return argv, spec.fds


def _audit_start(resolved: Resolved, plan: SandboxPlan, workdir: str) -> str:
    """The runtime's ``start`` event for this plan, with placeholders (see module doc)."""
    record = {
        "time": TIME,
        "event": "start",
        "session": SESSION,
        **start_record(
            policy=resolved.policy.name,
            policy_digest=policy_digest(resolved.policy),
            sources=resolved.policy.sources,
            argv=[token.replace(workdir, WORKDIR_JSON) for token in plan.argv()],
            command=plan.command,
            network=plan.network.mode.value,
            project=resolved.project,
            workdir=WORKDIR_JSON,
            interactive=False,
            client=resolved.client,
        ),
    }
    return dumps(record, separators=(",", ":"), default=str)


def _cacheable(resolved: Resolved, plan: SandboxPlan) -> bool:
    """Whether a recipe may be made of ``plan`` (the cheap checks; :func:`_render` adds
    :func:`._plancache.exposes_cache`)."""
    if (
        plan.network.mode is NetworkMode.FILTERED
        or any(item.secret for item in plan.data)
        or plan.secrets  # read at launch by the runtime, never cached
        or plan.ssh is not None
        or plan.limits  # cgroups, rlimits and the timeout: the runtime's path only
        or resolved.policy.mcp.servers  # sibling sandboxes: started by the full path only
    ):
        return False
    data_names = {item.fd.name for item in plan.data}
    return all(ref.name in data_names or ref.name in _PIPES for ref in plan.fd_refs())


def _render(
    resolved: Resolved, plan: SandboxPlan, workdir: str, environ: Mapping[str, str]
) -> dict[str, object] | None:
    """The recipe for ``plan`` (None when it must not be cached)."""
    if not _cacheable(resolved, plan) or _plancache.exposes_cache(plan):
        return None
    argv, fds = _argv(plan, workdir)
    env = [
        (name, None if environ.get(name) == value else value.replace(workdir, WORKDIR))
        for name, value in plan.env
    ]
    data = [(item.fd.name, item.content.replace(workdir.encode(), WORKDIR_B)) for item in plan.data]
    return {
        "bwrap": plan.bwrap,
        "argv": argv,
        "command_len": len(plan.command),  # argv[-command_len - 1] is the "--" before it
        "fds": fds,
        "env": env,
        "data": data,
        "placeholders": [
            (path.replace(workdir, WORKDIR), kind) for path, kind in plan.placeholders
        ],
        "protected": [path.replace(workdir, WORKDIR) for path in plan.protected],
        "watched": [path.replace(workdir, WORKDIR) for path in plan.watched],
        "sessions": os.path.join(_paths.client_dir(resolved.client), "sessions"),
        "record_key": _paths.record_key_path(),
        "keep_workdir": resolved.keep_workdir,
        "terminal_filter": resolved.policy.hardening.terminal_filter,
        "audit_start": _audit_start(resolved, plan, workdir),
    }


def _command_deps(plan: SandboxPlan, workdir: str) -> list[Dep]:
    """Host paths the runtime's command lookup looks at (the hit, and the misses before it).

    The lookup walks the sandbox's mounts; the work dir is not there yet, so an empty
    stand-in (``tmp/`` and ``home/``, like a fresh work dir) takes its place meanwhile.
    """
    name = plan.command[0] if plan.command else ""
    if not name:
        return []
    stand_in = _make_stand_in()
    subs = [os.path.join(stand_in, sub) for sub in ("tmp", "home")]
    try:
        for sub in subs:
            os.mkdir(sub, 0o700)
        mounts = tuple(
            replace(entry, src=entry.src.replace(workdir, stand_in)) for entry in plan.mounts
        )
        return _lookup_deps(name, plan, mounts)
    finally:
        for path in (*subs, stand_in):
            try:
                os.rmdir(path)  # empty dirs only: never follows or removes anything else
            except OSError:
                pass


def _make_stand_in() -> str:
    """A new empty private dir in the temporary dir (``tempfile.mkdtemp`` without importing
    :mod:`tempfile`: it brings shutil, random, bz2, lzma ... about 5 ms; the fallback)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(8):
        path = os.path.join(base, f"bwsandbox-lookup-{os.urandom(8).hex()}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError:
            break
        return path
    import tempfile  # TMPDIR unusable: tempfile's search of the usual places

    return tempfile.mkdtemp(prefix="bwsandbox-lookup-")


def _lookup_deps(name: str, plan: SandboxPlan, mounts: tuple[MountEntry, ...]) -> list[Dep]:
    if "/" in name:
        candidates = [posixpath.normpath(posixpath.join(plan.cwd, name))]
    else:
        search = dict(plan.env).get("PATH", "/usr/local/bin:/usr/bin:/bin")
        candidates = [posixpath.join(d, name) for d in search.split(":") if d.startswith("/")]
    deps: list[Dep] = []
    for candidate in candidates:
        _, host = sandbox_lookup(mounts, candidate)
        if not host:
            continue
        runnable = signature("x", host)
        deps += [("k", host, signature("k", host)), ("x", host, runnable)]
        if isinstance(runnable, tuple) and runnable[0] == stat.S_IFREG and runnable[1] & 0o111:
            break  # the lookup stops at the first executable file, as the runtime's does
    return deps


def _input_deps(environ: Mapping[str, str], given_project: str) -> list[Dep]:
    """Stamps taken before anything is read: account files, policy dirs, bwrap, project."""
    deps: list[Dep] = [("c", path, signature("c", path)) for path in ("/etc/passwd", "/etc/group")]
    dirs = (_paths.user_policies_dir(), _paths.shipped_policies_dir())
    deps += [("d", directory, signature("d", directory)) for directory in dirs]
    deps.append(("r", given_project, signature("r", given_project)))
    bwrap = find_bwrap(environ)
    deps.append(("c", bwrap, signature("c", bwrap)))
    if not environ.get("BWSANDBOX_BWRAP"):
        for directory in environ.get("PATH", os.defpath).split(os.pathsep):
            candidate = os.path.join(directory or ".", "bwrap")
            if candidate == bwrap:
                break
            deps.append(("k", candidate, signature("k", candidate)))
    return deps


#: the stamps :func:`stamp_inputs` takes before anything is read
Stamps = tuple[Dep, ...]


def stamp_inputs(values: Mapping[str, object]) -> Stamps:
    """Stamps taken before the policy is read and the host probed (see :func:`_input_deps`)."""
    given = values.get("project")
    return tuple(_input_deps(dict(os.environ), str(given) if given else os.getcwd()))


def prepare(
    stamps: Stamps,
    *,
    name: str,
    values: dict[str, object],
    words: tuple[str, ...],
    resolved: Resolved,
    session: PreparedSession,
) -> Prepared | None:
    """Stamp the session the full path prepared (compiled once) for the cache, when possible.

    Nothing is compiled here: the recipe renders ``session.plan`` with its work dir path
    made symbolic, the plan the runtime then launches.
    """
    environ = dict(os.environ)
    if resolved.interactive or resolved.policy.devices.gpu:
        return None  # a terminal; device nodes and driver files come and go: probe each time
    facts, workdir = session.facts, session.workdir
    if not _cacheable(resolved, session.plan):
        return None
    deps = list(stamps)
    sources = [path for path in resolved.policy.sources if os.path.isfile(path)]
    deps += [("c", path, signature("c", path)) for path in sources]
    # the admin-enforced policy: created, changed, chmod-ed or removed -> a miss
    deps += [(tag, path, signature(tag, path)) for tag, path in enforced_deps(environ)]
    deps += [
        ("k", path, (info.kind.value, info.target))
        for path, info in facts.paths.items()
        if not _plancache.under(path, workdir)  # the session's own work dir: made by the runtime
    ]
    deps += [("k", facts.tmpdir, signature("k", facts.tmpdir))]
    # the host's git config and ignore files (the generated gitconfig and ignore file)
    deps += [("c", path, signature("c", path)) for path in facts.git.sources]
    deps += _command_deps(session.plan, workdir)
    deps += [("c", path, signature("c", path)) for path in _plancache.module_files()]
    return Prepared(tuple(deps), session.plan, workdir, environ, name, dict(values), words)


def finish(
    prepared: Prepared, resolved: Resolved, sandbox: Sandbox, environ: Mapping[str, str]
) -> tuple[Iterable[Dep], dict[str, object]] | None:
    """The entry to store, when the runtime launched exactly what :func:`prepare` compiled
    from the policy as stamped (called after the launch: nothing here delays the command)."""
    workdir = sandbox.workdir
    if workdir is None:
        return None
    # the policy files were stamped before this second read: equal means the stamps
    # describe the policy compiled (a file saved in between changed its stamp, or this)
    try:
        again = resolve(prepared.name, prepared.values, prepared.words).policy
    except (SandboxError, OSError, ValueError):
        return None  # e.g. the sandbox wrote a broken policy file: the run goes on, uncached
    if again != resolved.policy:
        return None
    mine = _render(resolved, prepared.plan, prepared.workdir, prepared.environ)
    recipe = _render(resolved, sandbox.plan, workdir, environ)
    if recipe is None or recipe != mine:
        return None
    tmpdir = os.path.dirname(workdir)
    recipe["tmpdir"] = tmpdir
    recipe["workdir_json"] = dumps(tmpdir)[1:-1]
    return prepared.deps, recipe

"""Run a second process inside a running sandbox, with the restrictions of its first one.

The caller (host) forks a helper that joins the sandbox's namespaces from the outside:

1. the user namespace that owns the sandbox's mount namespace (bwrap's outer one): as its
   owner the helper gets every capability there, which joining mount, pid, net, ipc, uts and
   cgroup namespaces needs; then the sandbox's root directory (``/proc/PID/root``);
2. the innermost user namespace, the one of the sandboxed command (``bwrap --uid`` and
   ``--disable-userns`` nest one), where it again holds every capability;

then forks the command's process (``setns`` into a pid namespace applies to children only),
which starts a new session (no controlling terminal: no TIOCSTI into the host's; on a
terminal it gets a private pty instead, relayed like the first process's), takes the
sandbox's uid/gid and rlimits, drops every capability (bounding set, ambient, inheritable,
permitted, effective), sets no_new_privs and the parent-death signal, closes every other
descriptor, changes to the sandbox's cwd, installs the sandbox's seccomp program and executes
the command with the sandbox's environment. The helper first joins the session's cgroups
(resource limits), so the command is born inside them.

The namespaces come from the sandbox's pid 1 (bwrap's init), never from a process the
sandboxed code controls. The record is authenticated (``_registry``), and what the kernel can
tell is re-derived rather than taken from it (:func:`rederive`): the uid and gid are the ones
the sandbox's first command runs as, mapped through its user namespace, and a record without a
seccomp program is refused while that command runs under a filter.

Failures before the command runs travel back over a pipe as ``fail STAGE ERRNO``; the exit
status follows the CLI contract (126/127 when the command cannot be run / is not found, 128+N
for signal N).
"""

# os-level on purpose: /proc paths and descriptors
# ruff: noqa: PTH116, PTH118, PTH123

from __future__ import annotations

import contextlib
import ctypes
import errno as errnos
import fcntl
import os
import resource
import select
import signal
import termios
import warnings
from collections.abc import Callable, Sequence

from bwsandbox._errors import CommandNotExecutableError, CommandNotFoundError, LaunchError
from bwsandbox._record import replace
from bwsandbox.runtime._exec_pty import (
    OutputPty,
    open_exec_pty,
    open_output_ptys,
    relay,
    relay_output,
)
from bwsandbox.runtime._launcher import Forwarder, exit_code

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.runtime._registry_record import SessionRecord

__all__ = ["NAMESPACES", "exec_in_session", "rederive"]

#: namespaces joined, in order, after the owner of the mount namespace ("user" comes last)
NAMESPACES = ("mnt", "pid", "net", "ipc", "uts", "cgroup")
_NS_GET_USERNS = 0xB701
_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_BPF_INSTRUCTION = 8  # sizeof(struct sock_filter)
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def exec_in_session(
    session: SessionRecord,
    argv: Sequence[str],
    *,
    stdin: int = 0,
    stdout: int = 1,
    stderr: int = 2,
    _skip: frozenset[str] = frozenset(),
) -> int:
    """Run ``argv`` inside ``session``; its exit status (128+N for signal N).

    Raises LaunchError when the sandbox cannot be entered, CommandNotFoundError (127) and
    CommandNotExecutableError (126) when the command cannot be run. When ``stdin`` and
    ``stdout`` are terminals the command gets a private pty (relayed; the host terminal is in
    raw mode meanwhile). ``_skip`` removes named defences (``"caps"``, ``"no-new-privs"``,
    ``"seccomp"``, ``"limits"``, ``"pty"``, ``"setsid"``, ``"close-fds"``, ``"rederive"`` or a
    namespace name) and exists only so tests can show that each one matters.
    """
    if not argv:
        raise LaunchError("no command to run", hint="agent-sandbox exec ID -- COMMAND [ARG...]")
    session.verify()
    if "rederive" not in _skip:
        session = rederive(session)
    fds = _Namespaces(session, _skip)
    try:
        session.verify()  # the pid was still the sandbox's once its namespaces were open
        return _run(session, list(argv), fds, (stdin, stdout, stderr), _skip)
    finally:
        fds.close()


def rederive(session: SessionRecord) -> SessionRecord:
    """``session`` with what the kernel tells instead of what the record says; LaunchError.

    - uid and gid: the ids the sandbox's first command runs as (pid 1 when it has none), read
      from ``/proc/PID/status`` and mapped through ``/proc/PID/{uid,gid}_map`` into its user
      namespace;
    - seccomp: when that command runs under a filter (``Seccomp: 2``), a record without a
      program is refused (it was changed, or written by something else).
    """
    pid = session.command_pid() or session.init.pid
    try:
        status = _status(pid)
        uid = _inside_id(pid, "uid", int(status["Uid"].split()[0]))
        gid = _inside_id(pid, "gid", int(status["Gid"].split()[0]))
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise LaunchError(
            f"cannot read the credentials of sandbox {session.id}'s process {pid}",
            hint="is it still running? `agent-sandbox ps` lists the running sandboxes",
        ) from exc
    filtered = pid != session.init.pid and status.get("Seccomp", "0").strip() == "2"
    if filtered and not session.seccomp:
        raise LaunchError(
            f"the record of sandbox {session.id} has no seccomp program, but its command "
            "runs under one: the record was changed",
            hint=f"not entering it; `agent-sandbox stop {session.id}` stops the sandbox",
        )
    return replace(session, uid=uid, gid=gid)


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as file:
        lines = file.read().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _inside_id(pid: int, kind: str, outside: int) -> int:
    """The id in ``pid``'s user namespace that the host id ``outside`` maps to."""
    with open(f"/proc/{pid}/{kind}_map", encoding="ascii") as file:
        for line in file:
            inside, lower, count = (int(word) for word in line.split())
            if lower <= outside < lower + count:
                return inside + outside - lower
    raise ValueError(f"host {kind} {outside} is not mapped in process {pid}'s namespace")


#: every rlimit the kernel has, as ``resource`` names them
_RLIMITS = tuple(getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_"))


class _Namespaces:
    """What the sandbox's pid 1 has, read from the host: namespaces, root, limits.

    ``cgroups``: write ends of ``cgroup.procs`` of the session cgroups (resource limits) the
    helper joins before anything else; ``rlimits``: pid 1's, applied to the command.
    """

    def __init__(self, session: SessionRecord, skip: frozenset[str]) -> None:
        pid = session.init.pid
        self.fds: list[int] = []
        self.join: list[tuple[str, int]] = []  # (name, fd) in the order to join
        self.cgroups: list[int] = []
        self.rlimits: list[tuple[int, int, int]] = []
        try:
            if "limits" not in skip:
                self.cgroups = [self._keep(fd) for fd in _session_cgroups(pid, session.id)]
                for which in _RLIMITS:
                    soft, hard = resource.prlimit(pid, which)
                    self.rlimits.append((which, soft, hard))
            own = {name: os.stat(f"/proc/self/ns/{name}").st_ino for name in ("user", *NAMESPACES)}
            mnt = self._open(f"/proc/{pid}/ns/mnt")
            outer = self._keep(fcntl.ioctl(mnt, _NS_GET_USERNS))
            inner = self._open(f"/proc/{pid}/ns/user")
            self.root = self._open(f"/proc/{pid}/root", os.O_DIRECTORY)
            if os.fstat(outer).st_ino != own["user"]:
                self.join.append(("user", outer))
            for name in NAMESPACES:
                fd = mnt if name == "mnt" else self._open(f"/proc/{pid}/ns/{name}")
                if name not in skip and os.fstat(fd).st_ino != own[name]:
                    self.join.append((name, fd))
            if os.fstat(inner).st_ino not in (os.fstat(outer).st_ino, own["user"]):
                self.join.append(("user", inner))
        except OSError as exc:
            self.close()
            raise LaunchError(
                f"cannot read the namespaces and limits of sandbox process {pid}: "
                f"{exc.strerror or exc}",
                hint="is it still running? `agent-sandbox ps` lists the running sandboxes",
            ) from exc

    def _open(self, path: str, flags: int = 0) -> int:
        return self._keep(os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags))

    def _keep(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()


def _session_cgroups(pid: int, session: str) -> list[int]:
    """``cgroup.procs`` (opened for writing) of each cgroup made for ``session`` holding pid."""
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as file:
        lines = file.read().splitlines()
    fds: list[int] = []
    try:
        for line in lines:
            hierarchy, controllers, path = line.split(":", 2)
            if path.rsplit("/", 1)[-1] != f"bwsandbox-{session}":
                continue
            base = "/sys/fs/cgroup"
            if hierarchy != "0":  # cgroup v1: one mount per hierarchy
                base = os.path.join(base, controllers.removeprefix("name="))
            procs = os.path.join(base, path.lstrip("/"), "cgroup.procs")
            fds.append(os.open(procs, os.O_WRONLY | os.O_CLOEXEC))
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def _run(
    session: SessionRecord,
    argv: list[str],
    ns: _Namespaces,
    stdio: tuple[int, int, int],
    skip: frozenset[str],
) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    pty = open_exec_pty(stdio) if "pty" not in skip else None
    child_stdio = stdio if pty is None else (pty.slave, pty.slave, pty.slave)
    outputs: list[OutputPty] = []
    if pty is None and "pty" not in skip:  # output to a terminal: through the filter
        child_stdio, outputs = open_output_ptys(stdio)
    reports = _Reports()

    def deliver(signum: int) -> None:
        for pid in reports.target:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    forwarder = Forwarder(  # the launcher's signals, as every path forwards them
        deliver,
        running=lambda: bool(reports.target) and not reports.done,
        kill=lambda: deliver(signal.SIGKILL),
        resize=None if pty is None else pty.sync_winsize,
        tty=pty is not None,
        hold=True,  # until the helper says the command's pid (it may be running already)
    )
    reports.started = forwarder.start
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    parent = os.getpid()
    # before the fork: a signal sent once the command runs must find our handlers (the
    # command resets every disposition before it executes; the helper never forwards)
    restore = forwarder.install()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            helper = os.fork()
        if helper == 0:  # pragma: no cover - runs in the forked helper
            _helper(
                libc,
                session=session,
                argv=argv,
                ns=ns,
                stdio=child_stdio,
                ctty=pty is not None,
                skip=skip,
                parent=parent,
                report_r=report_r,
                report_w=report_w,
            )
        os.close(report_w)
        if pty is not None:
            pty.close_slave()
        for output in outputs:
            output.close_slave()
        if outputs:
            relay_output(outputs, report_r, reports.feed)
        elif pty is None:
            while chunk := os.read(report_r, 4096):
                reports.feed(chunk)
        else:
            relay(pty, stdio[0], stdio[1], report_r, reports.feed)
        status = _wait(helper)
    finally:
        restore()
        os.close(report_r)
        for output in outputs:
            output.close()
        if pty is not None:
            if pty.host is not None:
                pty.host.restore()
            pty.close()
    return _outcome(session, argv, reports.lines, status)


class _Reports:
    """The helper's report lines (``pid N``, ``fail STAGE ERRNO``, ``exit STATUS``)."""

    def __init__(self) -> None:
        self.lines: list[list[str]] = []
        self.target: list[int] = []  # the command's host pid, once the helper says it
        self.done = False  # the helper reported the command's exit
        self.started: Callable[[], None] = lambda: None  # called once the pid is known
        self._data = b""

    def feed(self, chunk: bytes) -> None:
        self._data += chunk
        while b"\n" in self._data:
            line, self._data = self._data.split(b"\n", 1)
            words = line.decode(errors="replace").split()
            if words[:1] == ["pid"] and len(words) == 2 and not self.target:
                self.target.append(int(words[1]))
                self.started()
            if words[:1] == ["exit"]:
                self.done = True
            self.lines.append(words)


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return 255 << 8


def _outcome(
    session: SessionRecord, argv: list[str], messages: list[list[str]], status: int
) -> int:
    for words in messages:
        if words[:1] == ["fail"] and len(words) == 3:
            stage, number = words[1], int(words[2])
            reason = os.strerror(number)
            if stage == "exec":
                if number in (errnos.ENOENT, errnos.ENOTDIR):
                    raise CommandNotFoundError(
                        f"{argv[0]}: command not found in sandbox {session.id}"
                    )
                raise CommandNotExecutableError(
                    f"cannot run {argv[0]} in sandbox {session.id}: {reason}"
                )
            raise LaunchError(
                f"cannot enter sandbox {session.id}: {stage}: {reason}",
                hint="is it still running? `agent-sandbox ps` lists the running sandboxes",
            )
    for words in messages:
        if words[:1] == ["exit"] and len(words) == 2:
            return exit_code(int(words[1]))
    if os.WIFSIGNALED(status):
        raise LaunchError(
            f"the exec helper for sandbox {session.id} died of signal {os.WTERMSIG(status)}"
        )
    raise LaunchError(f"the exec helper for sandbox {session.id} failed")


# -- in the forked helper and the command's process ------------------------------------------


def _say(fd: int, *words: object) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, (" ".join(str(w) for w in words) + "\n").encode())


def _check(result: int, stage: str) -> None:
    if result != 0:
        raise _StageError(stage, ctypes.get_errno())


class _StageError(Exception):
    def __init__(self, stage: str, number: int) -> None:
        super().__init__(stage)
        self.stage = stage
        self.number = number or errnos.EPERM


def _helper(  # pragma: no cover - runs in the forked helper
    libc: ctypes.CDLL,
    *,
    session: SessionRecord,
    argv: list[str],
    ns: _Namespaces,
    stdio: tuple[int, int, int],
    ctty: bool,
    skip: frozenset[str],
    parent: int,
    report_r: int,
    report_w: int,
) -> None:
    """Join the namespaces, fork the command, wait for it, report its status. Never returns."""
    code = 1
    try:
        os.close(report_r)
        _check(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
        if os.getppid() != parent:
            os._exit(1)
        for fd in ns.cgroups:  # first: the command is born inside the session's limits
            os.write(fd, b"0")
        if os.getuid() == 0:
            with contextlib.suppress(OSError):
                os.setgroups([])  # host root's groups stay outside (as bwrap's do)
        for name, fd in ns.join:
            _check(libc.setns(fd, 0), f"setns({name})")
            if name == "mnt":
                os.fchdir(ns.root)
                os.chroot(".")
        ns.close()
        lifeline_r, lifeline_w = os.pipe2(os.O_CLOEXEC)
        child = os.fork()
        if child == 0:
            os.close(lifeline_w)
            _command(
                libc,
                rlimits=ns.rlimits,
                session=session,
                argv=argv,
                stdio=stdio,
                ctty=ctty,
                skip=skip,
                lifeline=lifeline_r,
                report_w=report_w,
            )
        os.close(lifeline_r)
        _say(report_w, "pid", child)
        status = os.waitpid(child, 0)[1]
        _say(report_w, "exit", status)
        code = 0
    except _StageError as exc:
        _say(report_w, "fail", exc.stage, exc.number)
    except OSError as exc:
        _say(report_w, "fail", "enter", exc.errno or errnos.EIO)
    except BaseException:  # noqa: BLE001, S110 - the status below says it failed
        pass
    finally:
        os._exit(code)


def _command(  # pragma: no cover - runs in the command's process
    libc: ctypes.CDLL,
    *,
    rlimits: list[tuple[int, int, int]],
    session: SessionRecord,
    argv: list[str],
    stdio: tuple[int, int, int],
    ctty: bool,
    skip: frozenset[str],
    lifeline: int,
    report_w: int,
) -> None:
    """Become the sandboxed command: credentials, capabilities, fds, cwd, exec."""
    stage = "credentials"
    try:
        if "setsid" not in skip:
            os.setsid()
        os.setresgid(session.gid, session.gid, session.gid)
        os.setresuid(session.uid, session.uid, session.uid)
        stage = "rlimits"
        for which, soft, hard in rlimits:
            _, own_hard = resource.getrlimit(which)
            new_hard = _lowest(hard, own_hard)
            resource.setrlimit(which, (_lowest(soft, new_hard), new_hard))
        if "caps" not in skip:
            stage = "capabilities"
            _drop_capabilities(libc)
        if "no-new-privs" not in skip:
            _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no-new-privs")
        _check(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
        if select.select([lifeline], [], [], 0)[0]:  # the helper died before PDEATHSIG was set
            os._exit(1)
        stage = "stdio"
        for target, fd in enumerate(stdio):
            if fd != target:
                os.dup2(fd, target)
            os.set_inheritable(target, True)
        if ctty:  # the private pty becomes the terminal of the command's new session
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if "close-fds" not in skip:
            os.closerange(3, report_w)
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            os.closerange(report_w + 1, max(1 << 16, limit))
        stage = "chdir"
        os.chdir(session.cwd)
        for signum in range(1, signal.NSIG):
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        if session.seccomp and "seccomp" not in skip:
            _install_filter(libc, session.seccomp)  # last: it may refuse what came before
        stage = "exec"
        os.execvpe(argv[0], argv, dict(session.env))  # noqa: S606 - the user's command
    except _StageError as exc:
        _say(report_w, "fail", exc.stage, exc.number)
    except OSError as exc:
        _say(report_w, "fail", stage, exc.errno or errnos.EIO)
    finally:
        os._exit(127)


def _drop_capabilities(libc: ctypes.CDLL) -> None:  # pragma: no cover - in the command
    """Empty the bounding and ambient sets, then inheritable, permitted and effective."""
    for cap in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == errnos.EINVAL:
                break  # past the kernel's last capability
            raise _StageError("capabilities", ctypes.get_errno())
    _check(libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "capabilities")
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capabilities")


def _install_filter(libc: ctypes.CDLL, program: bytes) -> None:  # pragma: no cover - in the command
    """Install the sandbox's seccomp program (what bwrap's ``--seccomp`` did for pid 1's child)."""
    if len(program) % _BPF_INSTRUCTION:
        raise _StageError("seccomp", errnos.EINVAL)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // _BPF_INSTRUCTION, ctypes.cast(buffer, ctypes.c_void_p))
    _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def _lowest(a: int, b: int) -> int:
    """The tighter of two rlimit values (``RLIM_INFINITY`` is the loosest)."""
    if a == resource.RLIM_INFINITY:
        return b
    if b == resource.RLIM_INFINITY:
        return a
    return min(a, b)

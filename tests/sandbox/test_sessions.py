"""Running sandboxes: ``ps``, ``exec ID -- CMD``, ``stop ID``, against real bwrap sandboxes.

A long-running sandbox is started with ``agent-sandbox run`` (its first process leaves what it
sees in the project: a file, its pid, env, cwd, hostname, uid). ``exec`` must see the same
world with the same restrictions. Each security test also runs ``exec`` with the defence
removed (``_skip``) and shows the attack then works, so the test cannot pass without it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from bwsandbox._paths import record_key
from bwsandbox.runtime._exec import exec_in_session
from bwsandbox.runtime._registry import (
    _mac,
    find_session,
    list_sessions,
    proc_start_time,
    registry_dir,
)
from bwsandbox.runtime._registry_record import SessionRecord
from tests.conftest import IS_ROOT, Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

FIRST = (
    "echo from-first > first.txt; echo $$ > first.pid; env | sort > first.env; pwd > first.cwd;"
    " hostname > first.host; id -u > first.uid; id -g > first.gid; cat /proc/self/cgroup >"
    " first.cgroup; grep -E '^Max (data size|processes|open files)' /proc/self/limits >"
    " first.limits; touch first.ready;"
    " exec sleep 120"
)
_START_TIMEOUT = 30.0


@dataclass
class Running:
    """A sandbox started by ``agent-sandbox run`` whose first process is ``sleep``."""

    proc: subprocess.Popen[bytes]
    record: SessionRecord
    project: Path

    @property
    def id(self) -> str:
        return self.record.id

    def first(self, name: str) -> str:
        return (self.project / f"first.{name}").read_text()


def start(cli: Cli, project: Path, *options: str) -> Running:
    for leftover in project.glob("first.*"):
        leftover.unlink()
    proc = subprocess.Popen(
        [*cli.command, "run", *options, "--", "sh", "-c", FIRST],
        env=cli.env,
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        found = list_sessions(str(cli.runtime_dir))
        if found and (project / "first.ready").exists():
            return Running(proc, found[-1], project)
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the sandbox did not come up: {proc.returncode}\n{out!r}\n{err!r}")
        time.sleep(0.02)


def finish(running: Running) -> None:
    if running.proc.poll() is None:
        running.proc.terminate()
        try:
            running.proc.wait(20)
        except subprocess.TimeoutExpired:
            running.proc.kill()
    running.proc.communicate()


@pytest.fixture
def running(cli: Cli, project: Path) -> Iterator[Running]:
    sandbox = start(cli, project)
    yield sandbox
    finish(sandbox)


def inside(running: Running, script: str, skip: frozenset[str] = frozenset()) -> tuple[int, str]:
    """``exec`` a shell script through the library (so a defence can be removed)."""
    with tempfile.TemporaryFile() as out, Path(os.devnull).open("rb") as devnull:
        code = exec_in_session(
            running.record,
            ["sh", "-c", script],
            stdin=devnull.fileno(),
            stdout=out.fileno(),
            stderr=out.fileno(),
            _skip=skip,
        )
        out.seek(0)
        return code, out.read().decode(errors="replace")


def status_field(text: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(\S+)", text, re.MULTILINE)
    assert match, text
    return match.group(1)


# -- ps -------------------------------------------------------------------------------------


def test_ps_lists_the_running_sandbox(cli: Cli, running: Running, project: Path) -> None:
    result = cli("ps", "--json")
    assert result.returncode == 0, result.describe()
    (line,) = result.stdout.splitlines()
    row = json.loads(line)
    assert row["id"] == running.id
    assert re.fullmatch(r"[0-9a-f]{12}", row["id"])
    assert row["client"] == "default"
    assert row["agent"] == "base"
    assert row["project"] == str(project.resolve())
    assert row["network"] == "none"
    started = datetime.fromisoformat(row["started"].replace("Z", "+00:00"))
    assert started.tzinfo is not None
    assert row["supervisor_pid"] == running.proc.pid
    assert "env" not in row, "ps never shows the sandbox's environment (it may hold secrets)"

    status = Path(f"/proc/{running.proc.pid}/status").read_text()
    assert row["supervisor_threads"] == int(status_field(status, "Threads"))
    rss = int(status_field(status, "VmRSS"))
    assert rss // 2 < row["supervisor_rss_kib"] < rss * 2, "the supervisor's memory, in KiB"

    table = cli("ps")
    header, entry = table.stdout.splitlines()
    assert header.split() == [
        "ID",
        "CLIENT",
        "AGENT",
        "PROJECT",
        "STARTED",
        "NETWORK",
        "SUP-MEM",
        "SUP-THREADS",
    ]
    cells = entry.split()
    assert cells[:6] == [
        running.id,
        "default",
        "base",
        str(project.resolve()),
        row["started"],
        "none",
    ]
    assert re.fullmatch(r"\d+M", cells[6]), cells
    assert cells[7] == str(row["supervisor_threads"]), "the supervisor's threads"


def test_the_record_is_private(cli: Cli, running: Running) -> None:
    directory = Path(registry_dir(str(cli.runtime_dir)))
    record = directory / f"{running.id}.json"
    assert (directory.stat().st_mode & 0o777) == 0o700
    assert (directory.parent.stat().st_mode & 0o777) == 0o700
    assert (record.stat().st_mode & 0o777) == 0o600
    assert record.stat().st_uid == os.getuid()


def test_a_stale_record_is_dropped(cli: Cli, running: Running) -> None:
    directory = Path(registry_dir(str(cli.runtime_dir)))
    dead = subprocess.Popen(["true"])
    dead.wait()
    raw = json.loads((directory / f"{running.id}.json").read_text())
    raw["id"] = "deadbeef0000"
    raw["supervisor"] = {"pid": dead.pid, "start": 1}
    stale = directory / "deadbeef0000.json"
    stale.write_text(json.dumps(raw))
    stale.chmod(0o600)
    reused = dict(raw, id="deadbeef0001", supervisor={"pid": os.getpid(), "start": 1})
    (directory / "deadbeef0001.json").write_text(json.dumps(reused))  # a pid reused since

    result = cli("ps", "--json")
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids == [running.id]
    assert not stale.exists()
    assert not (directory / "deadbeef0001.json").exists()
    missing = cli("exec", "deadbeef0000", "--", "true")
    assert missing.returncode == 125
    assert len(missing.error_lines) == 1, missing.describe()


def test_unknown_id_is_one_error_line(cli: Cli) -> None:
    for args in (("exec", "0123456789ab", "--", "true"), ("stop", "0123456789ab")):
        result = cli(*args)
        assert result.returncode == 125, result.describe()
        assert len(result.error_lines) == 1
        assert result.stderr.startswith("error: no running sandbox"), result.describe()


# -- exec: the same world -------------------------------------------------------------------


def test_exec_sees_the_first_process_world(cli: Cli, running: Running) -> None:
    pid = running.first("pid").strip()
    script = (
        "cat first.txt; pwd; hostname; id -u; id -g; env | sort > exec.env;"
        f" cat /proc/{pid}/comm; echo from-exec > exec.txt"
    )
    result = cli("exec", running.id[:5], "--", "sh", "-c", script)
    assert result.returncode == 0, result.describe()
    lines = result.stdout.splitlines()
    assert lines[0] == "from-first"
    assert lines[1] == running.first("cwd").strip()
    assert lines[2] == running.first("host").strip() == "sandbox"
    assert lines[3] == running.first("uid").strip()
    assert lines[4] == running.first("gid").strip()
    assert lines[5] == "sleep", "the first process, under the pid it sees itself"
    assert (running.project / "exec.txt").read_text() == "from-exec\n"
    first_env = [
        x for x in running.first("env").splitlines() if not x.startswith(("PWD=", "SHLVL="))
    ]
    exec_env = [
        x
        for x in (running.project / "exec.env").read_text().splitlines()
        if not x.startswith(("PWD=", "SHLVL="))
    ]
    assert exec_env == first_env


def test_exec_exit_statuses(cli: Cli, running: Running) -> None:
    assert cli("exec", running.id, "--", "sh", "-c", "exit 7").returncode == 7
    killed = cli("exec", running.id, "--", "sh", "-c", "kill -9 $$")
    assert killed.returncode == 128 + signal.SIGKILL
    missing = cli("exec", running.id, "--", "no-such-command-here")
    assert missing.returncode == 127, missing.describe()
    assert len(missing.error_lines) == 1
    not_exec = cli("exec", running.id, "--", "/etc/passwd")
    assert not_exec.returncode == 126, not_exec.describe()
    assert len(not_exec.error_lines) == 1
    piped = cli("exec", running.id, "--", "cat", input="through stdin\n")
    assert piped.stdout == "through stdin\n"


def test_exec_is_in_the_pid_namespace(running: Running) -> None:
    """The first process is visible under its own pid; without joining, the host's are."""
    pid = running.first("pid").strip()
    code, out = inside(running, f"cat /proc/{pid}/comm; kill -0 {pid} && echo signalled")
    assert code == 0, out
    assert out.split() == ["sleep", "signalled"]
    host = subprocess.Popen(["sleep", "60"])
    try:
        code, out = inside(running, f"kill -9 {host.pid} && echo killed")
        assert "killed" not in out
        assert host.poll() is None, "exec killed a host process"
        code, out = inside(running, f"kill -9 {host.pid} && echo killed", frozenset({"pid"}))
        assert "killed" in out, "control: without the pid namespace the kill works"
        host.wait(10)
    finally:
        host.kill()
        host.wait()


# -- exec: the same restrictions ------------------------------------------------------------


def test_exec_has_no_capabilities_and_no_new_privs(running: Running) -> None:
    code, out = inside(running, "cat /proc/self/status")
    assert code == 0, out
    for field in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert int(status_field(out, field), 16) == 0, field
    assert status_field(out, "NoNewPrivs") == "1"
    assert status_field(out, "Uid").isdigit()
    uid = int(status_field(out, "Uid"))
    assert str(uid) == running.first("uid").strip()
    if IS_ROOT:
        assert uid != 0

    # controls: each defence is what makes its line hold
    _, weak = inside(running, "cat /proc/self/status", frozenset({"caps"}))
    assert int(status_field(weak, "CapBnd"), 16) != 0, "without the drop the bounding set is full"
    # (without no_new_privs the kernel refuses the seccomp filter to an unprivileged process)
    _, weak = inside(running, "cat /proc/self/status", frozenset({"no-new-privs", "seccomp"}))
    assert status_field(weak, "NoNewPrivs") == "0"


TRACEME = (
    "python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True);"
    " print(libc.ptrace(0, 0, 0, 0), ctypes.get_errno())'"
)


def test_exec_has_the_same_syscall_filter(cli: Cli, running: Running) -> None:
    """bwrap's --seccomp program (ptrace is refused by default) applies to exec too."""
    first = cli("run", "--", "sh", "-c", TRACEME)
    assert first.stdout.split() == ["-1", "1"], first.describe()
    code, out = inside(running, f"grep '^Seccomp:' /proc/self/status; {TRACEME}")
    assert code == 0, out
    assert out.split() == ["Seccomp:", "2", "-1", "1"]
    assert running.record.seccomp, "the record carries the program"
    _, weak = inside(running, TRACEME, frozenset({"seccomp"}))
    assert weak.split() == ["0", "0"], "control: without the filter ptrace works"


def test_exec_cannot_read_host_files(running: Running, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host-only\n")
    code, out = inside(running, f"cat {secret}")
    assert code != 0
    assert "host-only" not in out
    if IS_ROOT:
        code, out = inside(running, "cat /etc/shadow")
        assert code != 0
        assert "root:" not in out
    _, weak = inside(running, f"cat {secret}", frozenset({"mnt"}))
    assert "host-only" in weak, "control: without the mount namespace the host file is read"


def test_exec_has_no_network_in_network_none(running: Running) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        probe = f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"
        _, out = inside(running, f"cat /proc/net/route | wc -l; bash -c '{probe}' 2>&1")
        lines = out.splitlines()
        assert lines[0].strip() == "1", "only the header: no routes"
        assert "connected" not in out
        _, weak = inside(running, f"bash -c '{probe}'", frozenset({"net"}))
        assert "connected" in weak, "control: without the network namespace it connects"
    finally:
        listener.close()


def test_exec_dies_with_its_parent(cli: Cli, running: Running) -> None:
    proc = subprocess.Popen(
        [*cli.command, "exec", running.id, "--", "sh", "-c", "echo $$ > exec.pid; exec sleep 60"],
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid_file = running.project / "exec.pid"
    deadline = time.monotonic() + _START_TIMEOUT
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline
        assert proc.poll() is None
        time.sleep(0.02)
    inner = pid_file.read_text().strip()
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        _, out = inside(running, f"cat /proc/{inner}/comm 2>/dev/null || echo gone")
        if out.strip() == "gone":
            break
        assert time.monotonic() < deadline, "the exec'd command outlived agent-sandbox exec"
        time.sleep(0.05)


# -- stop -----------------------------------------------------------------------------------


def test_stop_ends_the_sandbox(cli: Cli, running: Running) -> None:
    result = cli("stop", running.id[:6])
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == f"stopped: {running.id}"
    assert running.proc.wait(5) != 0
    assert cli("ps", "--json").stdout == ""
    assert not Path(registry_dir(str(cli.runtime_dir))).exists(), "the last one removes the dir"
    assert cli.leftovers() == []
    again = cli("stop", running.id)
    assert again.returncode == 125
    assert len(again.error_lines) == 1


def test_a_cache_hit_registers_too(cli: Cli, project: Path) -> None:
    cli.env.pop("AGENT_SANDBOX_PLAN_CACHE", None)
    cli.env["PYTHONPROFILEIMPORTTIME"] = "1"
    first = start(cli, project)
    assert cli("stop", first.id).returncode == 0
    _, err = first.proc.communicate()
    assert b"bwsandbox.cli._resolve" in err, "the first run takes the full path"
    second = start(cli, project)
    try:
        assert second.id != first.id
        code, out = inside(second, "cat first.txt; cat /proc/self/status")
        assert code == 0
        assert out.startswith("from-first")
        assert status_field(out, "NoNewPrivs") == "1"
        assert int(status_field(out, "CapBnd"), 16) == 0
        assert second.record.cwd == str(project.resolve())
        assert str(second.record.uid) == second.first("uid").strip()
        assert cli("stop", second.id).returncode == 0
        _, err = second.proc.communicate()
        assert b"bwsandbox.cli._fastlaunch" in err, "the second run was a cache hit"
        assert b"bwsandbox.cli._resolve" not in err
    finally:
        finish(second)
    assert list_sessions(str(cli.runtime_dir)) == []


def test_a_tampered_record_cannot_redirect_exec(cli: Cli, running: Running) -> None:
    """A changed record fails its MAC; re-signed (as if unchecked), the process chain refuses."""
    path = Path(registry_dir(str(cli.runtime_dir))) / f"{running.id}.json"
    raw = json.loads(path.read_text())
    raw["init"] = {"pid": os.getpid(), "start": proc_start_time(os.getpid())}
    path.write_text(json.dumps(raw))
    result = cli("exec", running.id, "--", "true")
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1
    assert "no running sandbox" in result.error_lines[0], "the forged record is not trusted"
    assert not path.exists(), "pruned"
    raw["mac"] = _mac(record_key(), raw)  # the next defence, alone: the MAC is made to pass
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(json.dumps(raw))
    record = find_session(running.id, str(cli.runtime_dir))
    assert record.init.pid == os.getpid(), "control: a re-signed record is read"
    result = cli("exec", running.id, "--", "true")
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1
    assert "no longer running" in result.error_lines[0]


LIMITS = "cat /proc/self/cgroup; grep -E '^Max (data size|processes|open files)' /proc/self/limits"


def test_exec_has_the_same_resource_limits(cli: Cli, project: Path) -> None:
    """The session cgroup (root here) or the rlimits (an ordinary user) of the first process."""
    running = start(cli, project, "--memory", "300M", "--pids", "64")
    try:
        code, out = inside(running, LIMITS)
        assert code == 0, out
        assert out == running.first("cgroup") + running.first("limits")
        assert "bwsandbox-" in out or "314572800" in out, "a limit is in force"
        _, weak = inside(running, LIMITS, frozenset({"limits"}))
        assert weak != out, "control: without joining, exec escapes the limits"
    finally:
        finish(running)


def _banner_server() -> tuple[socket.socket, threading.Thread]:
    server = socket.create_server(("0.0.0.0", 0))  # reached by the host's address

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def _host_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))  # no packet is sent: it picks the source address
        return str(probe.getsockname()[0])


@pytest.mark.netns
def test_exec_is_behind_the_same_network_filter(cli: Cli, project: Path) -> None:
    """In filtered mode exec goes through the same default-deny egress as the first process."""
    server, _ = _banner_server()
    port = server.getsockname()[1]
    address = _host_address()
    probe = (
        f'python3 -c \'import socket; s = socket.create_connection(("{address}", {port}), 5);'
        " s.settimeout(5); print(s.recv(5))' 2>&1"
    )
    running = start(cli, project, "--network", "filtered")
    try:
        assert running.record.network == "filtered"
        _, out = inside(running, f"cat /proc/net/route | wc -l; {probe}")
        lines = out.splitlines()
        assert int(lines[0]) > 1, "the sandbox's veth route"
        assert "b'hello'" not in out, out
        audit = (
            Path(cli.env["AGENT_SANDBOX_DATA_DIR"])
            / "clients/default/sessions"
            / running.id
            / "audit.jsonl"
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not any(
            event.get("port") == port and event.get("decision") == "deny"
            for event in map(json.loads, audit.read_text().splitlines())
        ):
            assert time.monotonic() < deadline, "the session's proxy logged the denial"
            time.sleep(0.05)
        _, weak = inside(running, probe, frozenset({"net"}))
        assert "b'hello'" in weak, "control: outside the sandbox's netns the host answers"
    finally:
        finish(running)
        server.close()


def _drain(master: int) -> str:
    os.set_blocking(master, False)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def test_interactive_exec_gets_a_private_terminal(running: Running) -> None:
    """On a terminal, exec gets a pty of its own: the host's terminal never goes inside."""
    master, slave = os.openpty()
    try:
        rdev = os.fstat(slave).st_rdev
        host_tty = f"{os.major(rdev):x}:{os.minor(rdev):x}"
        script = "test -t 0 && test -t 1 && echo isatty; stat -L -c %t:%T /proc/self/fd/0; exit 3"
        code = exec_in_session(
            running.record, ["sh", "-c", script], stdin=slave, stdout=slave, stderr=slave
        )
        out = _drain(master).split()
        assert code == 3
        assert out[0] == "isatty"
        assert out[1] != host_tty
        control = exec_in_session(
            running.record,
            ["sh", "-c", script],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            _skip=frozenset({"pty"}),
        )
        assert control == 3
        assert _drain(master).split()[1] == host_tty, "control: the host's terminal otherwise"
    finally:
        os.close(master)
        os.close(slave)


def test_interactive_exec_output_goes_through_the_terminal_filter(running: Running) -> None:
    """A clipboard write from an exec'd command does not reach the terminal; control: without
    the pty (and its filtered relay) it does."""
    master, slave = os.openpty()
    script = r"printf '\033]52;c;ZWNobyBvd25lZAo=\007\033[1mok\033[0m\n'"
    try:
        code = exec_in_session(
            running.record, ["sh", "-c", script], stdin=slave, stdout=slave, stderr=slave
        )
        out = _drain(master)
        assert code == 0
        assert "\x1b[1mok\x1b[0m" in out
        assert "\x1b]52" not in out
        control = exec_in_session(
            running.record,
            ["sh", "-c", script],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            _skip=frozenset({"pty"}),
        )
        assert control == 0
        assert "\x1b]52;c;" in _drain(master), "control: the raw bytes otherwise"
    finally:
        os.close(master)
        os.close(slave)


def test_exec_without_a_pty_filters_a_terminal_output(running: Running) -> None:
    """stdin not a terminal, stdout and stderr one: the command still sees a terminal there,
    and a clipboard write does not reach it; control: the raw path lets it through."""
    master, slave = os.openpty()
    script = r"test -t 1 && echo TTY; printf '\033]52;c;ZWNobyBvd25lZAo=\007ok\n' >&2"
    try:
        with Path(os.devnull).open("rb") as null:
            code = exec_in_session(
                running.record,
                ["sh", "-c", script],
                stdin=null.fileno(),
                stdout=slave,
                stderr=slave,
            )
            out = _drain(master)
            assert code == 0
            assert "TTY" in out
            assert "ok" in out
            assert "\x1b]52" not in out
            control = exec_in_session(
                running.record,
                ["sh", "-c", script],
                stdin=null.fileno(),
                stdout=slave,
                stderr=slave,
                _skip=frozenset({"pty"}),
            )
        assert control == 0
        assert "\x1b]52;c;" in _drain(master), "control: the raw bytes otherwise"
    finally:
        os.close(master)
        os.close(slave)


def test_exec_gets_no_host_descriptors(running: Running, tmp_path: Path) -> None:
    """Only stdin/stdout/stderr go in, even descriptors the caller left inheritable."""
    leaked = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(leaked, True)
    try:
        script = "ls /proc/self/fd"  # 3 is ls's own handle on the directory
        code, out = inside(running, script)
        assert code == 0, out
        assert sorted(int(fd) for fd in out.split()) == [0, 1, 2, 3]
        _, weak = inside(running, script, frozenset({"close-fds"}))
        assert str(leaked) in weak.split(), "control: without closing, the descriptor leaks"
    finally:
        os.close(leaked)

"""Escape sequences from the sandbox to the user's terminal: the filter, attacked for real.

The test plays the user's terminal (a pty whose slave is the supervisor's controlling
terminal, as in ``test_tty.py``). A sandboxed ``printf`` writes a clipboard write (OSC 52),
a title report request, DECRQSS and a ``file://`` link; with the filter on (the default)
none of them reaches the terminal, with ``hardening.terminal_filter = false`` (the control)
all of them do. Both the interactive pty path and a non-interactive run whose stdout/stderr
is the terminal are covered.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli, agent_sandbox_command

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

SUPERVISOR = """
import sys
from bwsandbox.testing import MemoryAudit
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox

filter_on = sys.argv[2] == "on"
interactive = sys.argv[3] == "pty"
policy = load_policy(("base",), overlays=[("test", {"hardening": {"terminal_filter": filter_on}})])
box = Sandbox(policy, project=sys.argv[1], command=sys.argv[4:], audit=MemoryAudit(),
              interactive=interactive)
box.start()
code = box.wait()
sys.stdout.write(f"\\r\\nSUPERVISOR-EXIT={code}\\r\\n")
sys.exit(code)
"""

ATTACK = (
    r"\033]52;c;ZWNobyBwd25lZAo=\007"  # clipboard write: "echo owned"
    r"\033[21t"  # title report: the terminal types the title
    r"\033P$qm\033\\"  # DECRQSS
    r"\033]8;;file:///etc/passwd\033\\link\033]8;;\033\\"
    r"\033[1;31mRED\033[0m\n"  # kept
)
DANGEROUS = (b"\x1b]52;", b"\x1b[21t", b"\x1bP$q", b"file:///etc/passwd")
SETSID = shutil.which("setsid") or "setsid"


def _session(
    tmp_path: Path, project: Path, filter_on: bool, mode: str, shell: str, *, stdout: int | None
) -> bytes:
    """Run the supervisor on a fresh terminal; everything the terminal received."""
    script = tmp_path / "supervisor.py"
    script.write_text(SUPERVISOR)
    master, slave = os.openpty()
    ctty = ["--ctty"] if mode == "pty" else []  # --ctty takes stdin as the terminal
    argv = [SETSID, *ctty, "--wait", sys.executable, str(script), str(project)]
    argv += ["on" if filter_on else "off", mode, "sh", "-c", shell]
    proc = subprocess.Popen(
        argv,
        stdin=slave if mode == "pty" else subprocess.DEVNULL,
        stdout=slave if stdout is None else stdout,
        stderr=slave,
    )
    output = b""
    deadline = time.monotonic() + 60
    try:
        while b"SUPERVISOR-EXIT=" not in output or proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"no exit; output so far: {output!r}")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    output += os.read(master, 65536)
                except OSError:
                    break
            elif proc.poll() is not None and mode != "pty":
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
        os.close(slave)
    return output


@pytest.mark.parametrize("mode", ["pty", "plain"])
@pytest.mark.parametrize("filter_on", [True, False], ids=["filter", "control-no-filter"])
def test_sandbox_escape_sequences_do_not_reach_the_terminal(
    tmp_path: Path, project: Path, filter_on: bool, mode: str
) -> None:
    shell = f"printf '{ATTACK}'; test -t 1 && echo STDOUT-IS-A-TTY; printf '{ATTACK}' >&2"
    out = _session(tmp_path, project, filter_on, mode, shell, stdout=None)
    assert b"\x1b[1;31mRED\x1b[0m" in out
    assert b"STDOUT-IS-A-TTY" in out  # the command still writes to a terminal
    assert b"link" in out
    for sequence in DANGEROUS:
        assert (sequence in out) is not filter_on, (sequence, out)


@pytest.mark.parametrize("filter_on", [True, False], ids=["filter", "control-no-filter"])
def test_stderr_on_the_terminal_is_filtered_when_stdout_is_not(
    tmp_path: Path, project: Path, filter_on: bool
) -> None:
    log = tmp_path / "stdout.log"
    with log.open("wb") as sink:
        out = _session(
            tmp_path,
            project,
            filter_on,
            "plain",
            f"printf '{ATTACK}' >&2; printf 'to-file\\033]52;c;eA==\\007'",
            stdout=sink.fileno(),
        )
    assert b"RED" in out
    for sequence in DANGEROUS:
        assert (sequence in out) is not filter_on, (sequence, out)
    assert log.read_bytes().startswith(b"to-file\x1b]52;c;eA==\x07")  # a file: unchanged


def _cli_on_a_terminal(cli: Cli, *args: str) -> tuple[bytes, str]:
    """``agent-sandbox ARGS`` with stdin /dev/null and stdout/stderr on a fresh terminal:
    (what the terminal got, which path ran: "fast" or "full")."""
    master, slave = os.openpty()
    env = dict(cli.env, PYTHONPROFILEIMPORTTIME="1")
    env.pop("AGENT_SANDBOX_PLAN_CACHE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.Popen(
        [*agent_sandbox_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cli.cwd,
    )
    os.close(slave)
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            pytest.fail(f"no end; output so far: {output!r}")
        try:
            chunk = os.read(master, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=30) == 0, output
    path = "full" if b"bwsandbox.cli._resolve" in output else "fast"
    assert path == "full" or b"bwsandbox.cli._fastlaunch" in output, output
    return output, path


@pytest.mark.parametrize("filter_on", [True, False], ids=["filter", "control-no-filter"])
def test_cached_launches_filter_the_terminal_too(cli: Cli, tmp_path: Path, filter_on: bool) -> None:
    args = ["run"]
    if not filter_on:
        policy = tmp_path / "nofilter.toml"
        policy.write_text("[hardening]\nterminal_filter = false\n")
        args += ["--policy", str(policy)]
    shell = f"printf '{ATTACK}'; test -t 1 && echo STDOUT-IS-A-TTY; printf '{ATTACK}' >&2"
    args += ["--", "sh", "-c", shell]
    paths = []
    for _ in range(2):  # a miss (the runtime), then a hit (the fast launcher)
        out, path = _cli_on_a_terminal(cli, *args)
        paths.append(path)
        assert out.count(b"\x1b[1;31mRED\x1b[0m") == 2, out
        assert b"STDOUT-IS-A-TTY" in out
        for sequence in DANGEROUS:
            assert (sequence in out) is not filter_on, (path, sequence, out)
    assert paths == ["full", "fast"]

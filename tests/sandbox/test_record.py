"""``--record``: interactive sessions driven through a real pty, recorded in asciicast v2 (checked
with a strict parser written against the spec), played back by ``agent-sandbox replay`` and by
``asciinema`` itself; keystrokes (passwords) stay out of the file unless ``--record-input``."""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import stat
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.sandbox._asciicast import Cast, parse_cast

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

SETSID = shutil.which("setsid") or "setsid"
SECRET = "hunter2-typed-secret"


class Terminal:
    """The user's terminal: a pty whose slave is the controlling terminal of ``argv``."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, self.slave = os.openpty()
        self.resize(24, 80)
        self.output = b""
        self.proc = subprocess.Popen(
            [SETSID, "--ctty", "--wait", *argv],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            cwd=cwd,
        )

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            chunk = b""
        self.output += chunk
        return bool(chunk)

    def expect(self, text: bytes, patience: float = 20.0) -> None:
        deadline = time.monotonic() + patience
        while text not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"{text!r} never came; output so far: {self.output!r}")
            if not self._read(remaining):
                pytest.fail(f"terminal closed before {text!r}: {self.output!r}")

    def wait(self) -> int:
        code = self.proc.wait(timeout=30)
        while self._read(0.1) and select.select([self.master], [], [], 0)[0]:
            pass
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def _cast_files(cli: Cli) -> list[Path]:
    root = Path(cli.env["AGENT_SANDBOX_DATA_DIR"]) / "clients" / "default" / "sessions"
    return sorted(root.glob("*/session.cast"), key=lambda p: p.stat().st_mtime_ns)


def _interactive_session(cli: Cli, *options: str) -> tuple[Terminal, Path, Cast]:
    term = Terminal([*cli.command, "run", *options, "--", "sh", "-i"], cli.env, cli.cwd)
    try:
        term.expect(b"$ ")
        term.type(b"echo out-$((6*7))\n")
        term.expect(b"out-42")
        # a password prompt: echo off, so the terminal never shows what is typed
        term.type(b"stty -echo; echo RE''ADY; read s; stty echo; echo len=${#s}\n")
        term.expect(b"READY")  # (the echoed command line reads RE''ADY)
        term.type(SECRET.encode() + b"\n")
        term.expect(f"len={len(SECRET)}".encode())
        term.resize(40, 132)
        term.proc.send_signal(signal.SIGWINCH)
        term.type(b"stty size\n")
        term.expect(b"40 132")
        term.type(b"exit 3\n")
        assert term.wait() == 3, term.output
    finally:
        term.close()
    [path] = _cast_files(cli)
    return term, path, parse_cast(path.read_bytes())


def test_an_interactive_session_is_recorded(cli: Cli) -> None:
    term, path, cast = _interactive_session(cli, "--record")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    output = cast.text()
    assert "out-42" in output
    assert f"len={len(SECRET)}" in output
    assert "40 132" in output
    assert (cast.header["width"], cast.header["height"]) == (80, 24)
    assert set(cast.header["env"]) <= {"TERM", "SHELL"}
    assert ("r", "132x40") in [(code, data) for _, code, data in cast.events]
    assert SECRET.encode() not in path.read_bytes(), "keystrokes are not recorded by default"
    assert [code for _, code, _ in cast.events if code == "i"] == []
    assert str(path) in term.output.decode(errors="replace"), "the CLI says where it is"
    audit = (path.parent / "audit.jsonl").read_text().splitlines()
    [record] = [json.loads(x) for x in audit if '"event":"record"' in x]
    assert (record["path"], record["input"]) == (str(path), False)


def test_record_input_records_keystrokes(cli: Cli) -> None:
    _, _, cast = _interactive_session(cli, "--record-input")
    assert SECRET in cast.text("i")
    assert SECRET not in cast.text("o"), "echo was off: the output never showed it"
    assert "out-42" in cast.text()


def test_replay_plays_the_recording_back(cli: Cli) -> None:
    _, path, cast = _interactive_session(cli, "--record")
    played = cli("replay", "--speed", "1000", "--idle-limit", "0.01")
    assert played.returncode == 0, played.describe()
    assert played.stdout == cast.text()
    by_id = cli("replay", path.parent.name, "--speed", "1000")
    assert by_id.stdout == cast.text()
    by_file = cli("replay", str(path), "--speed", "1000")
    assert by_file.stdout == cast.text()


@pytest.mark.tools("asciinema")
def test_asciinema_reads_the_recording(cli: Cli) -> None:
    asciinema = shutil.which("asciinema") or "asciinema"
    _, path, _ = _interactive_session(cli, "--record")
    for argv in ([asciinema, "cat", str(path)], [asciinema, "play", "-s", "100", str(path)]):
        term = Terminal(argv, cli.env, cli.cwd)  # asciinema wants a terminal
        try:
            assert term.wait() == 0, term.output
            assert b"out-42" in term.output, (argv, term.output)
        finally:
            term.close()


def test_a_non_interactive_session_is_recorded_and_never_cached(cli: Cli) -> None:
    script = "echo first; echo second >&2; printf 'caf\\303\\251\\n'"
    results = [cli("run", "--record", "--", "sh", "-c", script) for _ in "ab"]
    for result in results:
        assert result.returncode == 0, result.describe()
        assert result.stdout == "first\ncafé\n"
        assert "second" in result.stderr
    plans = cli.runtime_dir / "agent-sandbox" / "plans"
    assert not plans.is_dir() or not list(plans.iterdir()), "recorded runs are never cached"
    casts = _cast_files(cli)
    assert len(casts) == 2
    cast = parse_cast(casts[0].read_bytes())
    assert "first\n" in cast.text()
    assert "second\n" in cast.text()
    assert "café\n" in cast.text()


def test_replay_without_a_recording_is_one_error(cli: Cli) -> None:
    cli("run", "--", "true")
    result = cli("replay")
    assert result.returncode == 125
    assert len(result.error_lines) == 1, result.describe()
    assert "no recorded session" in result.stderr


def test_replay_filters_what_the_recording_holds(cli: Cli) -> None:
    """A recording keeps the sandbox's bytes raw; replay passes them through the terminal
    filter: no clipboard write or title report reaches the terminal that plays it."""
    attack = r"\033]52;c;ZWNobyBvd25lZAo=\007\033[21t\033[2J\033[1mBOLD\033[0m\n"
    recorded = cli("run", "--record", "--", "printf", attack)
    assert recorded.returncode == 0, recorded.describe()
    [path] = _cast_files(cli)
    raw = parse_cast(path.read_bytes()).text()
    assert "\x1b]52;c;" in raw, "control: the recording holds the clipboard write"
    assert "\x1b[21t" in raw
    played = cli("replay", "--speed", "1000")
    assert played.returncode == 0, played.describe()
    assert "\x1b]52" not in played.stdout
    assert "\x1b[21t" not in played.stdout
    assert "\x1b[2J\x1b[1mBOLD\x1b[0m" in played.stdout

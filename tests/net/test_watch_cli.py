"""``agent-sandbox watch`` as a person meets it, against real sandboxes: one clear line when the
session is not filtered or has ended, a list of the candidates (id, command, age) when several
sandboxes of the project run, and every name the sandbox chose escaped in the live log.

Controls: ``--session ID`` watches the one named; the raw control stream does carry the
hostile bytes (the escaping is what keeps them off the terminal).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bwsandbox._live import describe_sessions
from tests.conftest import Cli
from tests.net.test_ask import Watcher
from tests.sandbox.test_sessions import finish, inside, start

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

_FILTERED = ("--network", "filtered")

#: a DNS query for a name whose first label carries a terminal escape (OSC 52: clipboard)
_HOSTILE_QUERY = (
    "import socket,struct\n"
    "label=b'x\\x1b]52;c;QUJD\\x07y'\n"
    "q=struct.pack('!HHHHHH',7,0x100,1,0,0,0)+bytes([len(label)])+label+b'\\x04test\\0'"
    "+struct.pack('!HH',1,1)\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(10)\n"
    "ns=[l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]\n"
    "s.sendto(q,(ns,53)); r=s.recv(512); print('rcode', r[3]&15)\n"
)


def _watch_log(cli: Cli, project: Path, *options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*cli.command, "watch", "--no-prompt", *options],
        env=cli.env,
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_unfiltered_and_ended_sessions_get_one_line(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    running = start(cli, project)  # network none
    try:
        result = cli("watch")
        assert result.returncode == 125, result.describe()
        assert len(result.error_lines) == 1, result.describe()
        assert "only a filtered session can be watched" in result.error_lines[0]
        assert "start it with --network filtered" in result.error_lines[0]
    finally:
        finish(running)
    ended = cli("watch", "--session", running.id)
    assert ended.returncode == 125, ended.describe()
    assert len(ended.error_lines) == 1, ended.describe()
    assert f"no running sandbox with id {running.id!r}" in ended.error_lines[0]
    gone = cli("watch")
    assert gone.returncode == 125, gone.describe()
    assert f"no running sandbox has the project {project.resolve()}" in gone.error_lines[0]


def test_several_sessions_are_listed_and_session_picks_one(cli: Cli, project: Path) -> None:
    first = start(cli, project, *_FILTERED)
    second = start(cli, project, *_FILTERED)
    try:
        result = cli("watch")
        assert result.returncode == 125, result.describe()
        assert len(result.error_lines) == 1, result.describe()
        line = result.error_lines[0]
        assert f"2 sandboxes of {project.resolve()} are running" in line, line
        for running in (first, second):
            assert re.search(rf"{running.id} \(sh -c .*, started \d+ s ago\)", line), line
        assert line.index(second.id) < line.index(first.id)  # newest first
        assert "--session ID" in line
        # control: --session watches the one named
        log = _watch_log(cli, project, "--session", first.id)
        assert log.stdout is not None
        assert f"watching {first.id}: live log" in log.stdout.readline().decode()
        log.kill()
        log.wait()
        log.stdout.close()
        # a live change still goes to the newest (the documented default)
        allowed = cli("allow", "web.test")
        assert allowed.returncode == 0, allowed.describe()
        assert f"allowed in {second.id}" in allowed.stdout
    finally:
        finish(second)
        finish(first)


def test_describe_sessions_escapes_and_shortens(cli: Cli, project: Path) -> None:
    running = start(cli, project, *_FILTERED)
    try:
        text = describe_sessions([running.record])
        assert text.startswith(f"{running.id} (sh -c ")
        assert len(text.split(" (", 1)[1].split(", started")[0]) <= 48
    finally:
        finish(running)


def test_hostile_names_never_reach_the_live_log_raw(cli: Cli, project: Path) -> None:
    """A name with a terminal escape is refused by the DNS parser (FORMERR) before any
    decision, so neither the stream nor the log carries it; every other field is escaped by
    the renderer (tests/unit/test_watch_render.py). Control: a plain unlisted name shows."""
    running = start(cli, project, *_FILTERED)
    try:
        raw = Watcher(cli, running)
        log = _watch_log(cli, project)
        assert log.stdout is not None
        assert "live log" in log.stdout.readline().decode()
        _, out = inside(running, f'python3 -c "{_HOSTILE_QUERY}"')
        assert "rcode 1" in out, out  # FORMERR: not a host name
        plain = _HOSTILE_QUERY.replace("x\\x1b]52;c;QUJD\\x07y", "evil")
        _, out = inside(running, f'python3 -c "{plain}"')
        assert "rcode 3" in out, out  # NXDOMAIN: denied
        event = raw.until("net")
        assert event["host"] == "evil.test", event  # the first decision is the plain name
        raw.close()
    finally:
        finish(running)
    text = log.communicate(timeout=60)[0].decode(errors="replace")
    assert "denied   evil.test  dns" in text, text
    assert "\x1b" not in text, repr(text)
    assert "52;c" not in text, text
    assert "the session has ended" in text

"""What a denied agent reads, in a running session started by the CLI: every 403 body names the
host, the reason and both ways to allow it (``agent-sandbox allow --session ID RULE`` now,
``--allow RULE`` next time), on each path: explicit proxy, CONNECT, transparent HTTP and a
request held by ask on first use and then denied. The control of each: the exact
``agent-sandbox allow`` the body suggests is run, and the same request then goes through.

Also the live changes that cannot work: an inspecting rule in a session without a CA (refused
when it is allowed, not later), methods or a path on a deny rule; the library the same.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwsandbox._netrules import parse_rule
from bwsandbox.net._denytext import Refusal, deny_text
from bwsandbox.net._gate import Denied
from tests.conftest import Cli
from tests.net.test_ask import Watcher, _curl, _output, _policy
from tests.net.test_deny_reasons import _RAW
from tests.net.test_live import _events
from tests.sandbox.test_sessions import Running, finish, inside, start

_LIVE = re.compile(r"To allow it in this running session: (agent-sandbox allow [^\n(]+?)\s*(\(|\n)")


# -- the text (pure) ---------------------------------------------------------------------------
_LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
_NAME = st.lists(_LABEL, min_size=2, max_size=4).map(".".join)


@given(
    _NAME,
    st.one_of(st.none(), st.integers(1, 65535)),
    st.from_regex(r"[0-9a-f-]{0,16}", fullmatch=True),
)
def test_every_fixable_denial_gives_both_ways_with_a_rule_that_parses(
    host: str, port: int | None, session: str
) -> None:
    text = deny_text(Denied(host, port, "name not allowed"), session=session)
    live = _LIVE.search(text)
    assert live is not None, text
    words = shlex.split(live.group(1))
    assert words[:2] == ["agent-sandbox", "allow"]
    if session:
        assert words[2:4] == ["--session", session]
    parse_rule(words[-1], allow=True)  # the suggested rule is accepted
    assert f"--allow {shlex.quote(words[-1])}" in text
    assert host in text.splitlines()[0]


def test_the_kinds_of_denial() -> None:
    asks = deny_text(Denied("a.test", 443, "not approved (no answer in 30 s)"), asks=True)
    assert "agent-sandbox allow a.test:443 (or answer its question in `agent-sandbox watch`)" in (
        asks
    )
    assert "--allow a.test:443" in asks
    quiet = deny_text(Denied("a.test", 443, "name not allowed"))
    assert "watch" not in quiet  # a session that does not ask has nothing to answer
    inspected = deny_text(
        Denied("git.test", 8443, "method POST is not allowed (allowed: GET)"),
        session="s1",
        refusal=Refusal("POST", "/org/repo.git/git-receive-pack?x=1", "GET git.test:8443/org/*"),
    )
    assert inspected.startswith(
        "bwsandbox: refused POST git.test:8443/org/repo.git/git-receive-pack?x=1: method POST"
    )
    assert "its rules allow only: GET git.test:8443/org/*" in inspected
    assert (
        "agent-sandbox allow --session s1 'POST git.test:8443/org/repo.git/git-receive-pack'"
        in (inspected)
    )
    parse_rule("POST git.test:8443/org/repo.git/git-receive-pack", allow=True)
    # no rule fixes these: no suggestion at all
    for unfixable in (
        Denied("a.test", 443, "TLS SNI 'b.test' does not match 'a.test'", smuggling=True),
        Denied("a.test", 443, "denied name", "*.test"),
        Denied("a.test", 443, "unreachable: refused", "a.test", failed=True),
    ):
        assert "To allow it" not in deny_text(unfixable, session="s1"), unfixable
    v6 = deny_text(Denied("2001:db8::1", 443, "address not allowed"))
    assert "blocked [2001:db8::1]:443" in v6
    assert "--allow '[2001:db8::1]:443'" in v6


# -- real sessions ---------------------------------------------------------------------------


@pytest.fixture
def session(cli: Cli, project: Path) -> Iterator[Running]:
    running = start(cli, project, "--network", "filtered", "--add-host", "web.test=127.0.0.1")
    yield running
    finish(running)


def _raw(running: Running, host: str, port: int, request: str) -> str:
    probe = running.project / "raw_probe.py"
    probe.write_text(_RAW)
    command = shlex.join(["python3", str(probe), host, str(port), request])
    return inside(running, command)[1]


def _suggested(body: str) -> list[str]:
    live = _LIVE.search(body)
    assert live is not None, body
    return shlex.split(live.group(1))[1:]  # without "agent-sandbox"


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
@pytest.mark.parametrize("path", ["explicit", "connect", "transparent"])
def test_each_path_names_both_ways_and_the_suggestion_works(
    cli: Cli, session: Running, http_port: int, path: str
) -> None:
    close = "Connection: close\\r\\n\\r\\n"
    get = f"GET /p HTTP/1.1\\r\\nHost: web.test\\r\\n{close}"
    absolute = f"GET http://web.test:{http_port}/p HTTP/1.1\\r\\nHost: web.test:{http_port}\\r\\n"
    requests = {
        "explicit": ("proxy", 0, absolute + close),
        "connect": ("proxy", 0, f"CONNECT web.test:{http_port} HTTP/1.1\\r\\n\\r\\n{get}"),
        "transparent": ("web.test", http_port, get),
    }
    host, port, request = requests[path]
    body = _raw(session, host, port, request)
    assert body.startswith("HTTP/1.1 403 Forbidden"), body
    assert f"blocked web.test:{http_port}: name not allowed" in body
    assert f"agent-sandbox allow --session {session.id} web.test:{http_port}" in body
    assert f"start the sandbox with --allow web.test:{http_port}" in body
    assert "path=/p" not in body
    # the control: the command the body suggests, run as it reads, lets the same request in
    allowed = cli(*_suggested(body))
    assert allowed.returncode == 0, allowed.describe()
    assert "path=/p" in _raw(session, host, port, request)


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_a_held_then_denied_request_names_watch_and_both_ways(
    cli: Cli, project: Path, tmp_path: Path, http_port: int
) -> None:
    policy = _policy(tmp_path, "25s")
    running = start(cli, project, "--policy", policy, "--add-host", "web.test=127.0.0.1")
    try:
        watch = Watcher(cli, running)
        probe = _curl(cli, running, http_port, "held")
        question = watch.question()
        assert probe.poll() is None  # control: held while nobody answers
        assert watch.answer(question["id"], "deny")["ok"] is True
        out = _output(probe)
        assert f"blocked web.test:{http_port}: not approved" in out, out
        live = f"agent-sandbox allow --session {running.id} web.test:{http_port}"
        assert f"{live} (or answer its question in `agent-sandbox watch --session" in out, out
        assert f"--allow web.test:{http_port}" in out
        assert "restart the sandbox" not in out
        watch.close()
        # the suggestion works: the next request passes without being asked
        assert cli(*_suggested(out)).returncode == 0
        assert "path=/again" in _output(_curl(cli, running, http_port, "again"))
    finally:
        finish(running)


# -- live changes that cannot work -------------------------------------------------------------
@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_an_inspecting_rule_without_a_ca_is_refused_when_allowed(
    cli: Cli, session: Running, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("allow", "GET web.test/x/*")
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1, result.describe()
    line = result.error_lines[0]
    assert "GET web.test/x/* inspects HTTPS" in line, line
    assert "started without an inspecting rule" in line
    assert "restart the sandbox with --allow 'GET web.test/x/*'" in line
    # deny rules take no methods or path
    denied = cli("deny", "GET web.test/x")
    assert denied.returncode == 125, denied.describe()
    assert len(denied.error_lines) == 1, denied.describe()
    assert "only allow rules take methods or a path" in denied.error_lines[0]
    assert [e for e in _events(cli) if e["event"] == "net-change"] == []
    # the library says the same
    import bwsandbox

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(cli.runtime_dir))
    with pytest.raises(bwsandbox.NetworkError, match="started without an inspecting rule"):
        bwsandbox.allow("POST web.test/v1/*", project=project)
    with pytest.raises(bwsandbox.NetworkError, match="only allow rules take methods"):
        bwsandbox.deny("web.test/v1", project=project)
    # control: the host without methods and path is accepted
    plain = cli("allow", "web.test")
    assert plain.returncode == 0, plain.describe()


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_a_session_with_a_ca_accepts_an_inspecting_rule_live(cli: Cli, project: Path) -> None:
    running = start(
        cli, project, "--network", "filtered", "--allow", "GET other.test/*",
        "--add-host", "web.test=127.0.0.1",
    )  # fmt: skip
    try:
        result = cli("allow", "GET web.test/x/*")
        assert result.returncode == 0, result.describe()
        assert f"allowed in {running.id}: GET web.test/x/*" in result.stdout
    finally:
        finish(running)

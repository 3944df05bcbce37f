"""Ask on first use (``--ask``), answered over the control socket by a scripted watch client,
against real filtered sandboxes started in the background.

Each test's control is the same request in the same session before (or without) the answer:
held while nobody answers, refused after a deny or the bound, let through after an allow.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bwsandbox.net._control import connect, control_path, send_request
from tests.conftest import Cli
from tests.net.test_live import _as_nobody, _events, _resolves, open_runtime  # noqa: F401
from tests.sandbox.test_sessions import Running, finish, inside, start

pytestmark = [pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

_WAIT = 30.0


class Watcher:
    """A scripted ``agent-sandbox watch``: the stream over the control socket."""

    def __init__(self, cli: Cli, running: Running) -> None:
        self.sock = connect(control_path(str(cli.runtime_dir), running.id), _WAIT)
        self.sock.sendall(b'{"op": "watch"}\n')
        self.buffer = b""
        self.hello = self.next()

    def next(self) -> dict[str, Any]:
        while b"\n" not in self.buffer:
            more = self.sock.recv(65536)
            assert more, "the stream ended"
            self.buffer += more
        line, _, self.buffer = self.buffer.partition(b"\n")
        value = json.loads(line)
        assert isinstance(value, dict)
        return value

    def until(self, kind: str) -> dict[str, Any]:
        while True:
            event = self.next()
            if event.get("event") == kind:
                return event

    def question(self) -> dict[str, Any]:
        if self.hello.get("pending"):
            return dict(self.hello.pop("pending")[0])
        return self.until("question")

    def answer(self, qid: int, decision: str) -> dict[str, Any]:
        self.sock.sendall(json.dumps({"op": "answer", "id": qid, "decision": decision}).encode())
        self.sock.sendall(b"\n")
        return self.until("reply")

    def close(self) -> None:
        self.sock.close()


def _policy(tmp_path: Path, timeout: str) -> str:
    path = tmp_path / "ask.toml"
    path.write_text(f'[network]\nmode = "filtered"\nunlisted = "ask"\nask_timeout = "{timeout}"\n')
    return str(path)


@pytest.fixture
def asking(cli: Cli, project: Path, tmp_path: Path) -> Iterator[Running]:
    policy = _policy(tmp_path, "25s")
    running = start(cli, project, "--policy", policy, "--add-host", "web.test=127.0.0.1")
    yield running
    finish(running)


def _curl(cli: Cli, running: Running, port: int, path: str) -> subprocess.Popen[bytes]:
    """A curl inside the session, in the background (it may be held)."""
    script = f"curl -sS -m 40 --noproxy '*' http://web.test:{port}/{path} 2>&1; echo rc=$?"
    return subprocess.Popen(
        [*cli.command, "exec", running.id, "--", "sh", "-c", script],
        env=cli.env,
        cwd=running.project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _output(probe: subprocess.Popen[bytes]) -> str:
    return probe.communicate(timeout=60)[0].decode(errors="replace")


def _asks(cli: Cli) -> list[dict[str, Any]]:
    return [e for e in _events(cli) if e["event"] == "net-ask"]


def test_held_request_completes_once_approved(cli: Cli, asking: Running, http_port: int) -> None:
    watch = Watcher(cli, asking)
    assert watch.hello["ask"] is True
    assert watch.hello["timeout"] == 25.0
    probe = _curl(cli, asking, http_port, "first")
    question = watch.question()
    assert (question["host"], question["port"], question["kind"]) == ("web.test", http_port, "tcp")
    # control: while nobody answers, the request is held (not answered, not failed)
    assert probe.poll() is None
    reply = watch.answer(question["id"], "once")
    assert reply["ok"] is True, reply
    out = _output(probe)
    assert "path=/first" in out, out
    # once means once: the next request asks again; a deny fails it fast with the reason
    probe = _curl(cli, asking, http_port, "second")
    question = watch.question()
    assert watch.answer(question["id"], "deny")["ok"] is True
    out = _output(probe)
    assert "path=/second" not in out, out
    assert f"blocked web.test:{http_port}: not approved" in out, out
    # the same question cannot be answered twice
    late = watch.answer(question["id"], "once")
    assert late["ok"] is False, late
    assert "no open question" in late["error"], late
    watch.close()
    ops = [(e["op"], e.get("decision")) for e in _asks(cli)]
    assert ops == [("held", None), ("answered", "once"), ("held", None), ("answered", "deny")]
    nets = [(e["decision"], e.get("rule")) for e in _events(cli) if e["event"] == "net"]
    assert ("allow", "ask: once") in nets


def test_allow_for_the_session_asks_no_more(cli: Cli, asking: Running, http_port: int) -> None:
    watch = Watcher(cli, asking)
    probe = _curl(cli, asking, http_port, "one")
    question = watch.question()
    assert watch.answer(question["id"], "session")["ok"] is True
    assert "path=/one" in _output(probe)
    assert "path=/two" in _output(_curl(cli, asking, http_port, "two"))
    assert [e["op"] for e in _asks(cli)] == ["held", "answered"]
    watch.close()


def test_unanswered_request_is_denied_after_the_bound(
    cli: Cli, project: Path, tmp_path: Path, http_port: int
) -> None:
    running = start(
        cli, project, "--policy", _policy(tmp_path, "1s"), "--add-host", "web.test=127.0.0.1"
    )
    try:
        out = _output(_curl(cli, running, http_port, "late"))
    finally:
        finish(running)
    assert "path=/late" not in out, out
    assert "not approved (no answer in 1 s)" in out, out
    answered = [e for e in _asks(cli) if e["op"] == "answered"]
    assert [(e["decision"], e["by"]) for e in answered] == [("deny", "timeout")]


def test_allow_always_is_written_and_the_next_session_does_not_ask(
    cli: Cli, project: Path, tmp_path: Path, http_port: int
) -> None:
    allowed = Path(os.environ["AGENT_SANDBOX_CONFIG_DIR"]) / "policies" / "allowed.toml"
    allowed.parent.mkdir(parents=True, exist_ok=True)
    allowed.write_text('# mine\n[network]\nallow = ["kept.test"]  # a comment\n')
    policy = _policy(tmp_path, "25s")
    first = start(cli, project, "--policy", policy, "--add-host", "web.test=127.0.0.1")
    try:
        watch = Watcher(cli, first)
        probe = _curl(cli, first, http_port, "always")
        question = watch.question()
        reply = watch.answer(question["id"], "always")
        assert reply["ok"] is True, reply
        assert reply["path"] == str(allowed), reply
        assert "path=/always" in _output(probe)
        watch.close()
    finally:
        finish(first)
    text = allowed.read_text()
    assert text.startswith("# mine\n"), text
    assert "# a comment" in text, text
    assert tomllib.loads(text)["network"]["allow"] == ["kept.test", f"web.test:{http_port}"]
    second = start(cli, project, "--policy", policy, "--add-host", "web.test=127.0.0.1")
    try:
        out = _output(_curl(cli, second, http_port, "again"))
    finally:
        finish(second)
    assert "path=/again" in out, out
    remembered = [e for e in _asks(cli) if e["op"] == "remembered"]
    assert remembered, _asks(cli)
    assert f"web.test:{http_port}" in remembered[-1]["rules"], remembered


def test_held_lookup_does_not_stall_other_lookups(cli: Cli, asking: Running) -> None:
    watch = Watcher(cli, asking)
    script = (
        "import socket\n"
        "try:\n"
        "    print(socket.getaddrinfo('new.test', 80, type=socket.SOCK_STREAM)[0][4][0])\n"
        "except OSError as exc:\n"
        "    print('failed', exc)\n"
    )
    probe = subprocess.Popen(
        [*cli.command, "exec", asking.id, "--", "python3", "-c", script],
        env=cli.env,
        cwd=asking.project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    question = watch.question()
    assert (question["host"], question["port"], question["kind"]) == ("new.test", None, "dns")
    # while new.test is held, the responder answers other names at once
    assert _resolves(asking, "web.test") == "rcode 0 answers 1"
    assert watch.answer(question["id"], "once")["ok"] is True
    out = _output(probe)
    assert out.startswith(("198.19.", "fd5b:5b5b:")), out
    watch.close()


def test_a_watch_that_leaves_mid_question_leaves_it_to_another(
    cli: Cli, asking: Running, http_port: int
) -> None:
    first = Watcher(cli, asking)
    probe = _curl(cli, asking, http_port, "handover")
    question = first.question()
    first.close()  # gone in the middle of the question
    second = Watcher(cli, asking)
    pending = second.hello["pending"]
    assert [q["id"] for q in pending] == [question["id"]], second.hello
    # garbage in the stream gets an error and the stream goes on
    for garbage in (b"\x00\xff\n", b"[1]\n", b'{"op": "answer", "id": "x", "decision": "once"}\n'):
        second.sock.sendall(garbage)
        error = second.until("error")
        assert error["error"], error
    second.sock.sendall(b'{"op": "allow", "rules": ["x.test"]}\n')
    assert "answers only" in second.until("error")["error"]
    assert second.answer(question["id"], "once")["ok"] is True
    assert "path=/handover" in _output(probe)
    second.close()
    # a one-shot answer to a question that is gone, and an answer to a session that does not ask
    path = control_path(str(cli.runtime_dir), asking.id)
    reply = send_request(path, "answer", id=99, decision="once")
    assert reply["ok"] is False, reply
    assert "no open question 99" in str(reply["error"]), reply


def test_a_session_that_does_not_ask_streams_a_live_log(
    cli: Cli, project: Path, http_port: int
) -> None:
    running = start(cli, project, "--network", "filtered", "--add-host", "web.test=127.0.0.1")
    try:
        watch = Watcher(cli, running)
        assert watch.hello["ask"] is False
        assert watch.hello["pending"] == []
        out = inside(running, f"curl -sS -m 10 --noproxy '*' http://web.test:{http_port}/ 2>&1")
        assert "not allowed" in out[1], out  # denied at once: nothing is held
        lookup, refused = watch.until("net"), watch.until("net")
        assert (lookup["proto"], lookup["decision"]) == ("dns", "allow"), lookup
        assert (refused["port"], refused["decision"]) == (http_port, "deny"), refused
        path = control_path(str(cli.runtime_dir), running.id)
        reply = send_request(path, "answer", id=1, decision="once")
        assert "does not ask" in str(reply["error"]), reply
        watch.close()
        # the CLI's live log, not a terminal: one line per event, then the end of the session
        log = subprocess.Popen(
            [*cli.command, "watch"],
            env=cli.env,
            cwd=project,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert log.stdout is not None
        first_line = log.stdout.readline().decode()  # printed once it is connected
        assert "live log (this session does not ask" in first_line, first_line
        inside(running, f"curl -sS -m 10 --noproxy '*' http://web.test:{http_port}/ 2>&1")
    finally:
        finish(running)
    text = _output(log)
    assert f"denied   web.test:{http_port}  tcp" in text, text
    assert "the session has ended" in text, text


def test_the_cli_refuses_ask_without_the_filter(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--ask", "--network", "none", "--", "true")
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1, result.describe()
    assert 'network.unlisted = "ask" needs network.mode = "filtered"' in result.error_lines[0]
    policy = tmp_path / "bad.toml"
    policy.write_text('[network]\nunlisted = "maybe"\n')
    bad = cli("policy", "check", str(policy))
    assert bad.returncode == 125, bad.describe()
    assert "expected deny or ask" in bad.stderr, bad.describe()


@pytest.mark.root
def test_another_user_cannot_watch_or_answer(open_runtime: Cli, project: Path) -> None:  # noqa: F811
    cli = open_runtime
    running = start(cli, project, "--ask")
    try:
        path = control_path(str(cli.runtime_dir), running.id)
        directory = Path(path).parent
        for each in (cli.runtime_dir, directory.parent, directory):
            each.chmod(0o755)
        Path(path).chmod(0o666)
        try:
            watched = _as_other(path, b'{"op": "watch"}\n')
            answered = _as_other(path, b'{"op": "answer", "id": 1, "decision": "always"}\n')
        finally:
            for each in (cli.runtime_dir, directory.parent, directory):
                each.chmod(0o700)
        assert "refused: uid 65534 does not own this session" in watched, watched
        assert "refused: uid 65534 does not own this session" in answered, answered
        # control: the owner may watch
        watch = Watcher(cli, running)
        assert watch.hello["ok"] is True
        watch.close()
    finally:
        finish(running)


def _as_other(path: str, request: bytes) -> str:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(_WAIT)
                    sock.connect(path)
                    sock.sendall(request)
                    result = sock.recv(4096).decode(errors="replace")
            except OSError as exc:
                result = f"oserror {exc.errno}"
            os.write(write, result.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read().decode()
    os.waitpid(pid, 0)
    return data


# -- the library: a callback decides ---------------------------------------------------------


def _library_run(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    port: int,
    ask: Any,
    timeout: str = "25s",
) -> str:
    import bwsandbox

    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    script = f"curl -sS -m 40 --noproxy '*' http://web.test:{port}/lib 2>&1; echo rc=$?"
    result = bwsandbox.run(
        ["sh", "-c", script],
        project=project,
        policies=("base", _policy(tmp_path, timeout)),
        add_hosts={"web.test": "127.0.0.1"},
        capture_output=True,
        ask=ask,
    )
    return (result.stdout or b"").decode(errors="replace")


def test_a_library_callback_decides(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_port: int
) -> None:
    import bwsandbox

    asked: list[bwsandbox.Question] = []

    def approve(question: bwsandbox.Question) -> bwsandbox.Decision:
        asked.append(question)
        return bwsandbox.Decision.ONCE

    out = _library_run(project, tmp_path, monkeypatch, http_port, approve)
    assert "path=/lib" in out, out
    assert [(q.host, q.port, q.kind) for q in asked] == [("web.test", http_port, "tcp")]
    with pytest.raises(AttributeError):
        asked[0].host = "other.test"  # type: ignore[misc]  # frozen

    # control: the same request with a callback that refuses, fails or answers nonsense
    def refuse(question: bwsandbox.Question) -> bwsandbox.Decision:
        return bwsandbox.Decision.DENY

    def fail(question: bwsandbox.Question) -> bwsandbox.Decision:
        raise RuntimeError("boom")

    def nonsense(question: bwsandbox.Question) -> object:
        return True

    for callback, why in ((refuse, "denied by callback"), (fail, "RuntimeError('boom')")):
        out = _library_run(project, tmp_path, monkeypatch, http_port, callback)
        assert "path=/lib" not in out, out
        assert why in out, out
    out = _library_run(project, tmp_path, monkeypatch, http_port, nonsense)
    assert "not approved" in out, out


def test_a_callback_that_never_answers_is_a_deny_after_the_bound(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_port: int
) -> None:
    import threading

    import bwsandbox

    release = threading.Event()

    def hang(question: bwsandbox.Question) -> bwsandbox.Decision:
        release.wait(60)
        return bwsandbox.Decision.ONCE

    try:
        out = _library_run(project, tmp_path, monkeypatch, http_port, hang, timeout="1s")
    finally:
        release.set()
    assert "not approved (no answer in 1 s)" in out, out


_TLS = r"""
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    if {proxy}:  # through the explicit proxy: CONNECT first
        raw = socket.create_connection(("127.0.0.1", 3128), timeout=40)
        raw.sendall(b"CONNECT web.test:{port} HTTP/1.1\r\nHost: web.test:{port}\r\n\r\n")
        head = raw.recv(4096)
        print(head.split(b"\r\n")[0].decode())
        if b" 200 " not in head:
            sys.exit(0)
    else:
        raw = socket.create_connection(("web.test", {port}), timeout=40)
    with ctx.wrap_socket(raw, server_hostname="web.test") as tls:
        print(tls.recv(100).decode().strip())
except (OSError, ssl.SSLError) as exc:
    print("error", exc)
"""


def _python(cli: Cli, running: Running, source: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*cli.command, "exec", running.id, "--", "python3", "-c", source],
        env=cli.env,
        cwd=running.project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_held_tls_is_refused_with_an_alert_and_connect_is_asked_as_connect(
    cli: Cli, asking: Running, tls_port: int
) -> None:
    watch = Watcher(cli, asking)
    probe = _python(cli, asking, _TLS.format(port=tls_port, proxy=False))
    question = watch.question()
    assert (question["host"], question["kind"]) == ("web.test", "tcp")
    assert watch.answer(question["id"], "deny")["ok"] is True
    out = _output(probe)
    assert "ALERT_ACCESS_DENIED" in out, out
    # the same destination through the explicit proxy: a CONNECT question, allowed once
    probe = _python(cli, asking, _TLS.format(port=tls_port, proxy=True))
    question = watch.question()
    assert (question["host"], question["kind"]) == ("web.test", "connect")
    assert watch.answer(question["id"], "once")["ok"] is True
    out = _output(probe)
    assert "200 Connection established" in out, out
    assert "sni=web.test" in out, out
    watch.close()


def test_watch_without_a_session_is_one_clear_error(cli: Cli, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("watch", cwd=elsewhere)
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1, result.describe()
    assert f"no running sandbox has the project {elsewhere.resolve()}" in result.error_lines[0]
    unknown = cli("watch", "--session", "zzzz")
    assert unknown.returncode == 125, unknown.describe()
    assert "no running sandbox with id 'zzzz'" in unknown.error_lines[0]


def test_the_library_watch_answers(
    cli: Cli, asking: Running, http_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bwsandbox

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(cli.runtime_dir))
    monkeypatch.chdir(asking.project)
    probe = _curl(cli, asking, http_port, "library")
    with bwsandbox.watch() as watch:
        assert watch.session == asking.id
        assert watch.ask is True
        question = watch.pending[0] if watch.pending else None
        events = watch.events()
        while question is None:
            event = next(events)
            if event["event"] == "question":
                question = event
        watch.answer(int(question["id"]), "once")
        reply = next(e for e in events if e["event"] == "reply")
        assert reply["ok"] is True, reply
    assert "path=/library" in _output(probe)

"""Ask on first use with the REAL Claude Code TUI, in tmux: its request to an unlisted host
is held, approved by a key in ``agent-sandbox watch`` running in a second tmux window, and
the reply then shows up in the TUI.

The API is a fake on the host's loopback (``tests/fakes``) under a name the sandbox may
resolve (``--add-host``) but not reach: no ``--allow`` for it, only ``--ask``. The control is
the same screen before the key: the question is shown in ``watch`` and the reply is not in
the TUI.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from bwsandbox import _paths
from tests.conftest import agent_sandbox_command
from tests.fakes import FakeAnthropic

from .test_e2e import agent_bin  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.slow,
    pytest.mark.bwrap,
    pytest.mark.userns,
    pytest.mark.netns,
    pytest.mark.tools("tmux"),
]

REPLY = "Hi from the fake API, ask-5521."
HOST = "api.fake-anthropic.test"
_PATIENCE = 90.0


class Tmux:
    def __init__(self, name: str) -> None:
        self.socket = name

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return done.stdout

    def screen(self, window: str) -> str:
        return self("capture-pane", "-p", "-t", f"s:{window}")

    def wait_for(self, window: str, text: str, patience: float = _PATIENCE) -> str:
        deadline = time.monotonic() + patience
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen(window)
            if text in screen:
                return screen
            time.sleep(0.3)
        others = {w: self.screen(w) for w in ("agent", "watch")}
        pytest.fail(f"{text!r} never showed up in {window}; the screens:\n{others}")


def _seed_claude(client: str, project: str) -> None:
    home = Path(_paths.client_dir(client)) / "agents" / "claude" / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = {
        "hasCompletedOnboarding": True,
        "theme": "dark",
        "customApiKeyResponses": {"approved": ["test"], "rejected": []},
        "projects": {project: {"hasTrustDialogAccepted": True}},
    }
    (home / ".claude.json").write_text(json.dumps(config))


def _shell(project: Path, env: dict[str, str], argv: list[str], first: str = "") -> str:
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # the shell survives the test's second Ctrl-C (it may land after claude has exited,
    # while agent-sandbox tears down) and still says how the command ended; a handler, not
    # an ignore, so the command itself gets SIGINT as usual
    run = f"trap : INT; {first}{shlex.join(argv)}; echo EXITED=$?"
    return f"cd {shlex.quote(str(project))} && export {exports} && {{ {run}; }}"


def test_claude_request_is_held_until_approved_in_watch(
    agent_bin: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    client = f"ask-{os.getpid()}"
    _seed_claude(client, str(project))
    tmux = Tmux(f"bwsandbox-ask-{os.getpid()}")
    base = {
        "TERM": "xterm-256color",
        "XDG_RUNTIME_DIR": str(runtime),
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        **{k: v for k, v in os.environ.items() if k.startswith("AGENT_SANDBOX_")},
    }
    with FakeAnthropic(reply=REPLY) as api:
        agent_env = {
            **base,
            "BWSANDBOX_AGENT_BIN_CLAUDE": str(agent_bin / "claude"),
            "ANTHROPIC_API_KEY": "test",
            "ANTHROPIC_BASE_URL": f"http://{HOST}:{api.port}",
        }
        claude = [*agent_sandbox_command(), "claude", "--client", client, "--ask"]
        claude += ["--add-host", f"{HOST}=127.0.0.1"]
        tmux("new-session", "-d", "-s", "s", "-n", "agent", "-x", "120", "-y", "40")
        tmux("set-option", "-g", "remain-on-exit", "on")
        try:
            tmux("respawn-pane", "-k", "-t", "s:agent", _shell(project, agent_env, claude))
            watch = [*agent_sandbox_command(), "watch"]
            # the watch starts once the session is registered (the default: this project's)
            wait = f"until {shlex.join([*agent_sandbox_command(), 'ps'])} | grep -q filtered;"
            wait += " do sleep 0.2; done; "
            tmux("new-window", "-d", "-t", "s", "-n", "watch")
            tmux("respawn-pane", "-k", "-t", "s:watch", _shell(project, base, watch, wait))
            tmux.wait_for("watch", "answering questions")
            time.sleep(3)  # the TUI draws its prompt
            tmux("send-keys", "-t", "s:agent", "-l", "say hi")
            time.sleep(0.5)
            tmux("send-keys", "-t", "s:agent", "Enter")
            question = tmux.wait_for("watch", f"held     {HOST}:{api.port}")
            assert "[o]nce  [s]ession  [a]lways  [d]eny" in question, question
            # control: while the question is open, the reply has not come
            assert REPLY not in tmux.screen("agent")
            assert not api.requests
            tmux("send-keys", "-t", "s:watch", "s")
            tmux.wait_for("watch", "session by watch")
            tmux.wait_for("agent", REPLY)
            assert api.requests
            tmux("send-keys", "-t", "s:agent", "C-c")
            time.sleep(0.5)
            tmux("send-keys", "-t", "s:agent", "C-c")
            tmux.wait_for("agent", "EXITED=", 30)
            tmux.wait_for("watch", "the session has ended", 30)
        finally:
            tmux("kill-server")
    logs = sorted(Path(_paths.client_dir(client)).glob("sessions/*/audit.jsonl"))
    events = [json.loads(line) for line in logs[-1].read_text().splitlines()]
    answered = [e for e in events if e["event"] == "net-ask" and e["op"] == "answered"]
    assert answered, events
    assert answered[0]["decision"] == "session"
    assert answered[0]["by"].startswith("watch (pid ")
    assert answered[0]["host"] == HOST

#!/usr/bin/env python3
"""Run the REAL Claude Code or Codex TUI in tmux through agent-sandbox and report what the
terminal filter did to its output.

    .venv/bin/python scripts/agent-tui-terminal.py claude   # or codex; --no-filter: control

The agent talks to a fake API on loopback (tests/fakes), in a filtered sandbox, recorded
(``--record``: the recording holds the agent's raw bytes, before the filter). The script
types a prompt, waits until the reply is on tmux's screen (the TUI works through the filter)
and exits. Then it tokenizes the raw recording, runs every escape sequence through the
filter and prints each kind of sequence the agent sent, how often, and whether the filter
passed it, answered-by-the-terminal ones marked. Needs tmux and the agents
(scripts/install-agents.sh).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bwsandbox import _paths  # noqa: E402
from bwsandbox.runtime._termfilter import filter_bytes  # noqa: E402
from tests.conftest import agent_sandbox_command  # noqa: E402
from tests.fakes import FakeAnthropic, FakeOpenAI  # noqa: E402

REPLY = "Hi from the fake API, tui-7731."
HOST = {"claude": "api.fake-anthropic.test", "codex": "api.fake-openai.test"}
SOCKET = f"bwsandbox-termcheck-{os.getpid()}"
_TOKEN = re.compile(
    rb"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|\x1b[PX^_].*?\x1b\\"
    rb"|\x1b[\x20-\x2f]*[\x30-\x7e]"
    rb"|[\x00-\x06\x0e-\x1a\x1c-\x1f\x7f]",
    re.S,
)


def kind(seq: bytes) -> str:
    """A readable class for a sequence: its introducer, private marker and final byte."""
    if seq.startswith(b"\x1b["):
        body = seq[2:-1]
        marker = body[:1] if body[:1] in (b"?", b">", b"<", b"=") else b""
        if seq[-1:] in b"hl" and marker == b"?":
            return f"CSI ?{body[1:].decode()}{seq[-1:].decode()}"  # each mode
        if seq[-1:] in b"nctu" or seq.endswith(b"$p"):
            return f"CSI {body.decode(errors='replace')}{seq[-1:].decode()}"
        return f"CSI {marker.decode()}…{seq[-1:].decode(errors='replace')}"
    if seq.startswith(b"\x1b]"):
        code = seq[2:].split(b";", 1)[0].rstrip(b"\x07\x1b\\").decode(errors="replace")
        query = "?" if b";?" in seq else ""
        if code == "8":
            uri = seq[2:].split(b";", 2)[-1][:8].decode(errors="replace")
            return f"OSC 8 ({uri}…)"
        return f"OSC {code}{' query' if query else ''}"
    if seq[:2] in (b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX"):
        return f"string {seq[:4]!r}"
    if seq.startswith(b"\x1b"):
        return f"ESC {seq[1:].decode(errors='replace')}"
    return f"control {seq!r}"


def tmux(*args: str) -> str:
    done = subprocess.run(
        ["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=False
    )
    return done.stdout


def wait_for(text: str, patience: float) -> str:
    deadline = time.monotonic() + patience
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", "s")
        if text in screen:
            return screen
        time.sleep(0.3)
    raise SystemExit(f"{text!r} never showed up; the screen:\n{screen}")


def seed_claude(client: str, project: str) -> None:
    home = Path(_paths.client_dir(client)) / "agents" / "claude" / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = {
        "hasCompletedOnboarding": True,
        "theme": "dark",
        "customApiKeyResponses": {"approved": ["test"], "rejected": []},
        "projects": {project: {"hasTrustDialogAccepted": True}},
    }
    (home / ".claude.json").write_text(json.dumps(config))


def seed_codex(client: str, project: str) -> None:
    home = Path(_paths.client_dir(client)) / "agents" / "codex" / "home" / ".codex"
    home.mkdir(parents=True, exist_ok=True)
    (home / "auth.json").write_text(json.dumps({"OPENAI_API_KEY": "test"}))
    (home / "config.toml").write_text(
        'preferred_auth_method = "apikey"\n[tui]\nscreen_reader_detection_done = true\n'
        f'[projects.{json.dumps(project)}]\ntrust_level = "trusted"\n'
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("agent", choices=("claude", "codex"))
    parser.add_argument("--no-filter", action="store_true", help="the control run")
    parser.add_argument("--patience", type=float, default=60)
    parser.add_argument("--bindir", help="where the agent is (default: install-agents.sh)")
    args = parser.parse_args()
    if args.bindir:
        bindir = Path(args.bindir)
    else:
        installed = subprocess.run(
            ["bash", str(REPO / "scripts" / "install-agents.sh"), args.agent],
            capture_output=True,
            text=True,
            check=True,
        )
        bindir = Path(installed.stdout.split()[-1])
    client = f"termcheck-{os.getpid()}"
    project = tempfile.mkdtemp(prefix="termcheck-")
    fake = FakeAnthropic(reply=REPLY) if args.agent == "claude" else FakeOpenAI(reply=REPLY)
    with fake as api:
        host = HOST[args.agent]
        env = {
            "TERM": "xterm-256color",
            f"BWSANDBOX_AGENT_BIN_{args.agent.upper()}": str(bindir / args.agent),
        }
        if args.agent == "claude":
            env |= {"ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": f"http://{host}:{api.port}"}
            seed_claude(client, project)
        else:
            env |= {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": f"http://{host}:{api.port}/v1"}
            seed_codex(client, project)
        argv = [*agent_sandbox_command(), args.agent, "--client", client]
        argv += ["--record", "--add-host", f"{host}=127.0.0.1", "--allow", f"{host}:{api.port}"]
        if args.no_filter:
            policy = Path(project).with_suffix(".toml")
            policy.write_text("[hardening]\nterminal_filter = false\n")
            argv += ["--policy", str(policy)]
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        shell = f"cd {shlex.quote(project)} && env {exports} {shlex.join(argv)}; echo EXITED=$?"
        tmux("new-session", "-d", "-s", "s", "-x", "120", "-y", "40", shell)
        tmux("set-option", "-t", "s", "remain-on-exit", "on")
        try:
            started = time.monotonic()
            time.sleep(3)
            if args.agent == "codex":
                # first run: trust prompt / model notices may come up; Enter takes the default
                for _ in range(3):
                    screen = tmux("capture-pane", "-p", "-t", "s")
                    if "trust" in screen.lower() or "continue" in screen.lower():
                        tmux("send-keys", "-t", "s", "Enter")
                        time.sleep(1.5)
            tmux("send-keys", "-t", "s", "-l", "say hi")
            time.sleep(0.5)
            tmux("send-keys", "-t", "s", "Enter")
            screen = wait_for(REPLY, args.patience)
            print(f"reply on screen after {time.monotonic() - started:.1f} s")
            tmux("send-keys", "-t", "s", "C-c")
            time.sleep(0.5)
            tmux("send-keys", "-t", "s", "C-c")
            screen = wait_for("EXITED=", 30)
        finally:
            tmux("kill-server")
    casts = sorted(
        (Path(_paths.client_dir(client)) / "sessions").glob("*/session.cast"),
        key=lambda p: p.stat().st_mtime,
    )
    raw = b""
    for line in casts[-1].read_text().splitlines()[1:]:
        _at, code, data = json.loads(line)
        if code == "o":
            raw += data.encode()
    counts: collections.Counter[tuple[str, bool]] = collections.Counter()
    for m in _TOKEN.finditer(raw):
        seq = m.group()
        counts[(kind(seq), filter_bytes(seq) == seq)] += 1
    print(f"{args.agent}: {len(raw)} bytes of output; filter {'off' if args.no_filter else 'on'}")
    for (name, passed), count in sorted(counts.items()):
        print(f"  {'pass' if passed else 'DROP'}  {count:5d}  {name}")
    print("last screen:\n" + "\n".join(line for line in screen.splitlines() if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

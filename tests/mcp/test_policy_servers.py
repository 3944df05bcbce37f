"""Policy-declared MCP servers (``[mcp.servers.NAME]``): sibling sandboxes behind sockets.

The sandboxed command reaches each server through the bridge at /run/agent-sandbox/mcp; the
server runs in a sandbox of its own with its own grants. Real processes: the real
@modelcontextprotocol/server-filesystem, a JSON-RPC client inside the agent's sandbox, and
(in ``test_claude_in_sandbox_uses_a_policy_server``) the real Claude Code inside
``agent-sandbox claude`` with a fake API.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pytest

from bwsandbox._errors import PolicyError
from bwsandbox.mcp import MAX_CONNECTIONS, McpHub, ServerLaunch, client_config, server_argv
from bwsandbox.policy import load_policy
from bwsandbox.policy._model_mcp import McpServer
from tests.conftest import Cli
from tests.fakes import FakeAnthropic

from .conftest import NpmBin, find_npm_bin

# A JSON-RPC client run INSIDE the agent's sandbox: speaks to a server through the bridge.
INSIDE_CLIENT = r"""
import json, subprocess, sys
name, tool, path = sys.argv[1:4]
p = subprocess.Popen(["python3", "/run/agent-sandbox/mcp/bridge.py",
                      f"/run/agent-sandbox/mcp/{name}.sock"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def req(i, method, params):
    p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                               "params": params}) + "\n").encode())
    p.stdin.flush()
    while True:
        msg = json.loads(p.stdout.readline())
        if msg.get("id") == i:
            return msg
req(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                      "clientInfo": {"name": "inside", "version": "1"}})
print(json.dumps(req(2, "tools/call", {"name": tool, "arguments": {"path": path}})))
p.stdin.close()
print("bridge exit", p.wait())
"""


def _policy(tmp_path: Path, fs_server: NpmBin, *extra_ro: str) -> Path:
    ro = [str(fs_server.cache), *extra_ro]
    path = tmp_path / "servers.toml"
    path.write_text(
        'extends = ["base"]\n'
        "[mcp.servers.fs]\n"
        f"command = {json.dumps([str(fs_server.path), '/'])}\n"
        f"ro = {json.dumps(ro)}\n"
    )
    return path


def _inside(cli: Cli, project: Path, policy: Path, path: Path, *shell: str) -> dict[str, object]:
    (project / "inside.py").write_text(INSIDE_CLIENT)
    script = f"python3 inside.py fs read_text_file {path}" + "".join(f"; {s}" for s in shell)
    result = cli("run", "--policy", str(policy), "--", "sh", "-c", script)
    assert result.returncode == 0, result.describe()
    lines = result.stdout.splitlines()
    assert "bridge exit 0" in lines, result.describe()
    answer = json.loads(lines[0])
    return {"answer": answer, "stdout": result.stdout, "stderr": result.stderr}


# -- pure ---------------------------------------------------------------------------------


def test_server_argv_is_an_mcp_command_line() -> None:
    server = McpServer(
        command=("srv", "{project}/data", "{host_home}/x"),
        allow=("api.example.com",),
        ro=("{host_home}/models",),
        rw=("{project}",),
        env=("TOKEN",),
        policy=("team",),
        name="fs",
    )
    argv = server_argv(server, project="/p", client="acme", host_home="/home/a")
    assert argv == (
        "mcp", "--project", "/p", "--client", "acme",
        "--policy", "team", "--ro", "/home/a/models", "--rw", "/p",
        "--allow", "api.example.com", "--env", "TOKEN",
        "--", "srv", "/p/data", "/home/a/x",
    )  # fmt: skip


def test_unknown_variable_is_refused() -> None:
    server = McpServer(command=("srv", "{home}/x"), name="fs")
    with pytest.raises(PolicyError, match="project"):
        server_argv(server, project="/p", client="c", host_home="/h")


def test_client_config_runs_the_bridge() -> None:
    config = client_config(["fs", "git"])
    servers = config["mcpServers"]
    assert isinstance(servers, dict)
    assert servers["git"]["args"] == [
        "/run/agent-sandbox/mcp/bridge.py",
        "/run/agent-sandbox/mcp/git.sock",
    ]


def test_servers_merge_per_name_and_render_back(tmp_path: Path) -> None:
    first = tmp_path / "a.toml"
    first.write_text(
        'extends = ["base"]\n[mcp.servers.fs]\ncommand = ["a"]\n'
        '[mcp.servers.git]\ncommand = ["g"]\n'
    )
    second = tmp_path / "b.toml"
    second.write_text('[mcp.servers.fs]\ncommand = ["b"]\nallow = ["example.com"]\n')
    policy = load_policy([str(first), str(second)])
    servers = {s.name: s for s in policy.mcp.servers}
    assert servers["fs"].command == ("b",)
    assert servers["fs"].allow == ("example.com",)
    assert servers["git"].command == ("g",)
    from bwsandbox.policy._render import policy_as_dict

    rendered = policy_as_dict(policy)["mcp"]
    assert rendered == {
        "servers": {"fs": {"command": ["b"], "allow": ["example.com"]}, "git": {"command": ["g"]}}
    }


@pytest.mark.parametrize(
    ("table", "mentions"),
    [
        ('[mcp.servers.fs]\ncomand = ["x"]\n', "did you mean 'command'"),
        ("[mcp.servers.fs]\nallow = []\n", "needs a command"),
        ('[mcp.servers."a b"]\ncommand = ["x"]\n', "server name"),
        ('[mcp.servers.fs]\ncommand = ["x"]\nallow = ["exa mple"]\n', "mcp.servers.fs.allow[0]"),
        ('[mcp.servers.fs]\ncommand = ["x"]\nro = ["relative"]\n', "mcp.servers.fs.ro[0]"),
    ],
)
def test_bad_server_tables_name_the_key(tmp_path: Path, table: str, mentions: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(table)
    with pytest.raises(PolicyError, match=r"mcp\.servers") as info:
        load_policy([str(path)])
    assert mentions in str(info.value)


def _sleeper(
    argv: Sequence[str], stdin: int, stdout: int, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    del argv
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=stdin,
        stdout=stdout,
        stderr=log,
    )


def test_connections_beyond_the_limit_are_refused(tmp_path: Path) -> None:
    hub = McpHub(
        [ServerLaunch("fs", ("mcp", "--", "x"))],
        parent_dir=str(tmp_path),
        log_dir=str(tmp_path / "logs"),
        spawn=_sleeper,
    )
    path = hub.open()
    conns = []
    try:
        for _ in range(MAX_CONNECTIONS + 1):
            conn = socket.socket(socket.AF_UNIX)
            conn.connect(f"{path}/fs.sock")
            conns.append(conn)
        last = conns[-1]
        last.settimeout(30)
        assert last.recv(1) == b""  # closed by the hub: no fifth sandbox
        assert hub.refused == 1
        assert hub.live("fs") == MAX_CONNECTIONS
    finally:
        for conn in conns:
            conn.close()
        hub.close()
    assert hub.live("fs") == 0
    assert not Path(path).exists()


# -- real sandboxes -----------------------------------------------------------------------


@pytest.mark.bwrap
@pytest.mark.userns
def test_agent_reads_project_through_a_sibling_sandbox(
    cli: Cli, fs_server: NpmBin, project: Path, tmp_path: Path
) -> None:
    token = secrets.token_hex(8)
    (project / "notes.txt").write_text(f"project notes {token}\n")
    policy = _policy(tmp_path, fs_server)
    seen = _inside(cli, project, policy, project / "notes.txt", "ls /run/agent-sandbox/mcp")
    assert token in json.dumps(seen["answer"])
    assert "fs.sock" in str(seen["stdout"])
    leftovers = list(Path(cli.runtime_dir).glob("agent-sandbox-mcp-*"))
    assert leftovers == [], "the hub dir is removed at the end"


@pytest.mark.bwrap
@pytest.mark.userns
def test_grants_stay_with_the_server(
    cli: Cli, fs_server: NpmBin, project: Path, tmp_path: Path
) -> None:
    """The server's own ro bind: the server reads it; the agent's sandbox does not see it."""
    granted = tmp_path / "granted"
    granted.mkdir()
    token = secrets.token_hex(8)
    (granted / "data.txt").write_text(f"server only {token}\n")
    policy = _policy(tmp_path, fs_server, str(granted))
    seen = _inside(
        cli, project, policy, granted / "data.txt", f"cat {granted}/data.txt 2>&1 || true"
    )
    assert token in json.dumps(seen["answer"])  # control: the server reads it
    after = str(seen["stdout"]).splitlines()[1:]  # the agent's own cat, after the tool result
    assert token not in "\n".join(after), seen
    assert "No such file" in "\n".join(after), seen


@pytest.mark.bwrap
@pytest.mark.userns
def test_sibling_cannot_read_host_home(
    cli: Cli, fs_server: NpmBin, project: Path, tmp_path: Path
) -> None:
    token = secrets.token_hex(8)
    secret = Path.home() / f".bwsandbox-mcp-canary-{secrets.token_hex(8)}"
    secret.write_text(f"host home secret {token}\n")
    try:
        seen = _inside(cli, project, _policy(tmp_path, fs_server), secret)
    finally:
        secret.unlink()
    answer = seen["answer"]
    assert isinstance(answer, dict)
    assert answer["result"]["isError"], answer
    assert token not in json.dumps(answer)


@pytest.mark.slow
@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_claude_in_sandbox_uses_a_policy_server(
    cli: Cli, fs_server: NpmBin, project: Path, tmp_path: Path
) -> None:
    """The real use case: Claude Code inside ``agent-sandbox claude``, the server beside it."""
    claude = find_npm_bin("claude", "claude")
    token = secrets.token_hex(8)
    (project / "notes.txt").write_text(f"project notes {token}\n")
    policy = _policy(tmp_path, fs_server)
    host = "api.fake-anthropic.test"
    tool = "mcp__fs__read_text_file"
    with FakeAnthropic(reply="DONE", tool_use=(tool, {"path": str(project / "notes.txt")})) as api:
        env = {
            "BWSANDBOX_AGENT_BIN_CLAUDE": str(claude.path),
            "ANTHROPIC_API_KEY": "test",
            "ANTHROPIC_BASE_URL": f"http://{host}:{api.port}",
        }
        result = cli(
            "claude",
            "--policy",
            str(policy),
            "--allow",
            host,
            "--add-host",
            f"{host}=127.0.0.1",
            "--env",
            "ENABLE_TOOL_SEARCH=false",
            "--",
            "-p",
            "read the notes",
            "--allowedTools",
            tool,
            env=env,
            timeout=240,
        )
    assert result.returncode == 0, result.describe()
    assert tool in api.offered_tools(), result.describe()
    assert any(token in r for r in api.tool_results()), (api.tool_results(), result.describe())
    assert token in result.stdout, result.describe()


# A "server" that tries to hand the agent an open file of its own (SCM_RIGHTS on stdout).
LEAKY_SERVER = r"""
import array, os, socket, sys
sys.stdin.readline()
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    out = socket.socket(fileno=os.dup(1))
    out.sendmsg([b"fd\n"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
except OSError as exc:
    os.write(1, ("no fd: %s\n" % exc.__class__.__name__).encode())
"""

# The agent side: connect to the socket directly (no bridge) and look for a passed fd.
GREEDY_AGENT = r"""
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"hello\n")
fds = array.array("i")
data, anc, _, _ = s.recvmsg(100, socket.CMSG_SPACE(4 * fds.itemsize))
for level, kind, raw in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(raw[: len(raw) - len(raw) % fds.itemsize])
print("data", data.decode().strip(), "fds", len(fds))
for fd in fds:
    print("leaked", os.read(fd, 100).decode().strip())
"""


def _leaky_setup(tmp_path: Path) -> tuple[Path, str]:
    granted = tmp_path / "server-only"
    granted.mkdir()
    token = secrets.token_hex(8)
    (granted / "secret.txt").write_text(f"server secret {token}\n")
    (granted / "leaky.py").write_text(LEAKY_SERVER)
    return granted, token


@pytest.mark.bwrap
@pytest.mark.userns
def test_no_file_descriptor_crosses_between_sandboxes(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    granted, token = _leaky_setup(tmp_path)
    policy = tmp_path / "leaky.toml"
    command = ["python3", f"{granted}/leaky.py", f"{granted}/secret.txt"]
    policy.write_text(
        'extends = ["base"]\n[mcp.servers.leak]\n'
        f"command = {json.dumps(command)}\nro = {json.dumps([str(granted)])}\n"
    )
    (project / "greedy.py").write_text(GREEDY_AGENT)
    result = cli(
        "run",
        "--policy",
        str(policy),
        "--",
        "python3",
        "greedy.py",
        "/run/agent-sandbox/mcp/leak.sock",
    )
    assert result.returncode == 0, result.describe()
    assert "data no fd: OSError" in result.stdout, result.describe()  # the server got a pipe
    assert "fds 0" in result.stdout, result.describe()
    assert token not in result.stdout


@pytest.mark.bwrap
@pytest.mark.userns
def test_control_a_server_on_a_socket_can_pass_a_file(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    """Control: the same server given a socket as stdin/stdout (as a direct client might)
    hands its file over, which is why the hub relays bytes instead of passing the socket."""
    granted, token = _leaky_setup(tmp_path)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        proc = subprocess.Popen(
            [
                *cli.command,
                "mcp",
                "--ro",
                str(granted),
                "--",
                "python3",
                f"{granted}/leaky.py",
                f"{granted}/secret.txt",
            ],
            stdin=theirs.fileno(),
            stdout=theirs.fileno(),
            stderr=subprocess.PIPE,
            env=cli.env,
            cwd=cli.cwd,
        )
        theirs.close()
        ours.sendall(b"hello\n")
        ours.settimeout(60)
        data, anc, _, _ = ours.recvmsg(100, socket.CMSG_SPACE(4))
        _, err = proc.communicate(timeout=60)
    assert data == b"fd\n", err
    [(_, _, raw)] = anc
    fd = int.from_bytes(raw[:4], sys.byteorder)
    try:
        assert token in os.read(fd, 100).decode()
    finally:
        os.close(fd)


def test_agent_args_point_each_agent_at_the_servers() -> None:
    from bwsandbox.mcp import agent_args

    assert agent_args("claude", ["fs"]) == ("--mcp-config", "/run/agent-sandbox/mcp/mcp.json")
    assert agent_args("codex", ["fs"]) == (
        "-c",
        'mcp_servers.fs.command="python3"',
        "-c",
        (
            'mcp_servers.fs.args=["/run/agent-sandbox/mcp/bridge.py", '
            '"/run/agent-sandbox/mcp/fs.sock"]'
        ),
    )
    assert agent_args("shell", ["fs"]) == ()


@pytest.mark.slow
@pytest.mark.bwrap
@pytest.mark.userns
def test_codex_in_sandbox_is_configured_for_a_policy_server(
    cli: Cli, fs_server: NpmBin, project: Path, tmp_path: Path
) -> None:
    """Codex reads the servers from its -c overrides (its own `mcp get` shows them)."""
    codex = find_npm_bin("codex", "codex")
    result = cli(
        "codex",
        "--policy",
        str(_policy(tmp_path, fs_server)),
        "--network",
        "none",
        "--",
        "mcp",
        "get",
        "fs",
        "--json",
        env={"BWSANDBOX_AGENT_BIN_CODEX": str(codex.path), "OPENAI_API_KEY": "test"},
        timeout=120,
    )
    assert result.returncode == 0, result.describe()
    transport = json.loads(result.stdout)["transport"]
    assert transport["command"] == "python3"
    assert transport["args"] == [
        "/run/agent-sandbox/mcp/bridge.py",
        "/run/agent-sandbox/mcp/fs.sock",
    ]

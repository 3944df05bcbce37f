"""A tiny MCP client over stdio, for the tests: JSON-RPC 2.0, one message per line.

Every line the server process writes to stdout is parsed as a JSON-RPC message (a line that
is not one fails the test: stdout must carry nothing else). stderr goes to a file.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["PROTOCOL", "McpClient", "parse_message"]

PROTOCOL = "2025-06-18"


def parse_message(line: bytes) -> dict[str, Any]:
    """One stdout line as a JSON-RPC 2.0 message; AssertionError when it is anything else."""
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise AssertionError(f"stdout carried a non-JSON line: {line!r}") from exc
    assert isinstance(message, dict), f"not a JSON-RPC message: {line!r}"
    assert message.get("jsonrpc") == "2.0", f"not a JSON-RPC 2.0 message: {line!r}"
    assert ("id" in message) or ("method" in message), f"neither response nor call: {line!r}"
    return message


class McpClient:
    """Start ``argv`` with pipes; ``request()`` waits for the matching response."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        stderr_path: Path,
        timeout: float = 60.0,
    ) -> None:
        self.timeout = timeout
        self.stderr_path = stderr_path
        self._stderr: IO[bytes] = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(env),
            cwd=cwd,
        )
        self.lines: list[bytes] = []  # every stdout line, raw
        self.messages: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            try:
                message = parse_message(line)
            except AssertionError:
                message = {"invalid": line.decode(errors="replace")}
            self.messages.append(message)
            self._queue.put(message)
        self._queue.put(None)

    def send(self, message: Mapping[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})})

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        self.send({"jsonrpc": "2.0", "id": ident, "method": method, "params": dict(params or {})})
        while True:
            try:
                message = self._queue.get(timeout=self.timeout)
            except queue.Empty:
                raise AssertionError(f"no answer to {method}: {self.stderr()}") from None
            if message is None:
                raise AssertionError(f"the server ended before answering {method}: {self.stderr()}")
            assert "invalid" not in message, message
            if message.get("id") == ident and "method" not in message:
                return message

    def initialize(self) -> dict[str, Any]:
        answer = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "bwsandbox-tests", "version": "1"},
            },
        )
        self.notify("notifications/initialized")
        return answer

    def call(self, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """``tools/call``: the result (``content``, ``isError``) or the JSON-RPC error."""
        answer = self.request("tools/call", {"name": tool, "arguments": dict(arguments)})
        return dict(answer.get("result") or {"isError": True, "error": answer.get("error")})

    def close(self) -> int:
        """Close stdin (the MCP way to end a stdio server); the exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            code = self.proc.wait(self.timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self._stderr.close()
        return code

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

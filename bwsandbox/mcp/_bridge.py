"""The stdio bridge the agent runs inside its sandbox, as the source text of a script.

The agent starts an MCP server as a child with pipes; for a policy-declared server it starts
``python3 /run/agent-sandbox/mcp/bridge.py /run/agent-sandbox/mcp/NAME.sock`` instead, which
connects to the server's socket and copies bytes both ways: stdin to the socket (then
``shutdown(SHUT_WR)`` at EOF, which the server's sandbox sees as its client closing stdin),
and the socket to stdout (exit at EOF: the server ended). Standard library only, run by the
host's own ``python3`` (read-only ``/usr``); it holds no privilege the agent lacks.
"""

from __future__ import annotations

__all__ = ["BRIDGE_SOURCE"]

BRIDGE_SOURCE = b'''\
"""agent-sandbox MCP bridge: stdio <-> a unix socket served by the supervisor."""
import os
import socket
import sys
import threading


def _up(sock):
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(sys.argv[1])
    except OSError as exc:
        sys.stderr.write("agent-sandbox mcp bridge: %s: %s\\n" % (sys.argv[1], exc.strerror))
        return 1
    threading.Thread(target=_up, args=(sock,), daemon=True).start()
    while True:
        data = sock.recv(65536)
        if not data:
            return 0
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]


if __name__ == "__main__":
    sys.exit(main())
'''

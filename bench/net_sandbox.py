"""A minimal bwrap launcher with a filtered network attached, for the network benchmarks.

Mirrors what the runtime does for ``--network filtered`` (``--info-fd``/``--block-fd``, the
resolv.conf and proxy environment the compiler emits) without depending on the runtime.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence

from bwsandbox._audit import AuditSink, NullAudit
from bwsandbox._netconst import PROXY_ENV, RESOLV_CONF
from bwsandbox.compile._plan import NetworkPlan
from bwsandbox.net import NetworkSession, open_network
from bwsandbox.policy._model import NetworkMode

__all__ = ["bwrap_base", "run_none", "start_filtered"]


def bwrap_base() -> list[str]:
    argv = [
        "bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        "--clearenv", "--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/tmp",
    ]  # fmt: skip
    if os.geteuid() == 0:
        argv += ["--uid", "1000", "--gid", "1000"]
    return argv


def _data_fd(content: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, content)
    os.close(write_end)
    return read_end


def run_none(command: Sequence[str]) -> int:
    return subprocess.run([*bwrap_base(), "--", *command], check=False).returncode


def start_filtered(
    command: Sequence[str],
    *,
    allow: Sequence[str],
    add_hosts: Sequence[tuple[str, str]] = (),
    proxy_env: bool = True,
    audit: AuditSink | None = None,
    stdout: int | None = None,
) -> tuple[subprocess.Popen[bytes], NetworkSession]:
    """Start ``command`` in a filtered sandbox; the caller waits and closes the session."""
    plan = NetworkPlan.parse(NetworkMode.FILTERED, tuple(allow), (), tuple(add_hosts))
    session = open_network(plan, audit=audit or NullAudit(), session_id="bench")
    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    resolv = _data_fd(RESOLV_CONF.encode())
    argv = [*bwrap_base(), "--ro-bind-data", str(resolv), "/etc/resolv.conf"]
    argv += ["--info-fd", str(info_w), "--block-fd", str(block_r)]
    if proxy_env:
        for name, value in PROXY_ENV:
            argv += ["--setenv", name, value]
    process = subprocess.Popen(
        [*argv, "--", *command], pass_fds=(info_w, block_r, resolv), stdout=stdout
    )
    for fd in (info_w, block_r, resolv):
        os.close(fd)
    data = b""
    try:
        while b"}" not in data:
            chunk = os.read(info_r, 4096)
            if not chunk:
                raise RuntimeError("bwrap exited before reporting its child")
            data += chunk
        session.attach(int(json.loads(data[: data.index(b"}") + 1])["child-pid"]))
    finally:
        os.close(info_r)
        os.write(block_w, b"x")
        os.close(block_w)
    return process, session

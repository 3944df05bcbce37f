"""Configure the sandbox's network namespace from outside and bring back listening sockets.

A forked, single-threaded helper joins the sandbox's user namespace (as its owner it gets
every capability there) and network namespace, sets up links, routes and the nft ruleset,
binds the listeners inside, sends their descriptors back over a socketpair (SCM_RIGHTS) and
exits. Nothing of the helper survives; the sockets keep the namespace they were made in.

:func:`start_listeners` forks the helper and returns at once, so that the caller can do its
own set-up (import the proxy, build the gate) on the other core while the helper works; the
helper is reaped later (:meth:`Helper.close`), when it has long exited.
"""

from __future__ import annotations

import _thread
import array
import contextlib
import fcntl
import os
import signal
import socket
import struct
import time
import warnings

from bwsandbox._netconst import (
    DNS_ADDRESS,
    DNS_PORT,
    HTTP_PROXY_PORT,
    TRANSPARENT_PORT,
    VETH_V4,
    VETH_V6,
)
from bwsandbox.net._listeners import Listeners

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds
if TYPE_CHECKING:
    import ctypes

__all__ = ["Helper", "open_listeners", "start_listeners"]

_NS_GET_USERNS = 0xB701
_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_TIMEOUT = 10.0
#: (family, type, address, port) in the order the descriptors travel
_SOCKETS = (
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", TRANSPARENT_PORT),
    (socket.AF_INET6, socket.SOCK_STREAM, "::1", TRANSPARENT_PORT),
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", HTTP_PROXY_PORT),
    (socket.AF_INET, socket.SOCK_DGRAM, DNS_ADDRESS, DNS_PORT),
    (socket.AF_INET, socket.SOCK_STREAM, DNS_ADDRESS, DNS_PORT),
)


def open_listeners(pid: int) -> Listeners:
    """Set up the namespace of process ``pid`` and return its listeners; raises ``OSError``."""
    helper = start_listeners(pid)
    try:
        return helper.listeners()
    finally:
        helper.close()


def start_listeners(pid: int) -> Helper:
    """Fork the helper that sets up the namespace of process ``pid``; returns at once.

    Raises ``OSError`` when the namespace cannot be opened. The libraries the helper uses
    (ctypes, libnftables) are loaded in the helper itself when this process has no other
    thread; with threads, here before the fork (a thread might hold the loader's lock).
    """
    libs = None if _thread._count() == 0 else _load()  # threads that _thread started
    user_fd, net_fd = _namespace_fds(pid)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        with warnings.catch_warnings():
            # the helper only makes syscalls and libnftables calls, then _exit()s
            warnings.simplefilter("ignore", DeprecationWarning)
            child = os.fork()
        if child == 0:  # pragma: no cover - runs in the helper, reported over the socket
            _helper(libs, user_fd, net_fd, theirs)
    except BaseException:
        ours.close()
        raise
    finally:
        for fd in (user_fd, net_fd):
            if fd >= 0:
                os.close(fd)
        theirs.close()
    return Helper(child, ours)


class Helper:
    """A forked set-up helper: :meth:`listeners` waits for its sockets, :meth:`close` reaps it."""

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid = pid
        self._channel: socket.socket | None = channel

    def listeners(self) -> Listeners:
        """The helper's sockets once it has configured the namespace; raises ``OSError``."""
        channel, self._channel = self._channel, None
        if channel is None:
            raise OSError("the network setup helper was already asked")
        with channel:
            channel.settimeout(_TIMEOUT)
            try:
                message, fds = _receive(channel)
            except OSError:
                self.close()  # a helper that has not answered in time is killed
                raise
        if message != b"ok" or len(fds) != len(_SOCKETS):
            for fd in fds:
                os.close(fd)
            self.close()
            raise OSError(message.decode(errors="replace") or "network setup helper failed")
        sockets = [
            socket.socket(family, kind, fileno=fd)
            for (family, kind, _, _), fd in zip(_SOCKETS, fds, strict=True)
        ]
        return Listeners(*sockets)

    def close(self) -> None:
        """Reap the helper (killed first if it has not finished); safe to call twice."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.pid > 0:
            _reap(self.pid)
            self.pid = 0


def _load() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    """libc (for ``setns``) and libnftables, with the helper's modules; raises ``OSError``."""
    import ctypes

    import bwsandbox.net._netlink  # noqa: F401 - imported here, not in the helper
    from bwsandbox.net._nft import load_library

    return ctypes.CDLL(None, use_errno=True), load_library()


def _namespace_fds(pid: int) -> tuple[int, int]:
    """The network namespace of ``pid`` and the user namespace that owns it (-1: ours).

    The owner is asked of the network namespace itself: bwrap may have moved ``pid`` on into a
    nested user namespace (``--uid``), which has no capabilities over the network namespace.
    """
    net_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        user_fd = fcntl.ioctl(net_fd, _NS_GET_USERNS)
    except OSError:
        os.close(net_fd)
        raise
    own = os.stat("/proc/self/ns/user").st_ino  # noqa: PTH116 - no pathlib on the start-up path
    if os.fstat(user_fd).st_ino == own:
        os.close(user_fd)
        user_fd = -1
    return user_fd, net_fd


def _wait_for_loopback() -> None:
    """bwrap brings ``lo`` up itself, concurrently with us: wait until it has finished."""
    request = struct.pack("16sH14x", b"lo", 0)
    deadline = time.monotonic() + _TIMEOUT
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        while True:
            (flags,) = struct.unpack_from("H", fcntl.ioctl(probe, _SIOCGIFFLAGS, request), 16)
            if flags & _IFF_UP:
                return
            if time.monotonic() > deadline:
                raise OSError("the sandbox's loopback interface never came up")
            time.sleep(0.0002)


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    message, ancillary, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(64 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return message, list(fds)


def _reap(child: int) -> None:
    """Wait for the helper; one that has not finished by now (timeout) is killed first."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(child, os.WNOHANG) == (0, 0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)


def _helper(  # pragma: no cover - runs in the forked child
    libs: tuple[ctypes.CDLL, ctypes.CDLL] | None,
    user_fd: int,
    net_fd: int,
    channel: socket.socket,
) -> None:
    """Runs in the forked child: never returns."""
    status = 1
    try:
        from bwsandbox.net._netlink import configure_links
        from bwsandbox.net._nft import apply_ruleset, ruleset

        libc, nft = _load() if libs is None else libs
        for fd, kind in ((user_fd, _CLONE_NEWUSER), (net_fd, _CLONE_NEWNET)):
            if fd >= 0:
                _setns(libc, fd, kind)
        _wait_for_loopback()
        configure_links(VETH_V4, VETH_V6)
        apply_ruleset(nft, ruleset(proxy_port=TRANSPARENT_PORT, dns_port=DNS_PORT))
        sockets = [_bind(*spec) for spec in _SOCKETS]
        fds = array.array("i", [s.fileno() for s in sockets])
        channel.sendmsg([b"ok"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
        status = 0
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        with contextlib.suppress(OSError):
            channel.send(f"{type(exc).__name__}: {exc}".encode()[:4000])
    finally:
        os._exit(status)


def _setns(libc: ctypes.CDLL, fd: int, kind: int) -> None:  # pragma: no cover - helper
    import ctypes

    if libc.setns(fd, kind) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def _bind(family: int, kind: int, address: str, port: int) -> socket.socket:
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(1024)
    return sock

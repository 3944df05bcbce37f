"""The few rtnetlink messages filtered mode needs, over a raw ``AF_NETLINK`` socket.

pyroute2 costs 130-145 ms to import; these five messages cost well under a millisecond.
Runs inside the sandbox's network namespace (in the setup helper); raises ``OSError``.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

__all__ = ["VETH_INDEX", "VETH_NAME", "build_batch", "configure_links", "parse_acks"]

VETH_NAME = "sbx0"
VETH_PEER = "sbx1"
VETH_INDEX = 2
_PEER_INDEX = 3

_HEADER = 16  # struct nlmsghdr
_ACK_TIMEOUT = 5.0
_RTM_NEWLINK = 16
_RTM_NEWADDR = 20
_RTM_NEWROUTE = 24
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NLM_F_EXCL = 0x200
_NLM_F_CREATE = 0x400
_IFF_UP = 0x1
_IFLA_IFNAME = 3
_IFLA_LINKINFO = 18
_IFLA_INFO_KIND = 1
_IFLA_INFO_DATA = 2
_VETH_INFO_PEER = 1
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFA_F_NODAD = 0x02
_RTA_OIF = 4
_RT_TABLE_MAIN = 254
_RTPROT_STATIC = 4
_RT_SCOPE_UNIVERSE = 0
_RT_SCOPE_LINK = 253
_RTN_UNICAST = 1


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _ifinfo(index: int, *, up: bool) -> bytes:
    flags = _IFF_UP if up else 0
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, flags, _IFF_UP)


def _link_up(index: int) -> tuple[int, bytes]:
    return _RTM_NEWLINK, _ifinfo(index, up=True)


def _veth_pair() -> tuple[int, bytes]:
    peer = _ifinfo(_PEER_INDEX, up=False) + _attr(_IFLA_IFNAME, VETH_PEER.encode() + b"\0")
    info = _attr(_IFLA_INFO_KIND, b"veth") + _attr(_IFLA_INFO_DATA, _attr(_VETH_INFO_PEER, peer))
    body = (
        _ifinfo(VETH_INDEX, up=True)
        + _attr(_IFLA_IFNAME, VETH_NAME.encode() + b"\0")
        + _attr(_IFLA_LINKINFO, info)
    )
    return _RTM_NEWLINK, body


def _address(address: str) -> tuple[int, bytes]:
    ip = ipaddress.ip_address(address)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    header = struct.pack(
        "=BBBBI", family, ip.max_prefixlen, _IFA_F_NODAD, _RT_SCOPE_UNIVERSE, VETH_INDEX
    )
    return _RTM_NEWADDR, header + _attr(_IFA_LOCAL, ip.packed) + _attr(_IFA_ADDRESS, ip.packed)


def _default_route(family: int) -> tuple[int, bytes]:
    scope = _RT_SCOPE_LINK if family == socket.AF_INET else _RT_SCOPE_UNIVERSE
    header = struct.pack(
        "=BBBBBBBBI", family, 0, 0, 0, _RT_TABLE_MAIN, _RTPROT_STATIC, scope, _RTN_UNICAST, 0
    )
    return _RTM_NEWROUTE, header + _attr(_RTA_OIF, struct.pack("=i", VETH_INDEX))


def build_batch(address_v4: str, address_v6: str) -> tuple[bytes, int]:
    """The request batch :func:`configure_links` sends, and how many requests it holds (pure).

    A veth pair (both ends here) with one address per family and default routes. The peer
    stays in this namespace: nothing routed to it leaves the namespace, so the only way out is
    the host-side listeners the nft redirect leads to.
    """
    requests = [
        _veth_pair(),
        _link_up(_PEER_INDEX),  # not at creation: veth refuses to open before its peer exists
        _address(address_v4),
        _address(address_v6),
        _default_route(socket.AF_INET),
        _default_route(socket.AF_INET6),
    ]
    ack = _NLM_F_REQUEST | _NLM_F_ACK
    create = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL
    batch = b"".join(
        struct.pack(
            "=IHHII",
            16 + len(body),
            kind,
            ack if kind == _RTM_NEWLINK and seq > 1 else create,
            seq,
            0,
        )
        + body
        for seq, (kind, body) in enumerate(requests, start=1)
    )
    return batch, len(requests)


def configure_links(address_v4: str, address_v6: str) -> None:
    """Send :func:`build_batch` and wait for every acknowledgement; raises ``OSError``."""
    batch, count = build_batch(address_v4, address_v6)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sock.settimeout(_ACK_TIMEOUT)
        sock.sendall(batch)
        _read_acks(sock, count)


def _read_acks(sock: socket.socket, count: int) -> None:
    pending = set(range(1, count + 1))
    while pending:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            missing = ", ".join(map(str, sorted(pending)))
            raise OSError(errno.ETIMEDOUT, f"rtnetlink: no acknowledgement for {missing}") from None
        if not data:
            raise OSError(errno.EPROTO, "rtnetlink: the socket closed before every acknowledgement")
        parse_acks(data, pending)


def parse_acks(data: bytes, pending: set[int]) -> None:
    """Take the acknowledged requests out of ``pending``; raises ``OSError``, nothing else.

    A refused request raises with the kernel's errno. A reply that is not well-formed netlink
    (short header, a length that does not fit, an error code out of range, an answer to a
    request that is not pending) raises ``EPROTO``: it never loops, crashes or is skipped.
    """
    offset = 0
    while offset < len(data):
        if len(data) - offset < _HEADER:
            raise OSError(errno.EPROTO, f"rtnetlink: truncated header at byte {offset}")
        length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < _HEADER or length > len(data) - offset:
            raise OSError(errno.EPROTO, f"rtnetlink: bad message length {length} at byte {offset}")
        if kind == _NLMSG_ERROR:
            if length < _HEADER + 4:
                raise OSError(
                    errno.EPROTO, f"rtnetlink: truncated acknowledgement at byte {offset}"
                )
            (error,) = struct.unpack_from("=i", data, offset + _HEADER)
            if seq not in pending:
                raise OSError(errno.EPROTO, f"rtnetlink: answer to unknown request {seq}")
            if not -4095 <= error <= 0:
                raise OSError(errno.EPROTO, f"rtnetlink: bad error code {error} for request {seq}")
            if error:
                raise OSError(-error, f"rtnetlink request {seq}: {os.strerror(-error)}")
            pending.discard(seq)
        offset += (length + 3) & ~3

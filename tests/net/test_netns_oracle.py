"""Filtered mode's namespace checked by independent libraries, not by our own code.

The product builds rtnetlink messages by hand (``_netlink``, pyroute2 costs 130 ms to import)
and loads the ruleset through libnftables with ctypes (``_nft``). Here:

- pyroute2 decodes the exact batch the product sends;
- pyroute2 and the official nftables bindings look at a live sandbox's namespace from outside
  (``_nsinspect.py``, in a fresh single-threaded interpreter that joins its namespaces): the
  links, addresses and routes, and the installed ruleset as JSON, which must be exactly the
  default-deny ruleset below; the control inspects a namespace without a session;
- hypothesis feeds the acknowledgement parser arbitrary replies: a clear ``OSError`` (the
  network session turns it into ``NetworkError``) or success, never another exception, a
  hang, or a request taken as acknowledged that was not.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink import nlmsgerr
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from bwsandbox.net._constants import DNS_PORT, TRANSPARENT_PORT, VETH_V4, VETH_V6
from bwsandbox.net._netlink import VETH_INDEX, VETH_NAME, build_batch, parse_acks
from bwsandbox.testing import Running, start_sandbox

INSPECT = Path(__file__).with_name("_nsinspect.py")


# -- the batch, decoded by pyroute2 ------------------------------------------------------------
def test_pyroute2_decodes_the_batch_the_product_sends() -> None:
    batch, count = build_batch(VETH_V4, VETH_V6)
    messages = list(MarshalRtnl().parse(batch))
    assert len(messages) == count == 6
    assert sum(m["header"]["length"] for m in messages) == len(batch)
    assert [m["header"]["sequence_number"] for m in messages] == [1, 2, 3, 4, 5, 6]
    assert all(m["header"]["flags"] & 0x5 == 0x5 for m in messages)  # REQUEST | ACK
    assert [m["event"] for m in messages] == ["RTM_NEWLINK"] * 2 + ["RTM_NEWADDR"] * 2 + [
        "RTM_NEWROUTE"
    ] * 2

    veth, peer_up, addr4, addr6, route4, route6 = messages
    assert veth["index"] == VETH_INDEX
    assert veth.get_attr("IFLA_IFNAME") == VETH_NAME
    info = veth.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "sbx1"
    assert veth["header"]["flags"] & 0x600 == 0x600  # CREATE | EXCL: never reuse a link
    assert peer_up["index"] == peer["index"]
    assert peer_up["flags"] & 1

    for message, address, family, prefix in ((addr4, VETH_V4, 2, 32), (addr6, VETH_V6, 10, 128)):
        assert message["family"] == family
        assert message["prefixlen"] == prefix
        assert message["index"] == VETH_INDEX
        assert message.get_attr("IFA_LOCAL") == address
        assert message.get_attr("IFA_ADDRESS") == address

    for message, family in ((route4, 2), (route6, 10)):
        assert message["family"] == family
        assert message["dst_len"] == 0  # default route
        assert message["table"] == 254
        assert message.get_attr("RTA_OIF") == VETH_INDEX
        assert message.get_attr("RTA_GATEWAY") is None


# -- the acknowledgement parser: pyroute2 builds the replies, hypothesis breaks them ------------
def _ack(seq: int, error: int = 0) -> bytes:
    message = nlmsgerr()
    message["header"]["type"] = 2  # NLMSG_ERROR
    message["header"]["sequence_number"] = seq
    message["error"] = error
    message.encode()
    return bytes(message.data)


def test_real_shaped_acks_are_consumed() -> None:
    pending = {1, 2, 3}
    parse_acks(_ack(1) + _ack(3), pending)
    assert pending == {2}
    parse_acks(_ack(2), pending)
    assert pending == set()


def test_a_refused_request_raises_the_kernel_errno() -> None:
    with pytest.raises(OSError, match="request 2: File exists") as caught:
        parse_acks(_ack(1) + _ack(2, -17), {1, 2})
    assert caught.value.errno == 17


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01" * 5, "truncated header"),
        (struct.pack("=IHHII", 8, 2, 0, 1, 0), "bad message length 8"),
        (struct.pack("=IHHII", 4096, 2, 0, 1, 0), "bad message length 4096"),
        (struct.pack("=IHHII", 16, 2, 0, 1, 0), "truncated acknowledgement"),
        (struct.pack("=IHHIIi", 20, 2, 0, 9, 0, 0), "unknown request 9"),
        (struct.pack("=IHHIIi", 20, 2, 0, 1, 0, 5), "bad error code 5"),
    ],
)
def test_malformed_replies_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(OSError, match=message):
        parse_acks(data, {1, 2})


_messages = st.lists(
    st.one_of(
        st.builds(_ack, st.integers(0, 8), st.sampled_from([0, 0, -1, -17, -4095])),
        st.binary(max_size=40),
        st.builds(
            lambda length, kind, seq, tail: struct.pack("=IHHII", length, kind, 0, seq, 0) + tail,
            st.integers(0, 2**32 - 1),
            st.integers(0, 0xFFFF),
            st.integers(0, 8),
            st.binary(max_size=24),
        ),
    ),
    max_size=6,
).map(b"".join)


# a longer run: BWSBX_FUZZ_EXAMPLES=200000 pytest tests/net/test_netns_oracle.py -k fuzzed
@settings(max_examples=int(os.environ.get("BWSBX_FUZZ_EXAMPLES", "400")), deadline=None)
@given(data=_messages)
def test_fuzzed_replies_give_a_clear_oserror_or_an_honest_result(data: bytes) -> None:
    pending = {1, 2, 3, 4, 5, 6}
    before = set(pending)
    error: OSError | None = None
    try:
        parse_acks(data, pending)
    except OSError as exc:
        error = exc
    if error is not None:
        assert "rtnetlink" in str(error)  # says what failed; the session adds the hint
        return
    # success: only requests that a well-formed zero-error ack named were taken out
    taken = before - pending
    offset, acked = 0, set()
    while offset < len(data):
        length, kind, _f, seq, _p = struct.unpack_from("=IHHII", data, offset)
        if kind == 2:
            assert struct.unpack_from("=i", data, offset + 16) == (0,)
            acked.add(seq)
        offset += (length + 3) & ~3
    assert taken == acked


# -- a live sandbox seen from outside --------------------------------------------------------
def _inspect(pid: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(INSPECT), str(pid)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _match(left: object, right: object) -> dict[str, object]:
    return {"match": {"op": "==", "left": left, "right": right}}


def _daddr(protocol: str, right: object) -> dict[str, object]:
    return _match({"payload": {"protocol": protocol, "field": "daddr"}}, right)


_LOOP4 = {"prefix": {"addr": "127.0.0.0", "len": 8}}
_TCP = _match({"meta": {"key": "l4proto"}}, "tcp")


def _rule(chain: str, *expr: object) -> dict[str, object]:
    return {"rule": {"family": "inet", "table": "bwsandbox", "chain": chain, "expr": list(expr)}}


#: written out by hand from the design (docs/network.md), not generated from ``_nft``
EXPECTED_RULESET = [
    {"table": {"family": "inet", "name": "bwsandbox"}},
    {"chain": {"family": "inet", "table": "bwsandbox", "name": "nat_out", "type": "nat",
               "hook": "output", "prio": -100, "policy": "accept"}},
    {"chain": {"family": "inet", "table": "bwsandbox", "name": "filter_out", "type": "filter",
               "hook": "output", "prio": 0, "policy": "drop"}},
    _rule("nat_out", _daddr("ip", _LOOP4), {"return": None}),
    _rule("nat_out", _daddr("ip6", "::1"), {"return": None}),
    _rule("nat_out", _match({"meta": {"key": "l4proto"}}, {"set": ["tcp", "udp"]}),
          _match({"payload": {"protocol": "th", "field": "dport"}}, 53),
          {"redirect": {"port": DNS_PORT}}),
    _rule("nat_out", _TCP, {"redirect": {"port": TRANSPARENT_PORT}}),
    _rule("filter_out", _match({"meta": {"key": "oif"}}, "lo"), {"accept": None}),
    _rule("filter_out", _daddr("ip", _LOOP4), {"accept": None}),
    _rule("filter_out", _daddr("ip6", "::1"), {"accept": None}),
    _rule("filter_out", _TCP, {"reject": {"type": "tcp reset"}}),
    _rule("filter_out", {"reject": {"type": "icmpx", "expr": "admin-prohibited"}}),
]  # fmt: skip


@pytest.fixture
def live() -> Iterator[Running]:
    """A filtered sandbox waiting on its stdin while the test looks at it."""
    launched = start_sandbox(["head", "-c1"], allow=["example.com"])
    yield launched
    launched.finish(b"x")


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_the_installed_ruleset_is_exactly_the_default_deny_one(live: Running) -> None:
    seen = _inspect(live.child_pid)
    assert seen["ruleset"] == EXPECTED_RULESET


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_links_addresses_and_routes_seen_from_outside(live: Running) -> None:
    seen = _inspect(live.child_pid)
    links = {link["name"]: link for link in seen["links"]}
    assert set(links) == {"lo", "sbx0", "sbx1"}
    assert all(link["up"] for link in links.values())
    assert links["sbx0"]["kind"] == links["sbx1"]["kind"] == "veth"
    assert links["sbx0"]["index"] == VETH_INDEX
    # no global address but ours; link-local ones are the kernel's own (never routed out)
    globals_ = [a for a in seen["addresses"] if not a.startswith("fe80:")]
    assert sorted(globals_) == sorted(
        ["127.0.0.1/8 1", "::1/128 1", f"{VETH_V4}/32 {VETH_INDEX}", f"{VETH_V6}/128 {VETH_INDEX}"]
    )
    defaults = [r for r in seen["routes"] if r.startswith("default")]
    assert defaults == [f"default/0 oif {VETH_INDEX}"] * 2  # one per family


def _child_pid(info_fd: int) -> int:
    """The sandbox's pid 1 from bwrap's ``--info-fd`` (the control runs bwrap bare)."""
    data = b""
    while b"}" not in data:
        chunk = os.read(info_fd, 4096)
        if not chunk:
            raise RuntimeError(f"bwrap gave no child pid: {data!r}")
        data += chunk
    return int(json.loads(data[: data.index(b"}") + 1])["child-pid"])


@pytest.mark.bwrap
@pytest.mark.userns
@pytest.mark.netns
def test_control_a_namespace_without_a_session_has_no_ruleset() -> None:
    """The inspector reads the sandbox's namespace, not the host's: an unconfigured one is bare."""
    info_r, info_w = os.pipe()
    process = subprocess.Popen(
        ["bwrap", "--unshare-user", "--unshare-net", "--ro-bind", "/", "/",
         "--info-fd", str(info_w), "head", "-c1"],
        pass_fds=(info_w,), stdin=subprocess.PIPE,
    )  # fmt: skip
    os.close(info_w)
    try:
        seen = _inspect(_child_pid(info_r))
    finally:
        os.close(info_r)
        process.communicate(b"x", timeout=30)
    assert seen["ruleset"] == []
    assert [link["name"] for link in seen["links"]] == ["lo"]
    assert not any(r.startswith("default") for r in seen["routes"])

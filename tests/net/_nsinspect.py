"""Run as a script: join the network namespace of PID (and the user namespace that owns it)
and print, as JSON, what pyroute2 and the official nftables bindings see there.

A fresh interpreter is single-threaded, which ``setns`` into a user namespace requires; the
test process is not. Used by ``test_netns_oracle.py`` as an oracle independent of the code
that configured the namespace (raw rtnetlink + libnftables through ctypes).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import sys

_NS_GET_USERNS = 0xB701
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


def _join(pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    net = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    user = fcntl.ioctl(net, _NS_GET_USERNS)
    own = os.stat("/proc/self/ns/user").st_ino  # noqa: PTH116
    if os.fstat(user).st_ino != own and libc.setns(user, _CLONE_NEWUSER) != 0:
        raise OSError(ctypes.get_errno(), "setns(user)")
    if libc.setns(net, _CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns(net)")


def inspect() -> dict[str, object]:
    import nftables
    from pyroute2 import IPRoute

    out: dict[str, object] = {}
    with IPRoute() as ipr:
        links = []
        for link in ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info else None
            name = link.get_attr("IFLA_IFNAME")
            links.append(
                {"name": name, "index": link["index"], "up": bool(link["flags"] & 1), "kind": kind}
            )
        out["links"] = links
        out["addresses"] = sorted(
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']} {a['index']}" for a in ipr.get_addr()
        )
        out["routes"] = sorted(
            f"{r.get_attr('RTA_DST') or 'default'}/{r['dst_len']} oif {r.get_attr('RTA_OIF')}"
            for r in ipr.get_routes(family=0, table=254)
        )
    nft = nftables.Nftables()
    nft.set_json_output(True)
    rc, output, error = nft.cmd("list ruleset")
    if rc != 0:
        raise OSError(f"nft list ruleset: {error}")
    out["ruleset"] = [  # handles are the kernel's numbering, not part of the ruleset
        {kind: {k: v for k, v in body.items() if k != "handle"} for kind, body in item.items()}
        for item in json.loads(output)["nftables"]
        if "metainfo" not in item
    ]
    return out


if __name__ == "__main__":
    _join(int(sys.argv[1]))
    print(json.dumps(inspect()))

"""Fixed addresses inside the sandbox's network namespace for ``filtered`` mode.

Pure constants: the compiler uses them to write /etc/resolv.conf and the proxy environment;
the network setup binds its listeners to them.
"""

from __future__ import annotations

__all__ = [
    "DNS_ADDRESS",
    "DNS_PORT",
    "HOST_LOOPBACK_NAME",
    "HTTP_PROXY_PORT",
    "NSSWITCH_CONF",
    "OFFLINE_ENV",
    "PROXY_ENV",
    "RESOLV_CONF",
    "SYNTHETIC_V4",
    "SYNTHETIC_V6",
    "TRANSPARENT_PORT",
    "VETH_V4",
    "VETH_V6",
]

#: the host's own loopback, seen from inside a filtered sandbox (like Docker's
#: ``host.docker.internal``); reachable only per port, through an explicit ``NAME:PORT`` rule
HOST_LOOPBACK_NAME = "host.agent-sandbox.internal"

DNS_ADDRESS = "127.0.0.1"
DNS_PORT = 53
HTTP_PROXY_PORT = 3128
#: every other TCP connection is redirected here (127.0.0.1 and ::1)
TRANSPARENT_PORT = 15001

#: the sandbox's only non-loopback addresses (on a veth whose peer is in the same namespace)
VETH_V4 = "198.18.0.1"
VETH_V6 = "fd5b:5b5b::1"
#: DNS answers come from these ranges, one address per name
SYNTHETIC_V4 = "198.19.0.0/16"
SYNTHETIC_V6 = "fd5b:5b5b:0:1::/64"

RESOLV_CONF = f"nameserver {DNS_ADDRESS}\noptions edns0 trust-ad\n"


def _nsswitch(hosts: str) -> str:
    return (
        "passwd: files\ngroup: files\nshadow: files\ngshadow: files\n"
        f"hosts: {hosts}\nnetworks: files\nprotocols: files\nservices: files\n"
        "ethers: files\nrpc: files\n"
    )


#: ``/etc/nsswitch.conf`` per network mode other than ``host``. Without a network (``none``)
#: names come from ``/etc/hosts`` only: an unknown name is a definite "not found" at once
#: (``EAI_NONAME``, Node's ``ENOTFOUND``), never the "try again" (``EAI_AGAIN``) an absent
#: DNS server gives, which npm and others retry for a minute or more. ``filtered`` asks the
#: session's own DNS responder, whose NXDOMAIN is just as definite. The host's own list
#: (mdns, systemd, nis...) would only reach services that are not there.
NSSWITCH_CONF: dict[str, str] = {
    "none": _nsswitch("files"),
    "filtered": _nsswitch("files dns"),
}

#: Defaults for ``none`` mode, where no retry can ever succeed: npm retries even "not found"
#: twice with back-off (70 s measured before failing), pip five times (14 s), cargo three.
#: The policy's ``env`` and passthrough still win.
OFFLINE_ENV: tuple[tuple[str, str], ...] = (
    ("npm_config_fetch_retries", "0"),
    ("PIP_RETRIES", "0"),
    ("CARGO_NET_RETRY", "0"),
)

_PROXY_URL = f"http://127.0.0.1:{HTTP_PROXY_PORT}"

#: Environment for proxy-aware tools; proxy-unaware ones are intercepted transparently.
PROXY_ENV: tuple[tuple[str, str], ...] = (
    ("HTTP_PROXY", _PROXY_URL),
    ("HTTPS_PROXY", _PROXY_URL),
    ("ALL_PROXY", _PROXY_URL),
    ("http_proxy", _PROXY_URL),
    ("https_proxy", _PROXY_URL),
    ("all_proxy", _PROXY_URL),
    ("NO_PROXY", "localhost,127.0.0.1,::1"),
    ("no_proxy", "localhost,127.0.0.1,::1"),
)

"""Fixed addresses inside the sandbox's network namespace for ``filtered`` mode.

Pure constants: the compiler uses them to write /etc/resolv.conf and the proxy environment;
the network setup binds its listeners to them.
"""

from __future__ import annotations

__all__ = [
    "DNS_ADDRESS",
    "DNS_PORT",
    "HTTP_PROXY_PORT",
    "PROXY_ENV",
    "RESOLV_CONF",
    "SYNTHETIC_V4",
    "SYNTHETIC_V6",
    "TRANSPARENT_PORT",
    "VETH_V4",
    "VETH_V6",
]

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

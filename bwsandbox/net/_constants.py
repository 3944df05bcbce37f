"""Fixed addresses inside the sandbox's network namespace for ``filtered`` mode.

Pure constants: the compiler uses them to write /etc/resolv.conf and the proxy environment;
the network setup binds its listeners to them.
"""

from __future__ import annotations

__all__ = ["DNS_ADDRESS", "HTTP_PROXY_PORT", "PROXY_ENV", "RESOLV_CONF"]

DNS_ADDRESS = "127.0.0.1"
HTTP_PROXY_PORT = 3128

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

"""The sandbox namespace's nftables ruleset, loaded through libnftables with ctypes.

ctypes + ``libnftables.so.1`` costs ~3 ms; the ``nftables`` bindings ~8-15 ms (json,
jsonschema probing) and an ``nft`` subprocess ~4 ms. Runs in the setup helper; raises
``OSError``.
"""

from __future__ import annotations

import ctypes

__all__ = ["apply_ruleset", "load_library", "ruleset"]

_LIBRARY = "libnftables.so.1"


def ruleset(*, proxy_port: int, dns_port: int) -> str:
    """Redirect every TCP connection to the proxy and DNS to the responder; refuse the rest.

    Loopback stays loopback (the sandbox's own servers, the explicit proxy, the responder).
    The filter chain sees the output device chosen *before* the redirect, so redirected
    traffic is accepted by its new destination address, not by ``oif lo``.
    """
    return f"""
table inet bwsandbox {{
  chain nat_out {{
    type nat hook output priority -100; policy accept;
    ip daddr 127.0.0.0/8 return
    ip6 daddr ::1 return
    meta l4proto {{ tcp, udp }} th dport 53 redirect to :{dns_port}
    meta l4proto tcp redirect to :{proxy_port}
  }}
  chain filter_out {{
    type filter hook output priority 0; policy drop;
    oif "lo" accept
    ip daddr 127.0.0.0/8 accept
    ip6 daddr ::1 accept
    meta l4proto tcp reject with tcp reset
    reject with icmpx admin-prohibited
  }}
}}
"""


def load_library() -> ctypes.CDLL:
    """libnftables with its prototypes declared; raises ``OSError`` when it is missing."""
    try:
        lib = ctypes.CDLL(_LIBRARY)
    except OSError:
        lib = ctypes.CDLL("libnftables.so")  # a development symlink, where there is one
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    return lib


def apply_ruleset(lib: ctypes.CDLL, text: str) -> None:
    """Load ``text`` into the current network namespace's nftables."""
    ctx = lib.nft_ctx_new(0)
    if not ctx:
        raise OSError("nft_ctx_new failed")
    try:
        lib.nft_ctx_buffer_error(ctx)
        if lib.nft_run_cmd_from_buffer(ctx, text.encode()) != 0:
            error = lib.nft_ctx_get_error_buffer(ctx) or b"unknown error"
            raise OSError(f"nftables: {error.decode(errors='replace').strip()}")
    finally:
        lib.nft_ctx_free(ctx)

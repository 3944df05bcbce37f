"""Synthetic addresses: every name the DNS responder answers gets its own pair of addresses.

A connection to a synthetic address therefore says exactly which name was asked for, so the
proxy can check TLS SNI, HTTP Host and CONNECT targets against it (no domain fronting).
"""

from __future__ import annotations

import ipaddress
import threading

from bwsandbox._netconst import SYNTHETIC_V4, SYNTHETIC_V6
from bwsandbox._netrules import IPAddress

__all__ = ["SyntheticNames"]


class SyntheticNames:
    def __init__(self, v4_network: str = SYNTHETIC_V4, v6_network: str = SYNTHETIC_V6) -> None:
        self._v4 = ipaddress.IPv4Network(v4_network)
        self._v6 = ipaddress.IPv6Network(v6_network)
        self._lock = threading.Lock()
        self._by_name: dict[str, int] = {}
        self._by_index: list[str] = []

    def addresses(self, name: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv6Address]:
        """The (IPv4, IPv6) pair for ``name``, allocated on first use."""
        with self._lock:
            index = self._by_name.get(name)
            if index is None:
                index = len(self._by_index) + 1
                if index >= self._v4.num_addresses - 1:
                    raise OverflowError("synthetic address pool exhausted")
                self._by_name[name] = index
                self._by_index.append(name)
        return self._v4[index], self._v6[index]

    def name_for(self, address: IPAddress) -> str | None:
        """The name a synthetic address stands for; ``None`` for any other address."""
        if isinstance(address, ipaddress.IPv4Address):
            if address not in self._v4:
                return None
            index = int(address) - int(self._v4.network_address)
        else:
            mapped = address.ipv4_mapped
            if mapped is not None:
                return self.name_for(mapped)
            if address not in self._v6:
                return None
            index = int(address) - int(self._v6.network_address)
        with self._lock:
            if 1 <= index <= len(self._by_index):
                return self._by_index[index - 1]
        return None

    def is_synthetic(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if isinstance(address, ipaddress.IPv4Address):
            return address in self._v4
        return address in self._v6

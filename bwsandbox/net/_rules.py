"""Allowlist rule grammar (placeholder: the filtered-network work replaces this module).

``parse_rule(text)`` returns a parsed rule or raises ``ValueError`` with a message that says
what was expected; the policy loader turns that into a PolicyError with the key path.
"""

from __future__ import annotations

__all__ = ["parse_rule"]


def parse_rule(text: str) -> str:
    if not text or any(c.isspace() for c in text):
        raise ValueError("expected host, host:port, *.domain, IP or CIDR")
    return text

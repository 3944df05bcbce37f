"""Which rules a session ran under: the resolved policy as canonical JSON, and its digest.

The ``start`` audit event carries :func:`policy_digest` (both launch paths build it with this
function), so a digest names one resolved policy wherever it is shown.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds
if TYPE_CHECKING:
    from bwsandbox.policy._model import Policy

__all__ = ["canonical_policy", "policy_digest"]


def canonical_policy(policy: Policy) -> bytes:
    """The resolved policy as canonical JSON (``policy_as_dict``; sorted keys, compact)."""
    from bwsandbox._jsontext import dumps  # json.dumps's text without json (start-up)
    from bwsandbox.policy._render import policy_as_dict

    text = dumps(policy_as_dict(policy), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def policy_digest(policy: Policy) -> str:
    """``sha256:<hex>`` of :func:`canonical_policy`: which rules a session ran under."""
    return "sha256:" + _sha256_hex(canonical_policy(policy))


def _sha256_hex(data: bytes) -> str:
    """sha256 without hashlib, whose OpenSSL module costs 2 ms of start-up (the same digest:
    ``tests/unit/test_audit_record.py`` checks it against hashlib)."""
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:  # a build without the builtin ones
            from hashlib import sha256
    return str(sha256(data).hexdigest())

"""Which rules a session ran under: the resolved policy as canonical JSON, and its digest.

The ``start`` audit event carries :func:`policy_digest` (both launch paths build it with this
function), so a digest names one resolved policy wherever it is shown.
"""

from __future__ import annotations

import hashlib
import json

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds
if TYPE_CHECKING:
    from bwsandbox.policy._model import Policy

__all__ = ["canonical_policy", "policy_digest"]


def canonical_policy(policy: Policy) -> bytes:
    """The resolved policy as canonical JSON (``policy_as_dict``; sorted keys, compact)."""
    from bwsandbox.policy._render import policy_as_dict

    text = json.dumps(
        policy_as_dict(policy), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return text.encode("utf-8")


def policy_digest(policy: Policy) -> str:
    """``sha256:<hex>`` of :func:`canonical_policy`: which rules a session ran under."""
    return "sha256:" + hashlib.sha256(canonical_policy(policy)).hexdigest()

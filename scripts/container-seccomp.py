#!/usr/bin/env python3
"""Write a container seccomp profile that lets bwrap set the sandbox's hostname.

Usage: ``container-seccomp.py [BASE.json] > OUT.json``. BASE defaults to the engine's own
default profile (Podman: ``/usr/share/containers/seccomp.json``). The output is BASE with
``sethostname`` and ``setdomainname`` allowed unconditionally (the engines allow them only
with CAP_SYS_ADMIN, which a rootless or default container lacks); nothing else changes.
bwrap calls ``sethostname`` in the new UTS namespace it creates, so allowing it changes the
hostname of no one but the sandbox. See docs/containers.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT_BASE = "/usr/share/containers/seccomp.json"
ALLOWED = ("sethostname", "setdomainname")


def relax(profile: dict[str, object]) -> dict[str, object]:
    """``profile`` with the hostname calls allowed (removed from every refusing rule)."""
    rules = profile.get("syscalls")
    if not isinstance(rules, list):
        raise SystemExit("error: not a seccomp profile (no 'syscalls' list)")
    kept = []
    for rule in rules:
        names = [n for n in rule.get("names", []) if n not in ALLOWED]
        if rule.get("action") == "SCMP_ACT_ALLOW" or names == rule.get("names", []):
            kept.append(rule)
        elif names:  # a refusing rule that named them: the rest of it stays
            kept.append({**rule, "names": names})
    kept.append({"names": list(ALLOWED), "action": "SCMP_ACT_ALLOW"})
    return {**profile, "syscalls": kept}


def main(argv: list[str]) -> int:
    base = Path(argv[1] if len(argv) > 1 else DEFAULT_BASE)
    try:
        profile = json.loads(base.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the base profile {base}: {exc}", file=sys.stderr)
        return 1
    json.dump(relax(profile), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""``agent-sandbox explain``: what ``run`` would do, without starting anything.

Prints the layers, the resolved policy (TOML, or JSON with ``--json``), the network mode (a
WARNING line for ``host``), the sandbox environment and the exact bwrap argv (one token per
line, or one shell-quoted line). File descriptors and the session work dir are symbolic
(``{fd:NAME}``, ``{workdir}``): the runtime allocates them at start. Secret values (data files
marked secret, environment values whose names look like credentials) are redacted.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Sequence

from bwsandbox.cli._render import policy_text
from bwsandbox.cli._resolve import resolve
from bwsandbox.compile import SandboxPlan
from bwsandbox.policy import policy_as_dict

__all__ = ["REDACTED", "WORKDIR", "explain", "explain_lines", "is_secret_name", "redact_policy"]

REDACTED = "<redacted>"
#: the work dir as explain shows it (the runtime creates a fresh one per session)
WORKDIR = "{workdir}"

_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE|AUTH|COOKIE|SESSION)",
    re.IGNORECASE,
)

_NETWORK = {
    "none": "none (loopback only; no route out)",
    "filtered": "filtered (default-deny egress through the proxy; allowlist below)",
    "host": "host (the host's network: NO isolation)",
}


def is_secret_name(name: str) -> bool:
    """Environment names whose values explain never prints."""
    return bool(_SECRET_NAME.search(name))


def redact_policy(policy: dict[str, object]) -> dict[str, object]:
    """``policy_as_dict`` output with the values of secret-looking ``env.set`` names hidden."""
    env = policy.get("env")
    if isinstance(env, dict) and isinstance(env.get("set"), dict):
        values = env["set"]
        env = {**env, "set": {k: REDACTED if is_secret_name(k) else v for k, v in values.items()}}
        return {**policy, "env": env}
    return policy


def _network_lines(plan: SandboxPlan) -> list[str]:
    mode = str(plan.network.mode)
    lines = [f"network: {_NETWORK.get(mode, mode)}"]
    if mode == "host":
        lines.append(
            "WARNING: network mode 'host': the sandbox can reach everything the host can, "
            "including services on localhost and the local network"
        )
    lines += [f"  allow {rule}" for rule in plan.network.allow]
    lines += [f"  deny {rule}" for rule in plan.network.deny]
    lines += [f"  add-host {name}={ip}" for name, ip in plan.network.add_hosts]
    return lines


def _env(plan: SandboxPlan) -> dict[str, str]:
    return {name: REDACTED if is_secret_name(name) else value for name, value in plan.env}


def _data(plan: SandboxPlan) -> list[dict[str, object]]:
    dests = {}
    for option in plan.options:
        fd = getattr(option, "fd", None)
        dest = getattr(option, "dest", None)
        if fd is not None and isinstance(dest, str):
            dests[fd.name] = dest
    out: list[dict[str, object]] = []
    for item in plan.data:
        entry: dict[str, object] = {
            "fd": item.fd.name,
            "dest": dests.get(item.fd.name, ""),
            "bytes": len(item.content),
        }
        if item.secret:
            entry["content"] = REDACTED
        else:
            entry["content"] = item.content.decode("utf-8", "replace")
        out.append(entry)
    return out


def explain_lines(
    policy: dict[str, object], plan: SandboxPlan, *, as_json: bool = False, quoted: bool = False
) -> list[str]:
    """The text explain prints, as lines (pure: tested without a host)."""
    argv = plan.argv()
    if as_json:
        document = {
            "policy": policy,
            "network": {
                "mode": str(plan.network.mode),
                "allow": list(plan.network.allow),
                "deny": list(plan.network.deny),
                "add_hosts": [list(pair) for pair in plan.network.add_hosts],
            },
            "warnings": list(plan.warnings),
            "env": _env(plan),
            "cwd": plan.cwd,
            "data": _data(plan),
            "argv": argv,
        }
        return json.dumps(document, indent=2, ensure_ascii=False).splitlines()
    lines = policy_text(policy).splitlines()
    lines += ["", "# ---- plan ----", *_network_lines(plan)]
    lines += [f"warning: {warning}" for warning in plan.warnings if "'host'" not in warning]
    lines += ["", "environment (nothing else from the host gets in):"]
    lines += [f"  {name}={value}" for name, value in _env(plan).items()]
    lines += ["", "generated files (passed through pipes, never written to disk):"]
    for item in _data(plan):
        shown = item["content"] if item["content"] == REDACTED else f"{item['bytes']} bytes"
        lines.append(f"  {item['dest'] or item['fd']}: {shown}")
    lines += ["", "bwrap argv ({fd:NAME} and {workdir} are allocated at start):"]
    if quoted:
        lines.append(shlex.join(argv))
    else:
        lines += argv
    return lines


def explain(
    values: dict[str, object],
    words: Sequence[str],
    *,
    as_json: bool = False,
    quoted: bool = False,
) -> int:
    resolved = resolve("run", values, words, workdir=WORKDIR)
    plan = resolved.compile()
    policy = redact_policy(policy_as_dict(resolved.policy))
    lines = explain_lines(policy, plan, as_json=as_json, quoted=quoted)
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    for line in _network_lines(plan):
        if line.startswith("WARNING"):
            sys.stderr.write(line + "\n")  # loud even when stdout goes to a file
    return 0

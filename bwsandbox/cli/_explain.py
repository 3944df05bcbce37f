"""``agent-sandbox explain``: what ``run`` would do, without starting anything.

Prints the layers, the resolved policy (TOML, or JSON with ``--json``), the network mode (a
WARNING line for ``host``), the sandbox environment and the exact bwrap argv (one token per
line, or one shell-quoted line). File descriptors and the session work dir are symbolic
(``{fd:NAME}``, ``{workdir}``): the runtime allocates them at start. Secret values (data files
marked secret, environment values whose names look like credentials) are redacted.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import sys
from collections.abc import Sequence

from bwsandbox.cli._render import policy_text
from bwsandbox.cli._resolve import resolve
from bwsandbox.compile import SandboxPlan, explain_secrets, secret_dests
from bwsandbox.policy import Policy, policy_as_dict

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


def _network_lines(plan: SandboxPlan, policy: dict[str, object] | None = None) -> list[str]:
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
    if mode == "filtered":
        lines += _filter_lines(plan, _filter_document(plan, policy or {}))
    return lines


def _filter_document(plan: SandboxPlan, policy: dict[str, object]) -> dict[str, object]:
    """The filter's settings that change what the agent meets: inspected hosts, the session
    CA, how upstreams are verified, what happens to unlisted names."""
    network = policy.get("network")
    settings = network if isinstance(network, dict) else {}
    inspected = [
        {
            "rule": str(rule),
            "host": rule.host,
            "ports": list(rule.ports) if rule.ports is not None else None,
            "methods": list(rule.methods),
            "path": rule.path,  # "": any path
        }
        for rule in plan.network.allow
        if rule.inspecting
    ]
    return {
        "inspected": inspected,
        "session_ca": plan.network.inspecting,
        "upstream_ca_file": plan.network.upstream_ca_file,
        "unlisted": str(settings.get("unlisted", "deny")),
        "ask_timeout": str(settings.get("ask_timeout", "30s")),
    }


def _filter_lines(plan: SandboxPlan, document: dict[str, object]) -> list[str]:
    lines = []
    for rule in plan.network.allow:
        if rule.inspecting:
            methods = ",".join(rule.methods) or "any method"
            where = str(rule).rsplit(" ", 1)[-1].split("/", 1)[0]
            lines.append(f"  inspected HTTPS: {where}: {methods} {rule.path or '/*'}")
    upstream_ca = plan.network.upstream_ca_file
    if plan.network.inspecting:
        lines.append(
            "  session CA: minted at start; its key stays in the supervisor, its certificate is "
            "trusted inside (CA bundle, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, ...)"
        )
        verify = f"network.upstream_ca_file {upstream_ca}" if upstream_ca else "the host's CA store"
        lines.append(f"  inspected upstreams verified against: {verify}")
    elif upstream_ca:
        lines.append(f"  network.upstream_ca_file {upstream_ca} (unused: no rule inspects)")
    if document["unlisted"] == "ask":
        lines.append(
            f"  unlisted names: ask (held up to {document['ask_timeout']} for "
            "`agent-sandbox watch` or a library callback, then denied)"
        )
    else:
        lines.append(f"  unlisted names: {document['unlisted']} (at once)")
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
    described = secret_dests(plan)  # <secret NAME from SOURCE>, never the value
    for item in plan.data:
        entry: dict[str, object] = {
            "fd": item.fd.name,
            "dest": dests.get(item.fd.name, ""),
            "bytes": len(item.content),
        }
        if item.secret:
            entry["content"] = described.get(item.fd.name, REDACTED)
        else:
            try:
                entry["content"] = item.content.decode("utf-8")
            except UnicodeDecodeError:  # the seccomp filter: a BPF program
                entry["content"] = f"<{len(item.content)} bytes of binary data>"
                entry["base64"] = base64.b64encode(item.content).decode("ascii")
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
                "allow": [str(rule) for rule in plan.network.allow],
                "deny": [str(rule) for rule in plan.network.deny],
                "add_hosts": [list(pair) for pair in plan.network.add_hosts],
                **(_filter_document(plan, policy) if str(plan.network.mode) == "filtered" else {}),
            },
            "warnings": list(plan.warnings),
            "env": _env(plan),
            "cwd": plan.cwd,
            "data": _data(plan),
            "argv": argv,
        }
        if plan.secrets or plan.ssh is not None:
            document["secrets"] = explain_secrets(plan)
        return json.dumps(document, indent=2, ensure_ascii=False).splitlines()
    lines = policy_text(policy).splitlines()
    lines += ["", "# ---- plan ----", *_network_lines(plan, policy)]
    lines += [f"warning: {warning}" for warning in plan.warnings if "'host'" not in warning]
    lines += ["", "environment (nothing else from the host gets in):"]
    lines += [f"  {name}={value}" for name, value in _env(plan).items()]
    if plan.secrets or plan.ssh is not None:
        lines += ["", "secrets (read on the host at launch; values are never shown):"]
        lines += explain_secrets(plan)
    lines += ["", "generated files (passed through pipes, never written to disk):"]
    secret_fds = {item.fd.name for item in plan.data if item.secret}
    for item in _data(plan):
        secret = item["content"] == REDACTED or item["fd"] in secret_fds
        shown = item["content"] if secret else f"{item['bytes']} bytes"
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
    session = resolve("run", values, words, workdir=WORKDIR).prepare()
    plan = session.plan
    policy = redact_policy(policy_as_dict(session.policy))
    lines = explain_lines(policy, plan, as_json=as_json, quoted=quoted)
    lines = _with_limits(lines, session.policy, plan, as_json=as_json)
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    for line in _network_lines(plan):
        if line.startswith("WARNING"):
            sys.stderr.write(line + "\n")  # loud even when stdout goes to a file
    return 0


def _with_limits(
    lines: list[str], policy: Policy, plan: SandboxPlan, *, as_json: bool
) -> list[str]:
    """``lines`` plus how limits are enforced here and the seccomp rules (before the argv)."""
    from bwsandbox.cli._explain_limits import limit_lines, limits_document

    if as_json:
        document = json.loads("\n".join(lines))
        document.update(limits_document(policy, plan))
        return json.dumps(document, indent=2, ensure_ascii=False).splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("bwrap argv (")), len(lines))
    return [*lines[: max(0, at - 1)], *limit_lines(policy, plan), *lines[max(0, at - 1) :]]

"""The policy model for just-in-time secrets (``[secrets.NAME]``) and SSH certificates (``[ssh]``).

A secret in a policy is a *reference* (where to read it on the host at launch) and a
*delivery* (how the sandbox gets it); the value itself never appears in a policy, a plan, an
argv, a log or an error. ``[ssh]`` describes a per-session key pair whose public key the
user's local CA signs for a short time.
"""

from __future__ import annotations

import enum

from bwsandbox._record import field, record

__all__ = [
    "SECRET_SCHEMES",
    "Secret",
    "SecretDelivery",
    "SshPolicy",
    "named_secrets",
    "secrets_as_dict",
]

#: Where a secret can come from: ``env:NAME``, ``file:PATH``, ``command:WORDS``,
#: ``keyring:SERVICE/USER``.
SECRET_SCHEMES = ("env", "file", "command", "keyring")


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


class SecretDelivery(enum.StrEnum):
    """How a secret reaches the sandbox."""

    ENV = "env"
    FILE = "file"
    PROXY = "proxy"


@record
class Secret:
    """One ``[secrets.NAME]`` table: where the value comes from and how it is delivered."""

    source: str = field(
        metadata=_doc(
            "where the value is read on the host at launch: 'env:NAME', 'file:PATH' "
            "('~/' allowed), 'command:WORDS' (run without a shell), 'keyring:SERVICE/USER'"
        )
    )
    deliver: SecretDelivery = field(
        default=SecretDelivery.PROXY,
        metadata=_doc(
            "'proxy' (default: the sandbox holds a placeholder, the proxy adds the header), "
            "'env' (an environment variable), 'file' (a read-only memory-backed file)"
        ),
    )
    env: str = field(
        default="",
        metadata=_doc(
            "deliver=env: the variable inside; deliver=proxy: the variable that holds the "
            "placeholder (so that clients which insist on a key start)"
        ),
    )
    path: str = field(
        default="", metadata=_doc("deliver=file: where the file appears ('{home}/...')")
    )
    host: str = field(
        default="", metadata=_doc("deliver=proxy: the only host the proxy injects the secret for")
    )
    header: str = field(
        default="Authorization", metadata=_doc("deliver=proxy: the header the proxy sets")
    )
    template: str = field(
        default="",
        metadata=_doc(
            "deliver=proxy: the header value, with {secret}; default 'Bearer {secret}' for "
            "Authorization, '{secret}' for other headers"
        ),
    )
    base_url_env: str = field(
        default="",
        metadata=_doc(
            "deliver=proxy: a variable set to the plain-HTTP endpoint in the sandbox "
            "(e.g. ANTHROPIC_BASE_URL)"
        ),
    )
    port: int = field(default=443, metadata=_doc("deliver=proxy: the upstream port"))
    tls: bool = field(
        default=True,
        metadata=_doc(
            "deliver=proxy: connect upstream with TLS (verified); false only for loopback tests"
        ),
    )
    ca_file: str = field(
        default="",
        metadata=_doc("deliver=proxy: CA bundle to verify the upstream with (default: the host's)"),
    )
    name: str = field(default="", metadata=_doc("not a key: the NAME of [secrets.NAME]"))

    @property
    def scheme(self) -> str:
        return self.source.partition(":")[0]

    @property
    def header_value_template(self) -> str:
        if self.template:
            return self.template
        return "Bearer {secret}" if self.header.lower() == "authorization" else "{secret}"

    def describe(self) -> str:
        """How explain shows it: ``<secret NAME from env:VAR>`` (never the value)."""
        return f"<secret {self.name} from {self.source}>"


def named_secrets(pairs: object) -> tuple[Secret, ...]:
    """``(name, Secret)`` pairs from the merged ``secrets`` table -> Secrets carrying names."""
    from bwsandbox._record import replace

    out: list[Secret] = []
    for name, secret in pairs:  # type: ignore[attr-defined]
        assert isinstance(secret, Secret)
        out.append(replace(secret, name=str(name)))
    return tuple(out)


@record
class SshPolicy:
    """Short-lived SSH: a per-session key pair, its public key signed by your local CA."""

    ca_key: str = field(
        default="",
        metadata=_doc("the CA's private key on the host (empty: no SSH certificate)"),
    )
    principals: tuple[str, ...] = field(
        default=(), metadata=_doc("user names the certificate is valid for (-n)")
    )
    validity: str = field(
        default="15m", metadata=_doc("how long the certificate is valid: '30s', '15m', '1h'")
    )
    force_command: str = field(
        default="", metadata=_doc("a command the server runs whatever the client asks")
    )
    source_address: tuple[str, ...] = field(
        default=(),
        metadata=_doc("addresses/CIDRs the certificate may be used from, as the server sees them"),
    )
    target: str = field(
        default="", metadata=_doc("host:port written to ~/.ssh/config as Host 'target'")
    )
    known_hosts: tuple[str, ...] = field(
        default=(), metadata=_doc("known_hosts lines for the target (else accept-new)")
    )
    extensions: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "certificate extensions granted ('permit-pty', 'permit-port-forwarding', ...); "
            "every other one is cleared (default: none, so no pty, forwarding or agent)"
        ),
    )


def secrets_as_dict(secrets: tuple[Secret, ...]) -> dict[str, dict[str, object]]:
    """``[secrets.NAME]`` tables as plain data (non-default keys only; loads back)."""
    from bwsandbox._record import fields

    out: dict[str, dict[str, object]] = {}
    for secret in secrets:
        table: dict[str, object] = {}
        for f in fields(secret):
            value = getattr(secret, f.name)
            if f.name != "name" and (f.name in ("source", "deliver") or value != f.default):
                table[f.name] = str(value) if isinstance(value, str) else value
        out[secret.name] = table
    return out

"""Checks for ``[secrets.NAME]`` tables and the ``[ssh]`` section (see ``_checks``)."""

from __future__ import annotations

from bwsandbox._printable import ASCII_ALNUM, spelled
from bwsandbox._record import fields
from bwsandbox.policy._checks import (
    Invalid,
    _sub,
    check_bool,
    check_env_name,
    check_hostname,
    check_path,
    check_string,
    check_table,
    describe,
)
from bwsandbox.policy._hints import did_you_mean
from bwsandbox.policy._model_secrets import SECRET_SCHEMES, Secret, SecretDelivery

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "check_ca_key",
    "check_cert_extension",
    "check_principal",
    "check_secret",
    "check_secret_name",
    "check_source_address",
    "check_ssh_command",
    "check_ssh_target",
    "check_validity",
    "validity_seconds",
]

#: the grammar of a secret name and of an HTTP header name (RFC 9110 token); checked by hand
#: below (an agent with a key checks both at start-up, and ``re`` costs ~1.5 ms to import and
#: compile there); tests/unit/test_checks_secrets_grammar.py holds them to these patterns
_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}"
_HEADER = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_NAME_CHARS = ASCII_ALNUM + "_-"
_HEADER_CHARS = ASCII_ALNUM + "!#$%&'*+.^_`|~-"
_VALIDITY = r"(?:[0-9]+[smhdw])+"
_PRINCIPAL = r"[A-Za-z0-9._@-]+"
_SECRET_KEYS = tuple(f.name for f in fields(Secret) if f.name != "name")
_EXTENSIONS = (
    "permit-pty",
    "permit-port-forwarding",
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-user-rc",
    "no-touch-required",
)
_MAX_VALIDITY = 7 * 24 * 3600


def _is_secret_name(text: str) -> bool:
    """Whether ``text`` matches ``_NAME`` (ASCII letters and digits, ``_``, ``-``; 1-63)."""
    return spelled(text, ASCII_ALNUM, _NAME_CHARS, 63)


def _is_header_name(text: str) -> bool:
    """Whether ``text`` matches ``_HEADER`` (a non-empty HTTP token)."""
    return spelled(text, _HEADER_CHARS, _HEADER_CHARS)


def check_secret_name(value: object) -> str:
    text = check_string(value, what="a secret name")
    if not _is_secret_name(text):
        raise Invalid(f"expected a secret name (letters, digits, _ and -), got {text!r}")
    return text


def _check_source(value: object) -> str:
    what = "a source such as 'env:NAME', 'file:PATH', 'command:pass show x', 'keyring:svc/user'"
    text = check_string(value, what=what)
    scheme, colon, rest = text.partition(":")
    if not colon or scheme not in SECRET_SCHEMES:
        raise Invalid(f"expected {what}, got {text!r}", hint=did_you_mean(scheme, SECRET_SCHEMES))
    if not rest.strip():
        raise Invalid(f"expected {what}, got nothing after {scheme}:")
    if scheme == "env":
        check_env_name(rest)
    elif scheme == "keyring" and "/" not in rest.strip("/"):
        raise Invalid(f"expected 'keyring:SERVICE/USER', got {text!r}")
    elif scheme == "file" and not rest.startswith(("/", "~/")):
        raise Invalid(f"expected an absolute path or ~/... after file:, got {rest!r}")
    return text


def _check_delivery(value: object) -> SecretDelivery:
    modes = [mode.value for mode in SecretDelivery]
    text = check_string(value, what="env, file or proxy")
    if text not in modes:
        raise Invalid(f"expected env, file or proxy, got {text!r}", hint=did_you_mean(text, modes))
    return SecretDelivery(text)


def _check_header(value: object) -> str:
    text = check_string(value, what="an HTTP header name")
    if not _is_header_name(text) or text.lower() in ("host", "content-length", "connection"):
        raise Invalid(f"expected an HTTP header name such as 'x-api-key', got {text!r}")
    return text


def _check_template(value: object) -> str:
    text = check_string(value, what="a header value with {secret}")
    if text.count("{secret}") != 1 or text.replace("{secret}", "").count("{"):
        raise Invalid(
            f"expected a header value with {{secret}} once, got {text!r}",
            hint='e.g. "Bearer {secret}"',
        )
    if any(ch in text for ch in "\r\n\0"):
        raise Invalid("a header value cannot contain line breaks")
    return text


def _check_port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise Invalid(f"expected a port between 1 and 65535, got {describe(value)}")
    return value


def check_secret(value: object) -> Secret:
    """One ``[secrets.NAME]`` table."""
    value = check_table(
        value, _SECRET_KEYS, what="a secret", expected="a table with source and deliver"
    )
    if "source" not in value:
        raise Invalid("a secret needs a source", hint='write source = "env:NAME"')
    checks = {
        "source": _check_source,
        "deliver": _check_delivery,
        "env": check_env_name,
        "path": check_path,
        "host": check_hostname,
        "header": _check_header,
        "template": _check_template,
        "base_url_env": check_env_name,
        "port": _check_port,
        "tls": check_bool,
        "ca_file": check_path,
    }
    args: dict[str, Any] = {k: _sub(f".{k}", checks[k], item) for k, item in value.items()}
    secret = Secret(**args)
    if secret.deliver is SecretDelivery.ENV and not secret.env:
        raise Invalid("deliver = 'env' needs env (the variable name inside)", suffix=".env")
    if secret.deliver is SecretDelivery.FILE and not secret.path:
        raise Invalid("deliver = 'file' needs path (where the file appears)", suffix=".path")
    if secret.deliver is SecretDelivery.FILE and not secret.path.startswith(("{home}", "/run")):
        raise Invalid(
            f"a secret file goes under {{home}} or /run, got {secret.path!r}",
            hint="never in the project or work dir",
            suffix=".path",
        )
    if secret.deliver is SecretDelivery.PROXY and not secret.host:
        raise Invalid("deliver = 'proxy' needs host (where the proxy injects it)", suffix=".host")
    return secret


def check_validity(value: object) -> str:
    """A duration such as ``30s``, ``15m``, ``1h30m``; at most a week."""
    import re

    text = check_string(value, what="a duration such as '15m'")
    if not re.fullmatch(_VALIDITY, text):
        raise Invalid(f"expected a duration such as '30s', '15m' or '1h30m', got {text!r}")
    if not 0 < validity_seconds(text) <= _MAX_VALIDITY:
        raise Invalid(f"expected a duration between 1s and 1w, got {text!r}")
    return text


def validity_seconds(text: str) -> int:
    import re

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)([smhdw])", text))


def check_principal(value: object) -> str:
    import re

    text = check_string(value, what="a user name")
    if not re.fullmatch(_PRINCIPAL, text):
        raise Invalid(f"expected a user name, got {text!r}")
    return text


def check_source_address(value: object) -> str:
    """An address or CIDR, as sshd's ``source-address`` takes it."""
    import ipaddress

    text = check_string(value, what="an address or CIDR such as '127.0.0.1/32'")
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise Invalid(f"expected an address or CIDR such as '10.0.0.0/24', got {text!r}") from exc
    return text


def check_ssh_target(value: object) -> str:
    """``host:port`` or ``host`` (port 22)."""
    text = check_string(value, what="host or host:port", empty_ok=True)
    if not text:
        return text
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "22")
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise Invalid(f"expected host or host:port, got {text!r}")
    return text


def check_cert_extension(value: object) -> str:
    text = check_string(value, what="a certificate extension")
    if text not in _EXTENSIONS:
        raise Invalid(
            f"unknown certificate extension {text!r}", hint=did_you_mean(text, _EXTENSIONS)
        )
    return text


def check_ssh_command(value: object) -> str:
    text = check_string(value, what="a command", empty_ok=True)
    if any(ch in text for ch in "\r\n"):
        raise Invalid("expected a one-line command")
    return text


def check_ca_key(value: object) -> str:
    """The CA's private key on the host; empty: no SSH certificate."""
    if value == "":
        return ""
    return check_path(value)

"""Secrets at launch: read each one on the host, fill the plan's deliveries, never store it.

Values live only in this process's memory and in what they are delivered through: the
environment bwrap is started with (``deliver = "env"``), a sealed memfd bound read-only
(``deliver = "file"``), or the proxy's header injection (``deliver = "proxy"``). Nothing
here writes a value to disk, to an argv, to the audit log or to an error message:
:class:`~bwsandbox.SecretError` names the secret and its source only.

Sources: ``env:NAME`` (the host environment the sandbox was started from), ``file:PATH``
(``~/`` is the host home), ``command:WORDS`` (split like a shell, run without one, stdout
is the value), ``keyring:SERVICE/USER`` (the optional ``keyring`` library).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from bwsandbox._errors import SecretError
from bwsandbox._record import field, record, replace
from bwsandbox.policy import SecretDelivery

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox._audit import AuditSink
    from bwsandbox.compile._plan import SandboxPlan
    from bwsandbox.compile._secrets import SecretUse
    from bwsandbox.net._inject import Injection

__all__ = ["Delivery", "deliver_secrets", "read_secret"]

_COMMAND_TIMEOUT = 60.0
_MAX_SIZE = 1 << 20


@record
class Delivery:
    """The plan to launch (values filled in) and the proxy's injections. Keep it in memory."""

    plan: SandboxPlan = field(repr=False)
    injections: tuple[Injection, ...] = field(default=(), repr=False)
    delivered: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Delivery(delivered={self.delivered!r})"


def _fail(use: SecretUse, what: str, hint: str | None = None) -> SecretError:
    return SecretError(f"cannot read {use.describe()}: {what}", name=use.name, hint=hint)


def _from_env(use: SecretUse, name: str, environ: Mapping[str, str]) -> bytes:
    value = environ.get(name)
    if value is None:
        raise _fail(use, f"${name} is not set", hint=f"export {name}=... before starting")
    return value.encode()


def _from_file(use: SecretUse, path: str, environ: Mapping[str, str]) -> bytes:
    if path.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")  # noqa: PTH111
        path = home.rstrip("/") + "/" + path[2:]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise _fail(use, f"{path}: {exc.strerror}") from None
    try:
        data = os.read(fd, _MAX_SIZE + 1)
    except OSError as exc:
        raise _fail(use, f"{path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > _MAX_SIZE:
        raise _fail(use, f"{path} is larger than 1 MiB")
    return data


def _from_command(use: SecretUse, words: str, environ: Mapping[str, str]) -> bytes:
    import shlex
    import subprocess

    try:
        argv = shlex.split(words)
    except ValueError as exc:
        raise _fail(use, f"cannot split the command: {exc}") from None
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # a message could quote the secret: never kept
            env=dict(environ),
            timeout=_COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
        raise _fail(use, f"{argv[0] if argv else words}: {reason}") from None
    if result.returncode != 0:
        raise _fail(
            use,
            f"{argv[0]} exited with status {result.returncode}",
            hint=f"run `{words}` yourself to see its message",
        )
    return result.stdout


def _from_keyring(use: SecretUse, ref: str) -> bytes:
    service, _, user = ref.strip("/").rpartition("/")
    try:
        import keyring  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise _fail(
            use, "the keyring library is not installed", hint="pip install keyring"
        ) from None
    try:
        value = keyring.get_password(service, user)
    except Exception as exc:  # noqa: BLE001 - keyring backends raise anything; one seam
        raise _fail(use, f"the keyring failed ({type(exc).__name__})") from None
    if value is None:
        raise _fail(use, f"no password for {service}/{user} in the keyring")
    return str(value).encode()


def read_secret(use: SecretUse, environ: Mapping[str, str]) -> bytes:
    """The value of one secret (trailing newlines removed); SecretError without the value."""
    scheme, _, rest = use.source.partition(":")
    if scheme == "env":
        value = _from_env(use, rest, environ)
    elif scheme == "file":
        value = _from_file(use, rest, environ)
    elif scheme == "command":
        value = _from_command(use, rest, environ)
    elif scheme == "keyring":
        value = _from_keyring(use, rest)
    else:
        raise _fail(use, f"unknown source scheme {scheme!r}")
    value = value.rstrip(b"\r\n")
    if not value:
        raise _fail(use, "the value is empty")
    if use.deliver is not SecretDelivery.FILE and any(c in value for c in b"\r\n\0"):
        raise _fail(use, "the value has line breaks or NUL bytes (only a file can carry them)")
    return value


def deliver_secrets(
    plan: SandboxPlan,
    environ: Mapping[str, str],
    *,
    session_id: str = "",
    audit: AuditSink | None = None,
) -> Delivery:
    """Read every secret of ``plan``, issue its SSH certificate; the plan to launch.

    The audit log gets one ``secrets`` event with the names and how each was delivered.
    """
    env = dict(plan.env)
    data = {item.fd: item for item in plan.data}
    injections: list[Injection] = []
    delivered: list[str] = []
    records: list[dict[str, str]] = []
    for use in plan.secrets:
        value = read_secret(use, environ)
        if use.deliver is SecretDelivery.ENV:
            try:
                env[use.env] = value.decode()
            except UnicodeDecodeError:
                raise _fail(use, "the value is not UTF-8 text") from None
        elif use.deliver is SecretDelivery.FILE:
            assert use.fd is not None
            data[use.fd] = replace(data[use.fd], content=value + b"\n")
        else:
            injections.append(_injection(use, value))
        delivered.append(use.name)
        records.append({"name": use.name, "deliver": str(use.deliver), "source": use.source})
    if plan.ssh is not None:
        from bwsandbox.runtime._ssh import issue_certificate

        issued = issue_certificate(plan.ssh, session_id or os.urandom(6).hex())
        for fd, content in (
            (plan.ssh.key_fd, issued.private_key),
            (plan.ssh.pub_fd, issued.public_key),
            (plan.ssh.cert_fd, issued.certificate),
        ):
            data[fd] = replace(data[fd], content=content)
        delivered.append("ssh")
        records.append({"name": "ssh", "deliver": "file", "source": issued.describe()})
    if audit is not None and records:
        audit.event("secrets", delivered=records)
    filled = replace(
        plan, env=tuple(sorted(env.items())), data=tuple(data[item.fd] for item in plan.data)
    )
    return Delivery(filled, tuple(injections), tuple(delivered))


def _injection(use: SecretUse, value: bytes) -> Injection:
    from bwsandbox.net import Injection

    return Injection(
        secret=use.name,
        endpoint=use.endpoint,
        host=use.host,
        port=use.port,
        header=use.header,
        value=value.decode("latin-1"),
        template=use.template,
        tls=use.tls,
        ca_file=use.ca_file,
    )

"""The shape of secret and SSH delivery in a plan (pure: no values, no I/O).

The compiler decides *where* each secret goes: an environment variable, a memory-backed
read-only file (``--ro-bind-data`` from a sealed memfd whose content the runtime fills at
launch), or the proxy (the sandbox gets a placeholder and a plain-HTTP endpoint name; the
host-side proxy adds the real header upstream). The values are read by the runtime
(:mod:`bwsandbox.runtime._secrets`) and never enter the plan.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from bwsandbox._errors import PolicyError
from bwsandbox._record import record
from bwsandbox.compile._context import Part, PartBuilder
from bwsandbox.compile._delivery import SecretUse, SshPlan
from bwsandbox.compile._options import DataBind, FdRef
from bwsandbox.policy import NetworkMode, Policy, SecretDelivery, expand

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.compile._plan import SandboxPlan

__all__ = [
    "INJECT_DOMAIN",
    "SecretUse",
    "SecretsLayout",
    "SshPlan",
    "endpoint_for",
    "explain_secrets",
    "placeholder_for",
    "plan_secrets",
    "secret_dests",
]

#: The sandbox reaches ``https://HOST`` with the secret injected as ``http://HOST.<this>``.
INJECT_DOMAIN = "proxy.internal"


def endpoint_for(host: str) -> str:
    """The plain-HTTP name inside the sandbox that the proxy forwards to ``host`` over TLS."""
    return f"{host}.{INJECT_DOMAIN}"


def placeholder_for(name: str) -> str:
    """What the sandbox holds instead of a proxy-delivered secret."""
    return f"bwsandbox-placeholder-{name}"


@record
class SecretsLayout:
    """What :func:`plan_secrets` adds to a plan."""

    #: the mounted files (each entry's source is "secret" or "ssh"), data and environment
    part: Part
    uses: tuple[SecretUse, ...] = ()
    ssh: SshPlan | None = None


def _ssh_config(target: str, user: str, home: str, strict: bool) -> bytes:
    lines: list[str] = []
    if target:
        host, _, port = target.rpartition(":") if ":" in target else (target, "", "22")
        lines += ["Host target", f"  HostName {host.strip('[]')}", f"  Port {port}"]
        lines += [f"  User {user}"] if user else []
    lines += [
        "Host *",
        f"  IdentityFile {home}/.ssh/id_ed25519",
        f"  CertificateFile {home}/.ssh/id_ed25519-cert.pub",
        "  IdentitiesOnly yes",
        "  IdentityAgent none",
        "  ForwardAgent no",
        "  BatchMode yes",
        f"  StrictHostKeyChecking {'yes' if strict else 'accept-new'}",
    ]
    return ("\n".join(lines) + "\n").encode()


def plan_secrets(policy: Policy, variables: Mapping[str, str]) -> SecretsLayout:
    """Mounts, data files, environment and delivery records for ``policy.secrets``/``ssh``."""
    files = PartBuilder()
    env = files.env
    uses: list[SecretUse] = []
    for secret in policy.secrets:
        where = f"secrets.{secret.name}"
        use = SecretUse(name=secret.name, source=secret.source, deliver=secret.deliver)
        if secret.deliver is SecretDelivery.ENV:
            use = SecretUse(secret.name, secret.source, secret.deliver, env=secret.env)
        elif secret.deliver is SecretDelivery.FILE:
            path = posixpath.normpath(expand(secret.path, variables, where=where + ".path"))
            ref = files.data_file(f"secret-{secret.name}", secret=True)
            files.mount(DataBind(ref, path, perms="0400", origin="secret"))
            use = SecretUse(secret.name, secret.source, secret.deliver, fd=ref, path=path)
        else:
            if policy.network.mode is not NetworkMode.FILTERED:
                raise PolicyError(
                    f"secret {secret.name!r} is delivered by the proxy, which needs "
                    'network.mode = "filtered"',
                    key=where + ".deliver",
                    hint='set network.mode = "filtered", or deliver = "env" / "file"',
                )
            endpoint = endpoint_for(secret.host)
            ca_file = ""
            if secret.ca_file:
                ca_file = posixpath.normpath(expand(secret.ca_file, variables, where=where))
            use = SecretUse(
                name=secret.name,
                source=secret.source,
                deliver=secret.deliver,
                env=secret.env,
                host=secret.host,
                port=secret.port,
                header=secret.header,
                template=secret.header_value_template,
                tls=secret.tls,
                ca_file=ca_file,
                endpoint=endpoint,
            )
            if secret.env:
                env[secret.env] = placeholder_for(secret.name)
            if secret.base_url_env:
                env[secret.base_url_env] = f"http://{endpoint}"
        uses.append(use)
    ssh = _plan_ssh(policy, variables, files)
    return SecretsLayout(files.build(), tuple(uses), ssh)


def _plan_ssh(policy: Policy, variables: Mapping[str, str], files: PartBuilder) -> SshPlan | None:
    ssh = policy.ssh
    if not ssh.ca_key:
        return None
    if not ssh.principals:
        raise PolicyError(
            "an SSH certificate needs principals (the user names it is valid for)",
            key="ssh.principals",
            hint='e.g. principals = ["ha"]',
        )
    home = variables["home"]
    ca_key = posixpath.normpath(expand(ssh.ca_key, variables, where="ssh.ca_key"))
    key_path = f"{home}/.ssh/id_ed25519"
    key_fd = files.data_file("ssh-key", secret=True)
    pub_fd = files.data_file("ssh-pub")
    cert_fd = files.data_file("ssh-cert")
    config = _ssh_config(ssh.target, ssh.principals[0], home, bool(ssh.known_hosts))
    shown: list[tuple[str, FdRef, str]] = [
        (key_path, key_fd, "0400"),
        (key_path + ".pub", pub_fd, "0444"),
        (key_path + "-cert.pub", cert_fd, "0444"),
        (f"{home}/.ssh/config", files.data_file("ssh-config", config), "0444"),
    ]
    if ssh.known_hosts:
        known = ("\n".join(ssh.known_hosts) + "\n").encode()
        shown.append(
            (f"{home}/.ssh/known_hosts", files.data_file("ssh-known-hosts", known), "0444")
        )
    for path, ref, perms in shown:
        files.mount(DataBind(ref, path, perms=perms, origin="ssh"))
    return SshPlan(
        ca_key=ca_key,
        principals=ssh.principals,
        validity=ssh.validity,
        force_command=ssh.force_command,
        source_address=ssh.source_address,
        extensions=ssh.extensions,
        key_fd=key_fd,
        cert_fd=cert_fd,
        pub_fd=pub_fd,
        key_path=key_path,
    )


def explain_secrets(plan: SandboxPlan) -> list[str]:
    """What explain prints about secrets and SSH: names and sources only, never values."""
    lines: list[str] = []
    for use in plan.secrets:
        shown = use.describe()
        if use.deliver is SecretDelivery.ENV:
            lines.append(f"  {use.name}: env {use.env}={shown}")
        elif use.deliver is SecretDelivery.FILE:
            lines.append(f"  {use.name}: file {use.path} (read-only, memory) = {shown}")
        else:
            scheme = "https" if use.tls else "http"
            lines.append(
                f"  {use.name}: proxy adds '{use.header}: {use.template}' with {shown} to "
                f"http://{use.endpoint} -> {scheme}://{use.host}:{use.port}"
                + (f"; {use.env} holds a placeholder" if use.env else "")
            )
    if plan.ssh is not None:
        ssh = plan.ssh
        extras = [f"force-command={ssh.force_command!r}"] if ssh.force_command else []
        extras += [f"source-address={','.join(ssh.source_address)}"] if ssh.source_address else []
        lines.append(
            f"  ssh: a session key {ssh.key_path}, certificate signed by {ssh.ca_key} for "
            f"{','.join(ssh.principals)}, valid {ssh.validity}"
            + (f" ({'; '.join(extras)})" if extras else "")
        )
    return lines


def secret_dests(plan: SandboxPlan) -> dict[str, str]:
    """Data fd name -> how explain shows a secret file's content."""
    shown = {use.fd.name: use.describe() for use in plan.secrets if use.fd is not None}
    if plan.ssh is not None:
        shown[plan.ssh.key_fd.name] = "<ssh session key, made at launch>"
    return shown

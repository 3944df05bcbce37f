"""What a policy file may contain: sections and keys, derived from the model's field names.

Every key has a :class:`Spec`: how its layers merge (:class:`Kind`) and the check that turns
one raw value into a model value. A model field without a spec fails at import time, so the
model and the loader cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from bwsandbox._record import fields, record
from bwsandbox.policy import _checks as c
from bwsandbox.policy._model import (
    CommandPolicy,
    EnvPolicy,
    FilesystemPolicy,
    GitPolicy,
    HardeningPolicy,
    NetworkPolicy,
)
from bwsandbox.policy._model_devices import DevicesPolicy
from bwsandbox.policy._model_limits import LimitsPolicy, SeccompPolicy
from bwsandbox.policy._model_mcp import McpPolicy
from bwsandbox.policy._model_secrets import SshPolicy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SECTIONS", "SPECS", "TOP_KEYS", "Kind", "Spec"]


class Kind(enum.Enum):
    """How a key merges across layers."""

    SCALAR = "scalar"  # the later layer wins
    LIST = "list"  # appended, de-duplicated keeping the first position
    TABLE = "table"  # merged per name, the later layer wins


@record
class Spec:
    """How one policy key is checked: its kind and its value (and name) checks."""

    kind: Kind
    #: checks one value (a scalar, one list item, or one table value)
    check: Callable[[object], object]
    #: for tables: checks one name
    check_name: Callable[[object], str] | None = None


def _later(module: str, name: str) -> Callable[[Any], Any]:
    """``bwsandbox.policy.<module>.<name>``, imported on its first call: the ssh, secrets
    and MCP checks are needed only by a layer that sets those keys (the shipped layers are
    stored checked), so they stay off the start-up path."""

    def check(value: Any) -> Any:
        loaded = __import__(f"bwsandbox.policy.{module}", fromlist=[name])
        return getattr(loaded, name)(value)

    check.__name__ = check.__qualname__ = name
    return check


def _scalar(check: Callable[[object], object]) -> Spec:
    return Spec(Kind.SCALAR, check)


def _list(check: Callable[[object], object]) -> Spec:
    return Spec(Kind.LIST, check)


def _table(check_name: Callable[[object], str], check: Callable[[object], object]) -> Spec:
    return Spec(Kind.TABLE, check, check_name)


SECTIONS: dict[str, type] = {
    "filesystem": FilesystemPolicy,
    "env": EnvPolicy,
    "command": CommandPolicy,
    "network": NetworkPolicy,
    "hardening": HardeningPolicy,
    "git": GitPolicy,
    "ssh": SshPolicy,
    "limits": LimitsPolicy,
    "seccomp": SeccompPolicy,
    "devices": DevicesPolicy,
    "mcp": McpPolicy,
}

_CHECKS: dict[str, Spec] = {
    "filesystem.ro": _list(c.check_bind),
    "filesystem.rw": _list(c.check_bind),
    "filesystem.tmpfs": _list(c.check_path),
    "filesystem.mask": _list(c.check_path),
    "filesystem.protect": _list(c.check_protect_path),
    "filesystem.watch": _list(c.check_path),
    "filesystem.etc": _list(c.check_etc),
    "filesystem.remove": _list(c.check_path),
    "filesystem.home": _scalar(c.check_home_mode),
    "filesystem.tmp_size": _scalar(c.check_size),
    "env.passthrough": _list(c.check_passthrough),
    "env.set": _table(c.check_env_name, c.check_env_value),
    "env.unset": _list(c.check_env_glob),
    # a command replaces the previous one as a whole: a scalar holding a tuple
    "command.argv": _scalar(c.check_argv),
    "command.cwd": _scalar(c.check_path),
    "network.mode": _scalar(c.check_network_mode),
    "network.allow": _list(c.check_allow_rule),
    "network.deny": _list(c.check_rule),
    "network.add_hosts": _table(c.check_hostname, c.check_ip),
    "network.quiet": _list(c.check_rule),
    "network.unlisted": _scalar(c.check_unlisted),
    "network.ask_timeout": _scalar(c.check_duration),
    "network.upstream_ca_file": _scalar(c.check_optional_path),
    "hardening.nested_userns": _scalar(c.check_bool),
    "hardening.new_session": _scalar(c.check_bool),
    "hardening.die_with_parent": _scalar(c.check_bool),
    "hardening.hostname": _scalar(c.check_hostname),
    "hardening.share_ipc": _scalar(c.check_bool),
    "hardening.share_pid": _scalar(c.check_bool),
    "hardening.uid": _scalar(c.check_uid),
    "hardening.terminal_filter": _scalar(c.check_bool),
    "git.identity": _scalar(c.check_bool),
    "git.excludes": _scalar(c.check_bool),
    "ssh.ca_key": _scalar(_later("_checks_secrets", "check_ca_key")),
    "ssh.principals": _list(_later("_checks_secrets", "check_principal")),
    "ssh.validity": _scalar(_later("_checks_secrets", "check_validity")),
    "ssh.force_command": _scalar(_later("_checks_secrets", "check_ssh_command")),
    "ssh.source_address": _list(_later("_checks_secrets", "check_source_address")),
    "ssh.target": _scalar(_later("_checks_secrets", "check_ssh_target")),
    "ssh.known_hosts": _list(_later("_checks_secrets", "check_ssh_command")),
    "ssh.extensions": _list(_later("_checks_secrets", "check_cert_extension")),
    "limits.memory": _scalar(c.check_limit_size),
    "limits.cpu": _scalar(c.check_cpus),
    "limits.pids": _scalar(c.check_count),
    "limits.fsize": _scalar(c.check_limit_size),
    "limits.nofile": _scalar(c.check_count),
    "limits.timeout": _scalar(c.check_duration),
    "limits.strict": _scalar(c.check_bool),
    "seccomp.enabled": _scalar(c.check_bool),
    "seccomp.allow": _list(c.check_syscall),
    "seccomp.deny": _list(c.check_syscall),
    "devices.gpu": _scalar(c.check_bool),
    # a table of tables: [mcp.servers.NAME] merges per name, the later layer wins
    "mcp.servers": _table(
        _later("_checks_mcp", "check_server_name"), _later("_checks_mcp", "check_mcp_server")
    ),
}

#: section -> key -> spec, in model field order
SPECS: dict[str, dict[str, Spec]] = {
    section: {f.name: _CHECKS[f"{section}.{f.name}"] for f in fields(cls)}
    for section, cls in SECTIONS.items()
}

#: keys allowed at the top of a file besides the sections
TOP_KEYS: dict[str, Spec] = {
    "extends": _list(c.check_string),
    "description": _scalar(c.check_description),
    # a table of tables: [secrets.NAME] merges per name, the later layer wins
    "secrets": _table(
        _later("_checks_secrets", "check_secret_name"), _later("_checks_secrets", "check_secret")
    ),
}

"""Checks for single policy values: paths, variables, names, hosts, rules.

Each check takes a raw value (from TOML or an overlay dict) and returns the checked, normalised
value, or raises :class:`Invalid` with a message that says what was expected. The caller adds
the file and the key path (see ``_validate``). Nothing here touches the file system.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bwsandbox._printable import ASCII_ALNUM
from bwsandbox.policy._hints import closest, did_you_mean
from bwsandbox.policy._model import VARIABLES, Bind, NetworkMode
from bwsandbox.policy._vars import is_identifier, variables_in

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

__all__ = [
    "PATH_VARIABLES",
    "Invalid",
    "check_allow_rule",
    "check_argv",
    "check_bind",
    "check_bool",
    "check_count",
    "check_cpus",
    "check_description",
    "check_duration",
    "check_env_glob",
    "check_env_name",
    "check_env_value",
    "check_etc",
    "check_home_mode",
    "check_hostname",
    "check_ip",
    "check_limit_size",
    "check_network_mode",
    "check_passthrough",
    "check_path",
    "check_rule",
    "check_size",
    "check_string",
    "check_syscall",
    "check_table",
    "check_uid",
    "check_unlisted",
    "describe",
    "key_join",
    "toml_string",
]

#: Variables a path may start with (the others are not paths).
PATH_VARIABLES = ("project", "home", "host_home", "workdir", "runtime_dir")

# Character sets instead of regexes compiled at import (this module is on the start-up path);
# tests/unit/test_policy_charsets.py checks each against the regex it replaces.
_GLOB_CHARS = ASCII_ALNUM + "_*?[]!"  # [A-Za-z0-9_*?\[\]!]
_LABEL_CHARS = ASCII_ALNUM + "-"  # [A-Za-z0-9-]
_BARE_CHARS = ASCII_ALNUM + "_-"  # [A-Za-z0-9_-]: a bare TOML key
_SIZE = r"[1-9][0-9]*[kKmMgG]?"  # a pattern, compiled by re on first use
_BIND_KEYS = ("src", "dest", "optional")
_HOME_MODES = ("private", "tmpfs")
_MAX_UID = 2**32 - 2
if TYPE_CHECKING:
    _T = TypeVar("_T")


class Invalid(ValueError):  # noqa: N818 (internal signal, converted to PolicyError)
    """A value is wrong. ``suffix`` extends the key path (``.src`` of a bind table)."""

    def __init__(self, message: str, *, hint: str | None = None, suffix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.suffix = suffix


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (for hints that show what to write)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def key_join(path: str, name: str) -> str:
    """``env.set`` + ``FOO`` -> ``env.set.FOO``; names that are not bare TOML keys are quoted."""
    if name and not name.strip(_BARE_CHARS):
        return f"{path}.{name}" if path else name
    quoted = toml_string(name)
    return f"{path}.{quoted}" if path else quoted


def describe(value: object) -> str:
    """How a wrong value reads in a message: ``the integer 3``, ``an array``."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the float {value}"
    if isinstance(value, str):
        return f"the string {_short(value)}"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    import datetime  # here, on an error: not on the start-up path

    if isinstance(value, datetime.date | datetime.time):
        return f"the date/time {value}"
    if value is None:
        return "nothing (None)"
    return f"a {type(value).__name__}"


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "...'"


def check_table(
    value: object, keys: tuple[str, ...], *, what: str, expected: str
) -> Mapping[str, object]:
    """``value`` as a table whose keys are all in ``keys``; errors name the key (``.KEY``).

    ``what`` names the table in the error (``an MCP server``), ``expected`` says what a
    table must hold (``a table with command``)."""
    if not isinstance(value, Mapping):
        raise Invalid(f"expected {expected}, got {describe(value)}")
    for key in value:
        if key not in keys:
            raise Invalid(
                f"unknown key {key!r} in {what}",
                hint=did_you_mean(str(key), keys, fallback=", ".join(keys)),
                suffix=f".{key}",
            )
    return value


def check_string(value: object, *, empty_ok: bool = False, what: str = "a string") -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected {what}, got {describe(value)}")
    if not value and not empty_ok:
        raise Invalid(f"expected {what}, got an empty string", hint="remove the key instead")
    if "\0" in value:
        raise Invalid(f"expected {what} without NUL characters, got {_short(value)}")
    return value


def check_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected a boolean (true or false), got {describe(value)}")
    return value


def check_description(value: object) -> str:
    return check_string(value, what="a one-line description")


def _check_variables(text: str) -> list[str]:
    try:
        names = variables_in(text)
    except ValueError as exc:
        raise Invalid(str(exc), hint="write {{ or }} for a literal brace") from None
    for name in names:
        if name not in VARIABLES:
            match = closest(name, VARIABLES)
            if match:
                hint = f"did you mean {{{match}}}?"
            else:
                hint = "known variables: " + ", ".join(f"{{{known}}}" for known in VARIABLES)
            raise Invalid(f"unknown variable {{{name}}} in {_short(text)}", hint=hint)
    return names


def check_optional_path(value: object) -> str:
    """Like :func:`check_path`; the empty string means "not set" (a default written out)."""
    if value == "":
        return ""
    return check_path(value)


def check_env_value(value: object) -> str:
    """A string that may use variables (env values, argv words); may be empty."""
    text = check_string(value, empty_ok=True)
    _check_variables(text)
    return text


def check_path(value: object) -> str:
    """An absolute path or one starting with a path variable; normalised, no ``..``."""
    starts = ", ".join(f"{{{name}}}" for name in PATH_VARIABLES)
    expected = f"an absolute path or one starting with {starts}"
    text = check_string(value, what=expected)
    _check_variables(text)
    first = text.split("/", 1)[0]
    if first:
        ok = first.startswith("{") and first.endswith("}") and first[1:-1] in PATH_VARIABLES
        if not ok:
            raise Invalid(f"expected {expected}, got {_short(text)}")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Invalid(f"expected a path without '..', got {_short(text)}")
    if first:
        return "/".join(parts)
    return "/" + "/".join(parts)


def check_protect_path(value: object) -> str:
    """Like :func:`check_path`; a trailing ``/`` is kept: it says the path is a directory."""
    path = check_path(value)
    text = value if isinstance(value, str) else ""
    if text.endswith("/") and not path.endswith("/"):
        return path + "/"
    return path


def check_etc(value: object) -> str:
    """An absolute path under /etc (``/etc/hosts``); never /etc itself."""
    what = "a path under /etc such as '/etc/hosts'"
    text = check_string(value, what=what)
    if not text.startswith("/"):
        hint = None if text.startswith("{") else f"write '/etc/{text}'"
        raise Invalid(f"expected {what}, got {_short(text)}", hint=hint)
    path = check_path(text)
    if not path.startswith("/etc/"):
        hint = None
        if path == "/etc":
            hint = "the whole of /etc is never bound; list the files the sandbox needs"
        raise Invalid(f"expected {what}, got {_short(text)}", hint=hint)
    return path


def check_bind(value: object) -> Bind:
    """``"/usr"`` or ``{ src = "...", dest = "...", optional = true }``."""
    if isinstance(value, str):
        return Bind(src=check_path(value))
    if not isinstance(value, Mapping):
        raise Invalid(
            f"expected a path or a table {{ src, dest, optional }}, got {describe(value)}"
        )
    for key in value:
        if key not in _BIND_KEYS:
            raise Invalid(
                f"unknown key {key!r} in a bind (expected src, dest, optional)",
                hint=did_you_mean(str(key), _BIND_KEYS),
                suffix=f".{key}",
            )
    if "src" not in value:
        raise Invalid("a bind table needs src", hint='write { src = "/path" }')
    src = _sub(".src", check_path, value["src"])
    dest = _sub(".dest", check_path, value["dest"]) if "dest" in value else ""
    optional = _sub(".optional", check_bool, value["optional"]) if "optional" in value else True
    if dest == src:
        dest = ""
    return Bind(src=src, dest=dest, optional=optional)


def _sub(suffix: str, check: Callable[[object], _T], value: object) -> _T:
    """Run ``check`` on a sub-value; errors get ``suffix`` appended to the key path."""
    try:
        return check(value)
    except Invalid as exc:
        raise Invalid(exc.message, hint=exc.hint, suffix=suffix + exc.suffix) from exc.__cause__


def check_argv(value: object) -> tuple[str, ...]:
    """A command line: an array of strings whose first word is not empty."""
    if not isinstance(value, list | tuple):
        raise Invalid(f"expected an array of strings, got {describe(value)}")
    words = tuple(_sub(f"[{i}]", check_env_value, word) for i, word in enumerate(value))
    if words and not words[0]:
        raise Invalid("expected a command name, got an empty string", suffix="[0]")
    return words


def check_env_name(value: object) -> str:
    text = check_string(value, what="an environment variable name")
    if not is_env_name(text):
        raise Invalid(
            f"expected an environment variable name (letters, digits, _), got {_short(text)}"
        )
    return text


is_env_name = is_identifier  # ``[A-Za-z_][A-Za-z0-9_]*``, the whole text


def _is_label(label: str) -> bool:
    """A DNS label: ``(?!-)[A-Za-z0-9-]{1,63}(?<!-)``, the whole text."""
    return (
        0 < len(label) <= 63 and not label.strip(_LABEL_CHARS) and "-" not in (label[0], label[-1])
    )


def check_env_glob(value: object) -> str:
    """A variable name or a shell glob over names (``LC_*``)."""
    what = "an environment variable name or glob such as 'LC_*'"
    text = check_string(value, what=what)
    if not text or text.strip(_GLOB_CHARS) or text[0].isdigit():
        raise Invalid(f"expected {what}, got {_short(text)}")
    return text


def check_passthrough(value: object) -> str:
    """Like :func:`check_env_glob`, but a pattern matching every name is refused."""
    text = check_env_glob(value)
    if not text.strip("*?"):
        raise Invalid(
            f"{text!r} would pass the whole host environment into the sandbox",
            hint="list the variables the sandbox needs",
        )
    return text


def check_home_mode(value: object) -> str:
    text = check_string(value, what="'private' or 'tmpfs'")
    if text not in _HOME_MODES:
        raise Invalid(
            f"expected 'private' or 'tmpfs', got {_short(text)}",
            hint=did_you_mean(text, _HOME_MODES, fallback="the host home is never bound"),
        )
    return text


def check_hostname(value: object) -> str:
    """A DNS name (RFC 1123 labels), returned in lower case."""
    what = "a host name such as 'db.internal'"
    text = check_string(value, what=what)
    labels = text.split(".")
    if len(text) > 253 or not all(_is_label(label) for label in labels):
        raise Invalid(f"expected {what}, got {_short(text)}")
    if labels[-1].isdigit():  # 10.0.0.5 is an address, not a name
        raise Invalid(f"expected {what}, got the address {_short(text)}")
    return text.lower()


def check_ip(value: object) -> str:
    """An IPv4 or IPv6 address, normalised (``::1``)."""
    what = "an IP address such as '10.0.0.5' or 'fd00::5'"
    text = check_string(value, what=what)
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise Invalid(f"expected {what}, got {_short(text)}") from exc


def check_network_mode(value: object) -> NetworkMode:
    modes = [mode.value for mode in NetworkMode]
    text = check_string(value, what="none, host or filtered")
    if text not in modes:
        raise Invalid(
            f"expected none, host or filtered, got {_short(text)}",
            hint=did_you_mean(text, modes, fallback="none|host|filtered"),
        )
    return NetworkMode(text)


def check_unlisted(value: object) -> str:
    """``network.unlisted``: ``deny`` (the default) or ``ask``."""
    text = check_string(value, what="deny or ask")
    if text not in ("deny", "ask"):
        raise Invalid(
            f"expected deny or ask, got {_short(text)}",
            hint=did_you_mean(text, ["deny", "ask"], fallback='unlisted = "ask" (or "deny")'),
        )
    return text


def check_rule(value: object, *, allow: bool = False) -> str:
    """A network allow/deny rule, checked by the rule grammar of ``bwsandbox.net``."""
    what = "host, host:port, *.domain, IP or CIDR"
    text = check_string(value, what=what)
    from bwsandbox._netrules import parse_rule

    try:
        parse_rule(text, allow=allow)
    except ValueError as exc:
        message = str(exc) or f"expected {what}"
        if repr(text) not in message:
            message = f"{message}, got {_short(text)}"
        raise Invalid(message) from exc
    return text


def check_allow_rule(value: object) -> str:
    """An allow rule: the grammar, and a port for the host's loopback name."""
    return check_rule(value, allow=True)


def check_size(value: object) -> str:
    import re

    what = "a size such as '512M' (bytes, or K, M, G)"
    text = check_string(value, what=what)
    if not re.fullmatch(_SIZE, text):
        raise Invalid(f"expected {what}, got {_short(text)}")
    return text


def check_uid(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"expected a user id (an integer), got {describe(value)}")
    if value == 0:
        raise Invalid(
            "uid 0 (root) inside the sandbox is refused",
            hint="omit hardening.uid: the default is your own uid, or 1000 when run as root",
        )
    if not 0 < value <= _MAX_UID:
        raise Invalid(f"expected a user id between 1 and {_MAX_UID}, got {value}")
    return value


def check_limit_size(value: object) -> str:
    """A resource size such as ``"4G"`` (see ``_model_limits.parse_size``), kept as written."""
    from bwsandbox.policy._model_limits import SIZE_EXAMPLES, parse_size

    text = check_string(value, what=f"a size such as {SIZE_EXAMPLES}")
    try:
        parse_size(text)
    except ValueError as exc:
        raise Invalid(str(exc), hint='for example memory = "4G"') from None
    return text


def check_duration(value: object) -> str:
    """A wall-clock duration such as ``"30m"``, kept as written."""
    from bwsandbox.policy._model_limits import DURATION_EXAMPLES, parse_duration

    text = check_string(value, what=f"a duration such as {DURATION_EXAMPLES}")
    try:
        parse_duration(text)
    except ValueError as exc:
        raise Invalid(str(exc), hint='for example timeout = "30m"') from None
    return text


def check_count(value: object) -> int:
    """A positive integer (processes, open files)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"expected a positive integer, got {describe(value)}")
    if not 0 < value < 2**31:
        raise Invalid(f"expected a positive integer below 2^31, got {value}")
    return value


def check_cpus(value: object) -> float:
    """CPU cores, e.g. ``1`` or ``1.5``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"expected a number of CPU cores such as 1.5, got {describe(value)}")
    if not 0.01 <= value <= 4096:
        raise Invalid(f"expected between 0.01 and 4096 CPU cores, got {value}")
    return float(value)


def check_syscall(value: object) -> str:
    """A syscall name known to libseccomp's tables, or a group of the default filter."""
    from bwsandbox.policy._model_seccomp import GROUPS
    from bwsandbox.policy._syscalls import SYSCALLS

    text = check_string(value, what="a syscall name or group such as 'ptrace'")
    if text not in GROUPS and text not in SYSCALLS:
        raise Invalid(
            f"unknown syscall or group {_short(text)}",
            hint=did_you_mean(text, [*GROUPS, *SYSCALLS], fallback="groups: " + ", ".join(GROUPS)),
        )
    return text

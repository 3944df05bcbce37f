"""``allow always``: add a rule to the user's policy file of remembered answers.

The file is :func:`allowed_path`, ``<config dir>/policies/allowed.toml``: an ordinary policy
(``--policy allowed`` brings it into any filtered session), which every session in ask mode
reads at start, so a host allowed always is not asked about again. Only ``network.allow`` is
edited, as text, so comments and the rest of the file stay as they are; the result is parsed
again and must equal the old file plus the one rule, or nothing is written. The new file
replaces the old one atomically (a temporary file in the same directory, ``fsync``,
``rename``), under an ``flock`` so that two sessions answering at once both land.
"""

# os-level paths on purpose, like the registry and the control socket
# ruff: noqa: PTH103, PTH104, PTH108, PTH118, PTH120

from __future__ import annotations

import contextlib
import os
import re
import tomllib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["allowed_path", "read_allowed", "remember"]

_HEADER = (
    '# Hosts allowed with "allow always" (agent-sandbox watch, or a library callback).\n'
    '# Read by every session in ask mode (--ask, network.unlisted = "ask"); bring it into\n'
    "# another filtered session with --policy allowed. Edit freely: it is a policy file.\n"
)
_TABLE = re.compile(r"^\s*\[\s*network\s*\]\s*(#.*)?$", re.MULTILINE)
_ANY_TABLE = re.compile(r"^\s*\[", re.MULTILINE)
_ALLOW = re.compile(r"^[ \t]*allow[ \t]*=[ \t]*\[", re.MULTILINE)
_LIMIT = 1 << 20


def allowed_path() -> str:
    from bwsandbox._paths import user_policies_dir

    return os.path.join(user_policies_dir(), "allowed.toml")


def _read(path: str) -> str:
    """The file's text ("" when absent); never follows a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return ""
    with os.fdopen(fd, "rb") as file:
        data = file.read(_LIMIT + 1)
    if len(data) > _LIMIT:
        raise ValueError(f"{path} is larger than {_LIMIT} bytes")
    return data.decode("utf-8")


def _allow_list(data: dict[str, Any], path: str) -> list[str]:
    network = data.get("network", {})
    allow = network.get("allow", []) if isinstance(network, dict) else None
    if not isinstance(allow, list) or not all(isinstance(r, str) for r in allow):
        raise ValueError(f"{path}: network.allow is not a list of strings")
    return list(allow)


def read_allowed(path: str | None = None) -> tuple[str, ...]:
    """The rules in the file (none when it does not exist); ValueError when unreadable."""
    path = path or allowed_path()
    text = _read(path)
    try:
        return tuple(_allow_list(tomllib.loads(text), path))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None


def _scan_array(text: str, start: int) -> tuple[int, int]:
    """For the array that opens just before ``start``: the index of its closing ``]`` and
    the index just after its last significant character (not whitespace, not a comment)."""
    depth, i, quote, last = 1, start, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
            last = i + 1
        elif ch == "#":
            i = text.find("\n", i)
            if i < 0:
                break
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i, last
            last = i + 1
        elif not ch.isspace():
            if ch == "[":
                depth += 1
            elif ch in "\"'":
                quote = ch
            last = i + 1
        i += 1
    raise ValueError("network.allow has no closing ']'")


def _edited(text: str, rule: str) -> str:
    """``text`` with ``rule`` appended to ``network.allow``."""
    item = '"' + rule.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if not text:
        return f"{_HEADER}\n[network]\nallow = [\n  {item},\n]\n"
    table = _TABLE.search(text)
    if table is None:
        sep = "" if text.endswith("\n") else "\n"
        return f"{text}{sep}\n[network]\nallow = [\n  {item},\n]\n"
    body_start = table.end()
    following = _ANY_TABLE.search(text, body_start + 1)
    body_end = following.start() if following is not None else len(text)
    allow = _ALLOW.search(text, body_start, body_end)
    if allow is None:
        return f"{text[:body_start]}\nallow = [\n  {item},\n]{text[body_start:]}"
    close, last = _scan_array(text, allow.end())
    values = text[allow.end() : last].strip()
    comma = "" if not values or values.endswith(",") else ","
    head = text[:last] + comma + text[last:close].rstrip()
    return f"{head}\n  {item},\n]{text[close + 1 :]}"


def remember(rule: str, path: str | None = None) -> str:
    """Append ``rule`` to ``network.allow`` of the file (created when absent); the path.

    ValueError when the file cannot be edited safely (invalid TOML, ``network.allow`` written
    in a shape this editor does not follow); OSError for the file system.
    """
    import fcntl

    from bwsandbox._netrules import parse_rule

    parse_rule(rule, allow=True)  # ValueError for a malformed rule
    path = path or allowed_path()
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    lock = os.open(
        os.path.join(directory, ".allowed.lock"),
        os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
    )
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = _read(path)
        try:
            old = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: invalid TOML, not changed: {exc}") from None
        rules = _allow_list(old, path)
        if rule in rules:
            return path
        new_text = _edited(text, rule)
        expected = dict(old)
        expected["network"] = {**old.get("network", {}), "allow": [*rules, rule]}
        try:
            same = tomllib.loads(new_text) == expected
        except tomllib.TOMLDecodeError:
            same = False
        if not same:
            raise ValueError(
                f"{path}: cannot add {rule!r} safely (network.allow is written in a shape this "
                "editor does not follow); add it to network.allow by hand"
            )
        _replace(path, new_text)
        return path
    finally:
        os.close(lock)


def _replace(path: str, text: str) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise

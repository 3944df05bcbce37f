"""The host's git identity and global ignore patterns, read as data: :func:`probe_git`.

The sandbox's git gets ``user.name``, ``user.email`` and the patterns of the global ignore file
from the host, and nothing else: no aliases, credential helpers, hooks or program-running keys
(``core.fsmonitor``, ``core.sshCommand``, ``diff.*.textconv``...). So this module does not run
``git config`` (about 8 ms a call, measured, on the start-up path of every launch) and does not
hand the host's file to git inside: it reads the global config files itself, keeps the three
values it needs, and the compiler writes them into a new file (``compile._git``).

The reader follows git's syntax (``config.c``: sections, subsections, quoting, escapes,
comments, continuation lines) and plain ``[include] path``; ``[includeIf]`` is not followed
(its conditions depend on the repository). A file git would reject yields nothing. The tests
check the reader against ``git config --file`` itself (``tests/unit/test_gitconfig.py``).
"""

# os-level on purpose: plain string paths, no pathlib on the start-up path
# ruff: noqa: PTH100, PTH117, PTH118, PTH120, PTH123

from __future__ import annotations

import os

from bwsandbox.compile import GitFacts, refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MAX_EXCLUDES", "parse_config", "probe_git"]

#: a larger global ignore file is not copied (a pattern cut in half would change meaning)
MAX_EXCLUDES = 64 * 1024
_MAX_CONFIG = 1024 * 1024
_MAX_DEPTH = 10  # git's own include depth limit
_SPACE = " \t\r"


class _BadConfigError(ValueError):
    """A config text git would reject (or this reader does not follow)."""


def _keychar(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "-")


def _section(text: str, i: int) -> tuple[str, int]:
    """``[name]``, ``[name "sub"]``, ``[name.sub]`` starting after ``[``; (name, next index)."""
    n = len(text)
    name: list[str] = []
    while True:
        if i >= n:
            raise _BadConfigError("unterminated section")
        c = text[i]
        i += 1
        if c == "]":
            return "".join(name), i
        if c in " \t":
            break
        if not _keychar(c) and c != ".":
            raise _BadConfigError("bad section name")
        name.append(c.lower())
    while i < n and text[i] in " \t":
        i += 1
    if i >= n or text[i] != '"':
        raise _BadConfigError("bad subsection")
    i += 1
    sub: list[str] = []
    while True:
        if i >= n or text[i] == "\n":
            raise _BadConfigError("unterminated subsection")
        c = text[i]
        i += 1
        if c == '"':
            break
        if c == "\\":
            if i >= n or text[i] == "\n":
                raise _BadConfigError("bad escape in subsection")
            c = text[i]
            i += 1
        sub.append(c)
    if i >= n or text[i] != "]":
        raise _BadConfigError("bad subsection end")
    return "".join(name) + "." + "".join(sub), i + 1


_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "\\": "\\", '"': '"'}


def _value(text: str, i: int) -> tuple[str, int]:
    """A value starting after ``=``, up to its end of line; (value, index after the line).

    Unquoted whitespace between words becomes one space per character and trailing whitespace
    is dropped (git 2.39's ``parse_value``; later versions keep tabs, which identities refuse).
    """
    n = len(text)
    out: list[str] = []
    quote = False
    comment = False
    space = 0
    while True:
        c = text[i] if i < n else "\n"
        i += 1
        if c == "\n":
            if quote:
                raise _BadConfigError("unterminated quote")
            return "".join(out), i
        if comment:
            continue
        if c in _SPACE and not quote:
            if out:
                space += 1
            continue
        if not quote and c in "#;":
            comment = True
            continue
        out.extend(" " * space)
        space = 0
        if c == "\\":
            c = text[i] if i < n else "\n"
            i += 1
            if c == "\n":
                continue  # a continuation line
            if c not in _ESCAPES:
                raise _BadConfigError("unknown escape")
            out.append(_ESCAPES[c])
            continue
        if c == '"':
            quote = not quote
            continue
        out.append(c)


def parse_config(text: str) -> list[tuple[str, str | None]]:
    """``(section[.subsection].key, value)`` in file order; keys lower-case, subsections not.

    A key without ``=`` has the value None (a boolean true). Raises ValueError where git would
    report a bad config line.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    entries: list[tuple[str, str | None]] = []
    section: str | None = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n" or c in _SPACE:
            i += 1
            continue
        if c in "#;":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if c == "[":
            section, i = _section(text, i + 1)
            continue
        if not (c.isascii() and c.isalpha()):
            raise _BadConfigError("bad key")
        start = i
        while i < n and _keychar(text[i]):
            i += 1
        key = text[start:i].lower()
        while i < n and text[i] in " \t":
            i += 1
        value: str | None = None
        if i >= n or text[i] == "\n":
            i += 1
        elif text[i] != "=":
            raise _BadConfigError("bad key")
        else:
            value, i = _value(text, i + 1)
        if not section:
            raise _BadConfigError("key outside a section")
        entries.append((f"{section}.{key}", value))
    return entries


def _read(path: str, limit: int) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def _expand(path: str, home: str, base: str) -> str | None:
    if path.startswith("~/"):
        path = os.path.join(home, path[2:]) if home else ""
    elif path.startswith("~"):
        return None  # ~user: not followed
    if not path:
        return None
    return os.path.normpath(os.path.join(base, path))


class _Reader:
    def __init__(self, home: str) -> None:
        self.home = home
        self.sources: list[str] = []
        self.values: dict[str, str | None] = {}

    def file(self, path: str, depth: int = 0) -> None:
        self.sources.append(path)
        data = _read(path, _MAX_CONFIG)
        if data is None:
            return
        try:
            entries = parse_config(data.decode())
        except ValueError:  # also UnicodeDecodeError: git would fail on it too
            return
        for key, value in entries:
            if key == "include.path" and value and depth < _MAX_DEPTH:
                target = _expand(value, self.home, os.path.dirname(path))
                if target is not None:
                    self.file(target, depth + 1)
            elif key in ("user.name", "user.email", "core.excludesfile"):
                self.values[key] = value


def _config_home(environ: Mapping[str, str], home: str) -> str:
    xdg = environ.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        return xdg
    return os.path.join(home, ".config") if home else ""


def probe_git(environ: Mapping[str, str], home: str, *, excludes: bool = True) -> GitFacts:
    """The host's global ``user.name``, ``user.email`` and ignore patterns (git's file order).

    Reads ``$GIT_CONFIG_GLOBAL`` when set, else ``$XDG_CONFIG_HOME/git/config`` then
    ``~/.gitconfig`` (the later wins), and the ignore file ``core.excludesFile`` names
    (default ``$XDG_CONFIG_HOME/git/ignore``).
    """
    home = environ.get("HOME", "") or home
    reader = _Reader(home)
    config_home = _config_home(environ, home)
    override = environ.get("GIT_CONFIG_GLOBAL", "")
    if override:
        reader.file(os.path.abspath(override))
    else:
        if config_home:
            reader.file(os.path.join(config_home, "git", "config"))
        if home:
            reader.file(os.path.join(home, ".gitconfig"))
    refused: list[str] = []
    identity: dict[str, str] = {}
    for key in ("user.name", "user.email"):
        value = reader.values.get(key) or ""
        why = refusal(key, value) if value else None
        if why is not None:
            refused.append(f"{why}: not passed to the sandbox")
            value = ""
        identity[key] = value
    patterns = b""
    if excludes:
        named = reader.values.get("core.excludesfile")
        path: str | None
        if named:
            path = _expand(named, home, "")
            if path is not None and not os.path.isabs(path):
                path = None  # relative to git's working directory: not followed
        else:
            path = os.path.join(config_home, "git", "ignore") if config_home else None
        if path is not None:
            reader.sources.append(path)
            patterns = _read(path, MAX_EXCLUDES) or b""
    return GitFacts(
        name=identity["user.name"],
        email=identity["user.email"],
        excludes=patterns,
        sources=tuple(dict.fromkeys(reader.sources)),
        refused=tuple(refused),
    )

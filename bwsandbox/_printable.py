"""One helper for every host-side line that quotes text the sandbox chose.

Host names the sandbox asked for, paths it created, reasons built from its requests: printed
raw, an ESC or BEL in them would be a terminal escape sequence in *our* output (a title, a
clipboard write, a report request). :func:`printable` escapes every character that is not
printable (C0 and C1 controls, DEL, bidirectional overrides and other format characters,
lone surrogates) the way Python writes them in a string literal, and cuts very long text.
Import-light: the CLI's start-up path uses it.
"""

from __future__ import annotations

__all__ = ["ASCII_ALNUM", "printable", "spelled"]

#: ``[A-Za-z0-9]`` (``string`` is not imported on the start-up path)
ASCII_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def spelled(text: str, first: str, rest: str, limit: int = 0) -> bool:
    """Whether the whole of ``text`` is one character of ``first``, then only characters of
    ``rest`` (at most ``limit`` characters in all, when given): a ``[first][rest]*`` pattern
    checked without compiling a regex on the start-up path."""
    return (
        text[:1] != ""
        and text[0] in first
        and not text.strip(rest)
        and (not limit or len(text) <= limit)
    )


_LIMIT = 300


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str, *, limit: int = _LIMIT) -> str:
    """``text`` with every non-printable character escaped (``\\x1b``), at most ``limit``
    characters of it (then ``…``)."""
    if len(text) > limit:
        text = text[:limit] + "…"
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)

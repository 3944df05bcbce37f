"""One helper for every host-side line that quotes text the sandbox chose.

Host names the sandbox asked for, paths it created, reasons built from its requests: printed
raw, an ESC or BEL in them would be a terminal escape sequence in *our* output (a title, a
clipboard write, a report request). :func:`printable` escapes every character that is not
printable (C0 and C1 controls, DEL, bidirectional overrides and other format characters,
lone surrogates) the way Python writes them in a string literal, and cuts very long text.
Import-light: the CLI's start-up path uses it.
"""

from __future__ import annotations

__all__ = ["printable"]

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

"""``json.dumps`` for the start-up path, without importing :mod:`json`.

``import json`` costs about 1.2 ms (its decoder and encoder, and six regexes compiled at
import), and ``agent-sandbox run`` only writes JSON: the audit records, the policy digest, the
work dir marker, the placeholder record and the session record. :func:`dumps` gives the text
``json.dumps`` gives for the same arguments (the subset used here: ``separators``,
``sort_keys``, ``ensure_ascii``, ``default``; no ``indent``, no circular check), and
``tests/unit/test_jsontext.py`` checks it against ``json.dumps`` as the oracle over generated
values. Reading JSON still uses :mod:`json` (imported where it reads).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["dumps"]

_NAMED = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def dumps(
    value: object,
    *,
    separators: tuple[str, str] = (", ", ": "),
    sort_keys: bool = False,
    ensure_ascii: bool = True,
    default: Callable[[object], object] | None = None,
) -> str:
    """``json.dumps(value, separators=..., sort_keys=..., ensure_ascii=..., default=...)``."""
    parts: list[str] = []
    _Writer(parts, separators, sort_keys, ensure_ascii, default).value(value)
    return "".join(parts)


class _Writer:
    __slots__ = ("ascii", "default", "item_sep", "key_sep", "parts", "sort_keys")

    def __init__(
        self,
        parts: list[str],
        separators: tuple[str, str],
        sort_keys: bool,
        ascii_only: bool,
        default: Callable[[object], object] | None,
    ) -> None:
        self.parts = parts
        self.item_sep, self.key_sep = separators
        self.sort_keys = sort_keys
        self.ascii = ascii_only
        self.default = default

    def value(self, value: object) -> None:
        # the order of json.encoder's checks: a str subclass is a string, bool before int
        if isinstance(value, str):
            self.parts.append(self.string(value))
        elif value is None:
            self.parts.append("null")
        elif value is True:
            self.parts.append("true")
        elif value is False:
            self.parts.append("false")
        elif isinstance(value, int):
            self.parts.append(int.__repr__(value))
        elif isinstance(value, float):
            self.parts.append(_float(value))
        elif isinstance(value, list | tuple):
            self.array(value)
        elif isinstance(value, dict):
            self.table(value)
        elif self.default is not None:
            self.value(self.default(value))
        else:
            msg = f"Object of type {type(value).__name__} is not JSON serializable"
            raise TypeError(msg)

    def array(self, items: list[object] | tuple[object, ...]) -> None:
        if not items:
            self.parts.append("[]")
            return
        self.parts.append("[")
        for index, item in enumerate(items):
            if index:
                self.parts.append(self.item_sep)
            self.value(item)
        self.parts.append("]")

    def table(self, table: dict[object, object]) -> None:
        if not table:
            self.parts.append("{}")
            return
        items = sorted(table.items()) if self.sort_keys else table.items()
        self.parts.append("{")
        for index, (key, item) in enumerate(items):
            if index:
                self.parts.append(self.item_sep)
            self.parts.append(self.string(_key(key)))
            self.parts.append(self.key_sep)
            self.value(item)
        self.parts.append("}")

    def string(self, text: str) -> str:
        if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
            return '"' + text + '"'  # the common case: nothing to escape in either mode
        out = []
        for char in text:
            named = _NAMED.get(char)
            if named is not None:
                out.append(named)
            elif char < " " or (self.ascii and char > "~"):
                out.append(_escape(ord(char)))
            else:
                out.append(char)
        return '"' + "".join(out) + '"'


def _escape(code: int) -> str:
    if code > 0xFFFF:  # a surrogate pair, as json writes it
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _float(value: float) -> str:
    if value != value:  # noqa: PLR0124 (NaN)
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == float("-inf"):
        return "-Infinity"
    return float.__repr__(value)


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    msg = f"keys must be str, int, float, bool or None, not {type(key).__name__}"
    raise TypeError(msg)

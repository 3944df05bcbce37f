"""Regenerate bwsandbox/policy/_shipped.py from policies/*.toml (their text and parsed value).

python scripts/gen_shipped_policies.py            # rewrite the module
python scripts/gen_shipped_policies.py --check    # exit 1 if it is out of date

The module lets ``agent-sandbox run`` read the shipped policies without importing ``tomllib``
(with the ``typing``, ``datetime`` and ``string`` it pulls in, and its regexes, about 5 ms).
The loader uses a stored value only for a file whose text is identical to the stored text, so
a stale module only costs time, never a wrong policy. The output is already in ``ruff
format``'s style; tests/unit/test_shipped_policies.py checks it is current.

Each policy is also stored as its checked layer (``_validate.read_layer``'s result, with the
file's path given at load time): checking is a pure function of the text (no environment,
host or path enters it, only the ``source`` named in errors), so a text identical to a stored
one has this layer, and a start skips re-checking the shipped files. The test compares every
stored layer with ``read_layer`` of the stored value.
"""

from __future__ import annotations

import math
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bwsandbox.policy._model import Bind, NetworkMode  # noqa: E402
from bwsandbox.policy._validate import Entry, Layer, read_layer  # noqa: E402

POLICIES = REPO / "policies"
MODULE = REPO / "bwsandbox" / "policy" / "_shipped.py"

HEADER = '''\
"""The shipped policies' exact text and parsed value: generated from policies/*.toml by
scripts/gen_shipped_policies.py, do not edit.

``policy/_load.py`` uses a stored value only for a file whose text is identical to a stored
text, so this module cannot make a policy stale (an edited, user or newer file is parsed by
``tomllib`` and checked); it only spares ``agent-sandbox run`` importing ``tomllib`` and
re-checking the shipped layers (``CHECKED``: ``read_layer``'s result for that text, which
depends on the text alone; ``source`` is the file's path, named in later errors).
tests/unit/test_shipped_policies.py checks it is current, that its values are tomllib's and
that its layers are ``read_layer``'s.
"""

# ruff: noqa: E501

from __future__ import annotations

from bwsandbox.policy._model import Bind, NetworkMode
from bwsandbox.policy._validate import Entry, Layer

__all__ = ["CHECKED", "SHIPPED"]
'''

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string(text: str) -> str:
    """``text`` as a Python string literal, quoted the way ``ruff format`` quotes it."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char == quote:
            out.append("\\" + char)
        elif not char.isprintable():
            out.append(f"\\U{ord(char):08x}" if ord(char) > 0xFFFF else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def literal(value: object, indent: int) -> str:
    """``value`` (what tomllib returns for a shipped policy) as Python source, one item a line."""
    pad = " " * (indent + 4)
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, list):
        if not value:
            return "[]"
        items = "".join(f"{pad}{literal(item, indent + 4)},\n" for item in value)
        return "[\n" + items + " " * indent + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = "".join(
            f"{pad}{string(key)}: {literal(item, indent + 4)},\n" for key, item in value.items()
        )
        return "{\n" + items + " " * indent + "}"
    # dates and times, inf and nan: not in any shipped policy; add them here if one needs them
    raise TypeError(f"cannot store a {type(value).__name__} value: {value!r}")


def checked_literal(value: object) -> str:
    """A checked model value (what ``read_layer`` stores in an entry) as Python source."""
    if isinstance(value, NetworkMode):
        return f"NetworkMode.{value.name}"
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, Bind):
        return f"Bind({string(value.src)}, {string(value.dest)}, {value.optional!r})"
    if isinstance(value, tuple):
        items = [checked_literal(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    # other model values: not in any shipped policy; add them here if one needs them
    raise TypeError(f"cannot store a checked {type(value).__name__} value: {value!r}")


def entry_literal(entry: Entry) -> str:
    return f"Entry({checked_literal(entry.value)}, {string(entry.key)})"


def layer_literal(layer: Layer) -> str:
    """``layer`` as the body of a function of ``source`` (ruff format's layout)."""
    lines = ["    return Layer(\n", "        source,\n", "        (\n"]
    lines.extend(f"            {entry_literal(entry)},\n" for entry in layer.extends)
    lines.append("        ),\n        {\n")
    for key, entry in layer.scalars.items():
        lines.append(f"            {string(key)}: {entry_literal(entry)},\n")
    lines.append("        },\n        {\n")
    for key, entries in layer.lists.items():
        lines.append(f"            {string(key)}: (\n")
        lines.extend(f"                {entry_literal(entry)},\n" for entry in entries)
        lines.append("            ),\n")
    lines.append("        },\n        {\n")
    for key, table in layer.tables.items():
        lines.append(f"            {string(key)}: {{\n")
        lines.extend(
            f"                {string(name)}: {entry_literal(entry)},\n"
            for name, entry in table.items()
        )
        lines.append("            },\n")
    lines.append("        },\n    )\n")
    return "".join(lines)


def text_literal(text: str) -> str:
    """The file's text as implicitly concatenated literals, one line of the file each."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= 1:
        return string(text)
    return "(\n" + "".join(f"    {string(line)}\n" for line in lines) + ")"


def render() -> str:
    parts = [HEADER]
    names = []
    for path in sorted(POLICIES.glob("*.toml")):
        name = path.stem.replace("-", "_").replace(".", "_")
        names.append(name)
        text = path.read_bytes().decode("utf-8")
        value = tomllib.loads(text)
        parts.append(f"\n_{name.upper()}_TEXT = {text_literal(text)}\n")
        parts.append(f"\n\ndef _{name}() -> dict[str, object]:\n    return {literal(value, 4)}\n\n")
        layer = read_layer(value, path.name)
        parts.append(
            f"\n# fmt: off\ndef _{name}_layer(source: str) -> Layer:\n{layer_literal(layer)}"
            "# fmt: on\n\n"
        )
    parts.append(
        "\n#: the text of a shipped policy file -> its parsed value (fresh objects each call)\n"
    )
    parts.append("SHIPPED = {\n")
    parts.extend(f"    _{name.upper()}_TEXT: _{name},\n" for name in names)
    parts.append("}\n")
    parts.append(
        "\n#: the text of a shipped policy file -> its checked layer, given the file's path\n"
    )
    parts.append("CHECKED = {\n")
    parts.extend(f"    _{name.upper()}_TEXT: _{name}_layer,\n" for name in names)
    parts.append("}\n")
    return "".join(parts)


def main() -> int:
    from _generated import write_or_check  # scripts/_generated.py, beside this script

    return write_or_check(MODULE, render)


if __name__ == "__main__":
    sys.exit(main())

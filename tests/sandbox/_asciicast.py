"""A strict asciicast v2 reader for tests, written against the format's specification
(https://docs.asciinema.org/manual/asciicast/v2/), independently of the recorder.

- the file is UTF-8, one JSON value per line, every line ends with a newline, no blank lines;
- line 1 is the header object: ``version`` (the integer 2), ``width`` and ``height`` (positive
  integers) are required; ``timestamp`` (integer), ``duration``/``idle_time_limit`` (numbers),
  ``command``/``title`` (strings), ``env`` (object of strings), ``theme`` (object) are
  optional; nothing else is accepted;
- every further line is an event ``[time, code, data]``: ``time`` a non-negative number, never
  decreasing; ``code`` one of ``o`` (output), ``i`` (input), ``m`` (marker), ``r`` (resize);
  ``data`` a string; a resize's data is ``COLSxROWS``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_OPTIONAL = {
    "timestamp": (int,),
    "duration": (int, float),
    "idle_time_limit": (int, float),
    "command": (str,),
    "title": (str,),
    "env": (dict,),
    "theme": (dict,),
}
_CODES = frozenset("oimr")
_SIZE = re.compile(r"^[1-9][0-9]*x[1-9][0-9]*$")


class CastError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Cast:
    header: dict[str, Any]
    events: list[tuple[float, str, str]]

    def text(self, code: str = "o") -> str:
        return "".join(data for _, c, data in self.events if c == code)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_cast(raw: bytes) -> Cast:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CastError(f"not UTF-8: {exc}") from exc
    if not text.endswith("\n"):
        raise CastError("the last line does not end with a newline")
    lines = text[:-1].split("\n")
    header = _header(lines[0])
    events: list[tuple[float, str, str]] = []
    last = 0.0
    for number, line in enumerate(lines[1:], start=2):
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise CastError(f"line {number}: not JSON: {line!r}") from exc
        if not (isinstance(item, list) and len(item) == 3):
            raise CastError(f"line {number}: an event is a 3-element array: {line!r}")
        at, code, data = item
        if not _number(at) or at < 0:
            raise CastError(f"line {number}: bad time {at!r}")
        if at < last:
            raise CastError(f"line {number}: time goes backwards ({at} < {last})")
        last = float(at)
        if code not in _CODES:
            raise CastError(f"line {number}: unknown event code {code!r}")
        if not isinstance(data, str):
            raise CastError(f"line {number}: data is not a string")
        if code == "r" and not _SIZE.match(data):
            raise CastError(f"line {number}: resize data {data!r} is not COLSxROWS")
        events.append((float(at), code, data))
    return Cast(header, events)


def _header(line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise CastError(f"line 1: the header is not JSON: {line!r}") from exc
    if not isinstance(header, dict):
        raise CastError("line 1: the header is not an object")
    if header.get("version") != 2 or isinstance(header.get("version"), bool):
        raise CastError(f"header: version is {header.get('version')!r}, not 2")
    for key in ("width", "height"):
        value = header.get(key)
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise CastError(f"header: {key} is {value!r}, not a positive integer")
    for key, value in header.items():
        if key in ("version", "width", "height"):
            continue
        if key not in _OPTIONAL:
            raise CastError(f"header: unknown key {key!r}")
        if not isinstance(value, _OPTIONAL[key]) or isinstance(value, bool):
            raise CastError(f"header: {key} has type {type(value).__name__}")
    env = header.get("env", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise CastError("header: env values must be strings")
    return header

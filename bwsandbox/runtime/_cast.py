"""Terminal recording in asciicast v2 (the format ``asciinema`` reads).

The file is newline-delimited JSON: a header object (``version`` 2, ``width``, ``height``,
``timestamp``, ``env`` with ``TERM`` and ``SHELL``, ``title``), then one event per line,
``[seconds since start, code, data]`` with code ``"o"`` (output), ``"i"`` (input, only when
asked for: keystrokes include passwords typed with echo off) or ``"r"`` (resize, data
``"COLSxROWS"``). See https://docs.asciinema.org/manual/asciicast/v2/.

The supervisor feeds a :class:`Recorder` from its relays (a ``tap`` on each) and the pty's
resize hook; the recorder only appends to its own file. Bytes are decoded as UTF-8
incrementally per stream (a character split across two reads is kept whole), invalid bytes
become U+FFFD. The file is created 0600 (its directory 0700), never through a symlink, and
written per event, so a session that dies mid-way leaves a readable recording. A write error
(a full disk) stops the recording, never the session: :attr:`Recorder.error` says so.
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the runtime path
# ruff: noqa: PTH103, PTH120

from __future__ import annotations

import codecs
import json
import os
import time
from collections.abc import Mapping

from bwsandbox._errors import WorkspaceError

__all__ = ["CAST_NAME", "Recorder"]

#: the recording's file name in the session directory
CAST_NAME = "session.cast"


def _decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


class Recorder:
    """Appends asciicast v2 events to ``path`` (a resource: close it)."""

    __slots__ = ("_decoders", "_fd", "_start", "error", "input", "path")

    def __init__(
        self,
        path: str,
        *,
        width: int,
        height: int,
        title: str,
        env: Mapping[str, str],
        record_input: bool = False,
    ) -> None:
        self.path = path
        self.input = record_input
        #: why recording stopped before the session ended (None: it did not)
        self.error: str | None = None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            self._fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create the recording {path}: {exc.strerror}",
                hint="check the session directory's permissions",
            ) from exc
        self._start = time.monotonic()
        self._decoders = {"o": _decoder(), "i": _decoder()}
        header = {
            "version": 2,
            "width": max(1, width),
            "height": max(1, height),
            "timestamp": int(time.time()),
            "env": {name: env[name] for name in ("SHELL", "TERM") if name in env},
            "title": title,
        }
        self._write(header)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def output(self, data: bytes) -> None:
        """What the sandbox wrote to its terminal (or stdout/stderr)."""
        self._event("o", data)

    def keystrokes(self, data: bytes) -> None:
        """What the user typed; dropped unless the recorder was asked to record input."""
        if self.input:
            self._event("i", data)

    def resize(self, cols: int, rows: int) -> None:
        if cols > 0 and rows > 0:
            self._write([self._elapsed(), "r", f"{cols}x{rows}"])

    def close(self) -> None:
        if self._fd < 0:
            return
        for code, decoder in self._decoders.items():
            rest = decoder.decode(b"", final=True)
            if rest and (code == "o" or self.input):
                self._write([self._elapsed(), code, rest])
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _elapsed(self) -> float:
        return round(time.monotonic() - self._start, 6)

    def _event(self, code: str, data: bytes) -> None:
        text = self._decoders[code].decode(data)
        if text:
            self._write([self._elapsed(), code, text])

    def _write(self, item: object) -> None:
        if self._fd < 0:
            return
        line = (json.dumps(item, ensure_ascii=False, separators=(", ", ": ")) + "\n").encode()
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:  # a full disk must not take the session down: stop recording
            os.close(self._fd)
            self._fd = -1
            self.error = f"the recording {self.path} stopped early: {exc.strerror}"

"""A streaming filter for what a sandbox writes to the user's terminal.

Escape sequences are instructions to the user's terminal, and some of them act outside the
sandbox: OSC 52 writes (or reads) the clipboard, report requests make the terminal *type* an
answer into its input (after the session: into the user's shell), OSC 8 links can point at
``file://`` paths, DCS/APC strings reach terminal extensions (DECRQSS, XTGETTCAP, kitty
graphics queries, tmux pass-through). :class:`TermFilter` sits in the supervisor's relay and
lets through only

- text: printable ASCII, well-formed UTF-8 (no C1 code points, no overlong forms), and the
  C0 controls BEL BS HT LF VT FF CR SO SI;
- complete escape sequences from an allowlist: SGR (colours incl. truecolor), cursor
  movement and editing, scroll regions, DEC private modes (alternate screen, bracketed
  paste, mouse, focus, synchronized output), cursor shape, kitty keyboard flags, charset
  designations, titles (OSC 0/1/2), http(s) hyperlinks (OSC 8), colour settings, desktop
  notifications (OSC 9, OSC 777), prompt marks (OSC 133), the agent state that Claude Code
  and Codex announce (``OSC 7501;state=idle:app=codex``);
- a few *numeric* reports TUIs cannot work without (see :data:`ANSWERED`): the terminal's
  answer is made of digits (and colour values) that the sandbox cannot choose.

Everything else is dropped whole: an unknown or malformed sequence, one with a control byte
in it, an over-long one, every DCS/APC/PM/SOS string, C1 controls (UTF-8 encoded; a raw
8-bit one is malformed UTF-8 and becomes U+FFFD), ``ESC Z``, ``ENQ``. The safety argument
is structural: the output is a concatenation of text (no ESC, no C1) and complete allowed
sequences, so the terminal's parser is back in its ground state after each piece, whatever
the sandbox sent and however its writes were split. ``tests/unit/test_termfilter.py``
checks that with hypothesis against an independent tokenizer.

The filter assumes a UTF-8 terminal: bytes that are not well-formed UTF-8 become U+FFFD (as
a UTF-8 terminal shows them), so an overlong or 8-bit form of ESC or CSI never gets through.
Pure and import-light (``re`` only): it is on the interactive start-up path.
"""

from __future__ import annotations

import re

__all__ = ["ANSWERED", "TermFilter", "filter_bytes"]

#: report requests passed on purpose (fixed-format numeric answers TUIs wait for):
#: CPR ``CSI 6n`` / ``CSI ?6n`` (ratatui's inline viewport, Codex), DSR ``CSI 5n``, DA1
#: ``CSI c`` and DA2 ``CSI >c`` (capability probes, crossterm's keyboard probe), the kitty
#: keyboard flags query ``CSI ?u``, DECRQM ``CSI ?Ps$p`` (synchronized output probe), and
#: colour queries ``OSC 4;N;?`` / ``OSC 10/11/12;?`` (theme detection).
ANSWERED = ("cpr", "dsr", "da1", "da2", "kitty-keys", "decrqm", "colour-query")

_ESC = 0x1B
_MAX_CSI = 512
_MAX_STRING = 8192  # an OSC payload (hyperlink URIs, titles)

# text: allowed C0, printable ASCII, well-formed UTF-8 minus U+0080..U+009F
_TEXT = re.compile(
    rb"(?:[\x07-\x0f\x20-\x7e]"
    rb"|\xc2[\xa0-\xbf]|[\xc3-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})+"
)
# the fast path: text bytes (valid UTF-8 checked apart) and the commonest allowed sequences,
# each also allowed by the tables below (a test checks that); C1 code points found apart
_FAST = re.compile(
    rb"(?:[\x07-\x0f\x20-\x7e\x80-\xff]+|\x1b\[[0-9;:]{0,64}[@A-HJKLMPSTXdfmr]"
    rb"|\x1b\[\?[0-9;]{0,64}[hl]|\x1b[78=>])+"
)
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_JUNK = re.compile(rb"[\x00-\x06\x10-\x1a\x1c-\x1f\x7f]+")
# a proper prefix of a well-formed multibyte sequence, at the end of the buffer
_UTF8_PREFIX = re.compile(
    rb"(?:\xc2|[\xc3-\xdf]|\xe0(?:[\xa0-\xbf])?|[\xe1-\xec\xee\xef](?:[\x80-\xbf])?"
    rb"|\xed(?:[\x80-\x9f])?|\xf0(?:[\x90-\xbf][\x80-\xbf]?)?|[\xf1-\xf3](?:[\x80-\xbf]{1,2})?"
    rb"|\xf4(?:[\x80-\x8f][\x80-\xbf]?)?)\Z"
)
_CSI = re.compile(rb"\x1b\[([\x30-\x3f]*)([\x20-\x2f]*)([\x40-\x7e])")
_CSI_PREFIX = re.compile(rb"\x1b\[[\x30-\x3f]*[\x20-\x2f]*\Z")
_ESC_SEQ = re.compile(rb"\x1b([\x20-\x2f]*)([\x30-\x7e])")
_ESC_PREFIX = re.compile(rb"\x1b[\x20-\x2f]*\Z")
# OSC payload: printable ASCII and well-formed UTF-8 (no C1), ended by BEL or ST
_OSC = re.compile(
    rb"\x1b\]((?:[\x20-\x7e]|\xc2[\xa0-\xbf]|[\xc3-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})*)"
    rb"(\x07|\x1b\\)"
)

# -- CSI: (private prefix, intermediates) -> allowed final bytes --------------------------
_PLAIN_FINALS = frozenset(b"@ABCDEFGHIJKLMPSTXZ^`abdefghjklmqrsu")
_CSI_ALLOWED: dict[tuple[bytes, bytes], frozenset[int]] = {
    (b"", b""): _PLAIN_FINALS,
    (b"?", b""): frozenset(b"hlJKsrW"),  # DECSET/DECRST, selective erase, XTSAVE/XTRESTORE
    (b">", b""): frozenset(b"mnpstTu"),  # XTMODKEYS, pointer mode, title modes, kitty push
    (b"<", b""): frozenset(b"u"),  # kitty keyboard pop
    (b"=", b""): frozenset(b"u"),  # kitty keyboard set
    (b"", b" "): frozenset(b"q@A"),  # DECSCUSR cursor shape, SL/SR
    (b"", b"!"): frozenset(b"p"),  # DECSTR soft reset
    (b"", b'"'): frozenset(b"pq"),  # DECSCL, DECSCA
}


#: verdicts of sequences seen (SGR and cursor moves repeat a lot); bounded
_CSI_SEEN: dict[bytes, bool] = {}


def _csi_verdict(params: bytes, inter: bytes, final: int) -> bool:
    prefix = params[:1] if params[:1] in (b"?", b">", b"<", b"=") else b""
    rest = params[len(prefix) :]
    if not prefix and any(ch in b"<=>?" for ch in rest):
        return False  # private markers only lead
    if final == 0x6E:  # n: device status reports; ">n" resets key modifiers (no answer)
        if prefix == b">" and not inter:
            return True
        return (prefix, inter, rest) in {(b"", b"", b"5"), (b"", b"", b"6"), (b"?", b"", b"6")}
    if final == 0x63:  # c: device attributes (DA1, DA2); DA3 answers a unit id
        return inter == b"" and prefix in (b"", b">") and rest in (b"", b"0")
    if final == 0x74 and not prefix and not inter:  # t: window ops; only the title stack
        return rest.split(b";", 1)[0] in (b"22", b"23")
    if final == 0x75 and prefix == b"?" and not inter:  # kitty keyboard flags query
        return rest == b""
    if final == 0x70 and inter == b"$":  # DECRQM: mode state, numeric
        return prefix in (b"", b"?") and rest.isdigit()
    if final == 0x71 and not prefix and not inter:  # q: DECLL (LEDs)
        return True
    allowed = _CSI_ALLOWED.get((prefix, inter))
    return allowed is not None and final in allowed


# -- ESC Fe/Fp/Fs: allowed (intermediates, final) ------------------------------------------
_ESC_FINALS = frozenset(b"78=>DEHMNOc\\")


def _esc_verdict(inter: bytes, final: int) -> bool:
    if not inter:
        return final in _ESC_FINALS  # never Z (DECID: answers like DA1)
    if len(inter) == 1 and inter in b"()*+-./":
        return True  # charset designation
    return (inter == b"#" and final in b"345678") or (inter == b" " and final in b"FG")


# -- OSC ----------------------------------------------------------------------------------
_HTTP = re.compile(rb"https?://", re.IGNORECASE)
_COLOUR_SPEC = re.compile(rb"[\x21-\x7e]*")
_CONEMU = re.compile(rb"\d+(?:;|\Z)")
_AGENT_STATE = re.compile(rb"state=[a-z]+(?::app=[a-z0-9_-]+)?")


def _osc_verdict(payload: bytes) -> bool:
    code, _, rest = payload.partition(b";")
    if code in (b"0", b"1", b"2"):  # titles; a bare "?" asks for the title (rxvt): dropped
        return rest != b"?"
    if code == b"8":  # hyperlinks: params;URI, the URI empty (end) or http(s)
        _, sep, uri = rest.partition(b";")
        return bool(sep) and (uri == b"" or _HTTP.match(uri) is not None)
    if code == b"4":  # palette: pairs of index;spec, spec a colour or "?"
        parts = rest.split(b";")
        return len(parts) % 2 == 0 and all(p.isdigit() for p in parts[::2])
    if code in (b"10", b"11", b"12", b"17", b"19"):  # dynamic colours: spec or "?"
        return all(_COLOUR_SPEC.fullmatch(p) for p in rest.split(b";"))
    if code in (b"104", b"110", b"111", b"112", b"117", b"119", b"22", b"133"):
        return True  # colour resets, pointer shape, prompt marks
    if code == b"9":  # desktop notification (iTerm2); of ConEmu's 9;N commands only 9;4 progress
        return _CONEMU.match(rest) is None or rest.startswith(b"4;")
    if code == b"7501":  # agent state (Claude Code, Codex): the set form only, never "?"
        return _AGENT_STATE.fullmatch(rest) is not None
    return code == b"777" and rest.startswith(b"notify;")


class TermFilter:
    """Feed chunks with :meth:`feed`; what it returns is safe to write to the terminal.

    An incomplete sequence at the end of a chunk is held until the next one (at most
    :data:`_MAX_STRING` bytes); :meth:`flush` at end of stream drops it. ``dropped`` counts
    the sequences (and stray bytes) removed, ``answered`` the passed report requests.
    """

    __slots__ = ("_pending", "_skip", "answered", "dropped")

    def __init__(self) -> None:
        self._pending = b""
        #: discarding a dropped string or over-long sequence: "string" (until ST/BEL/ESC)
        #: or "csi" (until a final byte); "" when not
        self._skip = ""
        self.dropped = 0
        self.answered = 0

    def feed(self, data: bytes) -> bytes:
        buf = self._pending + data if self._pending else data
        self._pending = b""
        out: list[bytes] = []
        i = self._resume(buf, 0)
        n = len(buf)
        while i < n:
            # fast path: a run of text and the commonest allowed sequences (SGR, cursor moves,
            # DEC modes), the text checked by the C decoder
            m = _FAST.match(buf, i)
            if m is not None:
                run = m.group()
                if m.end() == n:  # a character cut by the read: held for the next one
                    tail = _UTF8_PREFIX.search(run, max(0, len(run) - 3))
                    if tail is not None:
                        run = run[: tail.start()]
                if run:
                    i += len(run)
                    try:
                        run.decode("utf-8")
                    except UnicodeDecodeError:  # malformed bytes: U+FFFD, as terminals show
                        self.dropped += 1
                        run = run.decode("utf-8", "replace").encode()
                    if _C1.search(run) is not None:  # C1 controls (U+0080..U+009F)
                        self.dropped += 1
                        run = _C1.sub(b"", run)
                    out.append(run)
                    continue
            m = _JUNK.match(buf, i)
            if m is not None:  # other C0 controls and DEL, dropped in bulk
                self.dropped += 1
                i = m.end()
                continue
            m = _TEXT.match(buf, i)
            if m is not None:
                out.append(m.group())
                i = m.end()
                continue
            byte = buf[i]
            if byte == _ESC:
                j = self._escape(buf, i, out)
                if j < 0:  # incomplete: hold the tail
                    self._pending = buf[i:]
                    break
                i = j
                continue
            if byte >= 0xC2 and _UTF8_PREFIX.match(buf, i):
                self._pending = buf[i:]  # a character split across reads
                break
            self.dropped += 1  # another control, a stray or C1 byte, malformed UTF-8
            i += 2 if byte == 0xC2 and i + 1 < n and 0x80 <= buf[i + 1] <= 0x9F else 1
        return b"".join(out)

    def flush(self) -> bytes:
        """End of stream: an unfinished sequence is dropped (a split character too)."""
        if self._pending:
            self.dropped += 1
        self._pending = b""
        self._skip = ""
        return b""

    # -- internals -----------------------------------------------------------------------
    def _resume(self, buf: bytes, i: int) -> int:
        """Continue discarding a dropped string/sequence; returns where ground text resumes."""
        if self._skip == "csi":
            n = len(buf)
            while i < n and 0x20 <= buf[i] <= 0x3F:
                i += 1
            if i == n:
                return n
            self._skip = ""
            return i + 1 if 0x40 <= buf[i] <= 0x7E else i
        if self._skip == "string":
            while True:
                j = buf.find(b"\x1b", i)
                k = buf.find(b"\x07", i)
                if k >= 0 and (j < 0 or k < j):
                    self._skip = ""
                    return k + 1
                if j < 0:
                    return len(buf)
                if j + 1 == len(buf):
                    return j  # the ESC decides next time: feed holds it as incomplete
                self._skip = ""
                return j + 2 if buf[j + 1] == 0x5C else j  # ST ends it; another ESC restarts
        return i

    def _escape(self, buf: bytes, i: int, out: list[bytes]) -> int:
        """Handle the sequence starting at ``buf[i]`` (ESC); -1 when it is incomplete."""
        n = len(buf)
        if i + 1 >= n:
            return -1
        kind = buf[i + 1]
        if kind == 0x5B:  # CSI
            m = _CSI.match(buf, i)
            if m is None:
                if _CSI_PREFIX.match(buf, i):
                    if n - i <= _MAX_CSI:
                        return -1
                    self.dropped += 1
                    self._skip = "csi"
                    return self._resume(buf, i + 2)
                self.dropped += 1  # a control byte inside: drop what came so far
                return _CSI_PREFIX_END(buf, i)
            if m.end() - i > _MAX_CSI:
                self.dropped += 1
                return m.end()
            params, inter, final = m.group(1), m.group(2), m.group(3)[0]
            seq = m.group()
            verdict = _CSI_SEEN.get(seq)
            if verdict is None:
                verdict = _csi_verdict(params, inter, final)
                if len(_CSI_SEEN) >= 4096:
                    _CSI_SEEN.clear()
                _CSI_SEEN[seq] = verdict
            if verdict:
                if (final in b"cn" or (final == 0x70 and inter == b"$")) or (
                    final == 0x75 and params == b"?"
                ):
                    self.answered += 1
                out.append(m.group())
            else:
                self.dropped += 1
            return m.end()
        if kind == 0x5D:  # OSC
            m = _OSC.match(buf, i)
            if m is not None:
                if _osc_verdict(m.group(1)) and m.end() - i <= _MAX_STRING:
                    code = m.group(1).split(b";", 1)[0]
                    if b"?" in m.group(1) and code not in (b"0", b"1", b"2", b"8"):
                        self.answered += 1
                    out.append(m.group())
                else:
                    self.dropped += 1
                return m.end()
            return self._osc_unfinished(buf, i)
        if kind in (0x50, 0x58, 0x5E, 0x5F):  # DCS, SOS, PM, APC: never passed
            self.dropped += 1
            self._skip = "string"
            return self._resume(buf, i + 2)
        m = _ESC_SEQ.match(buf, i)
        if m is None:
            if _ESC_PREFIX.match(buf, i):
                return -1 if n - i <= 16 else self._drop_to(buf, i + 1)
            self.dropped += 1  # ESC then a control byte: the ESC alone goes
            return _ESC_PREFIX_END(buf, i)
        if _esc_verdict(m.group(1), m.group(2)[0]):
            out.append(m.group())
        else:
            self.dropped += 1
        return m.end()

    def _osc_unfinished(self, buf: bytes, i: int) -> int:
        """An OSC without its end yet, or with a byte that may not be in a payload."""
        n = len(buf)
        j = i + 2
        while j < n:
            byte = buf[j]
            if byte in (0x07, _ESC) or byte < 0x20 or byte == 0x7F:
                break
            j += 1
        if (j == n or (j == n - 1 and buf[j] == _ESC)) and n - i <= _MAX_STRING:
            return -1  # may still end well (ST can be split after its ESC)
        # malformed or over-long: drop it, up to its end as the terminal would see it
        self.dropped += 1
        self._skip = "string"
        return self._resume(buf, i + 2)

    def _drop_to(self, buf: bytes, j: int) -> int:
        del buf
        self.dropped += 1
        return j


def _CSI_PREFIX_END(buf: bytes, i: int) -> int:  # noqa: N802
    """Where the well-formed head of a broken CSI at ``i`` ends (the offending byte)."""
    m = _CSI_PREFIX_HEAD.match(buf, i)
    assert m is not None
    return m.end()


def _ESC_PREFIX_END(buf: bytes, i: int) -> int:  # noqa: N802
    m = _ESC_PREFIX_HEAD.match(buf, i)
    assert m is not None
    return m.end()


_CSI_PREFIX_HEAD = re.compile(rb"\x1b\[[\x30-\x3f]*[\x20-\x2f]*")
_ESC_PREFIX_HEAD = re.compile(rb"\x1b[\x20-\x2f]*")


def filter_bytes(data: bytes) -> bytes:
    """The whole of ``data`` through a fresh filter (recordings, host-side messages)."""
    f = TermFilter()
    return f.feed(data) + f.flush()

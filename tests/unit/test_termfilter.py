"""The terminal output filter: named cases, and properties over every split of the stream.

The oracle is an independent tokenizer that reads the filter's output the way a VT500-style
terminal parser does and flags every piece of a dropped class (the filter's own tables are
not used by it).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwsandbox.runtime._termfilter import TermFilter, filter_bytes

# -- what must never reach the terminal ------------------------------------------------------
DROPPED = {
    "osc52-write": b"\x1b]52;c;ZWNobyBwd25lZAo=\x07",
    "osc52-write-st": b"\x1b]52;c;ZWNobyBwd25lZAo=\x1b\\",
    "osc52-read": b"\x1b]52;c;?\x07",
    "osc8-file": b"\x1b]8;;file:///etc/passwd\x1b\\click\x1b]8;;\x1b\\",
    "osc8-ssh": b"\x1b]8;;ssh://evil/\x07",
    "osc7-cwd": b"\x1b]7;file://host/tmp\x07",
    "osc1337": b"\x1b]1337;File=name=eA==;inline=1:AAAA\x07",
    "osc50-font-query": b"\x1b]50;?\x07",
    "osc9-conemu-run": b"\x1b]9;7;calc.exe\x07",
    "osc99-kitty-notify-query": b"\x1b]99;i=1:p=?;\x1b\\",
    "osc7501-query": b"\x1b]7501;?\x07",
    "title-query": b"\x1b]2;?\x07\x1b]1;?\x1b\\\x1b]0;?\x07",
    "osc7501-other": b"\x1b]7501;run=/bin/sh\x07",
    "title-report": b"\x1b[21t",
    "icon-report": b"\x1b[20t",
    "size-px-report": b"\x1b[14t",
    "size-chars-report": b"\x1b[18t",
    "window-move": b"\x1b[3;0;0t",
    "da3": b"\x1b[=c",
    "dsr-printer": b"\x1b[?15n",
    "dsr-keyboard": b"\x1b[?26n",
    "decreqtparm": b"\x1b[x",
    "decrqcra-checksum": b"\x1b[1;1;1;1;1;1*y",
    "decrqpsr": b"\x1b[1$w",
    "decrqtsr": b"\x1b[1$u",
    "xtversion": b"\x1b[>q",
    "xtversion0": b"\x1b[>0q",
    "xtqmodkeys": b"\x1b[?4m",
    "xtsmgraphics-query": b"\x1b[?1;1;0S",
    "media-copy": b"\x1b[5i",
    "locator-request": b"\x1b['|",
    "decrqss": b"\x1bP$qm\x1b\\",
    "decrqss-title-bug": b"\x1bP$q\x1b]0;x\x07\x1b\\",
    "xtgettcap": b"\x1bP+q544e\x1b\\",
    "sixel": b"\x1bPq#0;2;0;0;0#0~~@@vv\x1b\\",
    "tmux-passthrough": b"\x1bPtmux;\x1b\x1b]52;c;eA==\x07\x1b\\",
    "kitty-graphics-query": b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\",
    "apc": b"\x1b_anything\x1b\\",
    "pm": b"\x1b^private\x1b\\",
    "sos": b"\x1bXstring\x1b\\",
    "decid": b"\x1bZ",
    "enq": b"\x05",
    "c1-csi-raw": b"\x9b21t",
    "c1-csi-utf8": b"\xc2\x9b21t",
    "c1-osc-utf8": b"\xc2\x9d52;c;eA==\xc2\x9c",
    "c1-dcs-raw": b"\x90$qm\x9c",
    "overlong-esc": b"\xc0\x9b[21t",
    "overlong-esc3": b"\xe0\x80\x9b[21t",
    "charset-utf8-off": b"\x1b%@",
    "csi-with-newline": b"\x1b[2\n1t",
    "osc-with-newline": b"\x1b]52;c\n;eA==\x07",
}

# -- what agent TUIs need, byte-identical -----------------------------------------------------
KEPT = {
    "sgr": b"\x1b[1;31mred\x1b[0m",
    "sgr-256": b"\x1b[38;5;208m",
    "sgr-truecolor": b"\x1b[38;2;255;128;0;48;2;1;2;3m",
    "sgr-colon": b"\x1b[38:2::255:128:0m\x1b[4:3m",
    "cursor": b"\x1b[H\x1b[2J\x1b[10;5H\x1b[3A\x1b[2B\x1b[C\x1b[D\x1b[G\x1b[K\x1b[0J",
    "cursor-save": b"\x1b7\x1b8\x1b[s\x1b[u",
    "alt-screen": b"\x1b[?1049h\x1b[?1049l\x1b[?47h",
    "cursor-visibility": b"\x1b[?25l\x1b[?25h",
    "bracketed-paste": b"\x1b[?2004h\x1b[?2004l",
    "mouse": b"\x1b[?1000h\x1b[?1002h\x1b[?1003h\x1b[?1006h\x1b[?1006l",
    "focus": b"\x1b[?1004h",
    "sync-output": b"\x1b[?2026h\x1b[?2026l",
    "cursor-shape": b"\x1b[2 q\x1b[ q",
    "scroll-region": b"\x1b[1;20r\x1b[S\x1b[2T",
    "insert-delete": b"\x1b[2L\x1b[3M\x1b[4@\x1b[5P\x1b[6X",
    "keypad": b"\x1b=\x1b>",
    "charset": b"\x1b(B\x1b)0\x0e\x0f",
    "title-set": b"\x1b]0;my title\x07\x1b]2;\xe2\x9c\xb3 Claude Code\x1b\\",
    "title-with-question-mark": b"\x1b]2;Fix it? (claude)\x07",
    "title-stack": b"\x1b[22;0t\x1b[23;0t",
    "hyperlink-https": b"\x1b]8;;https://example.com/a?b=c\x1b\\link\x1b]8;;\x1b\\",
    "hyperlink-http-id": b"\x1b]8;id=1;http://example.com\x07x\x1b]8;;\x07",
    "kitty-keyboard": b"\x1b[>1u\x1b[<u\x1b[=1;1u",
    "xtmodkeys": b"\x1b[>4;1m\x1b[>4m",
    "colour-set": b"\x1b]4;1;rgb:ff/00/00\x07\x1b]10;#ffffff\x07\x1b]11;rgb:0/0/0\x1b\\",
    "colour-reset": b"\x1b]104\x07\x1b]110\x07\x1b]111\x07",
    "notify": b"\x1b]9;Claude is waiting\x07\x1b]777;notify;Codex;done\x07",
    "progress": b"\x1b]9;4;1;50\x07",
    "prompt-marks": b"\x1b]133;A\x07\x1b]133;B\x07",
    "agent-state": b"\x1b]7501;state=working:app=codex\x1b\\\x1b]7501;state=clear\x1b\\",
    "reset": b"\x1bc\x1b[!p",
    "utf8-text": "héllo ─│█\u276f✓ 日本語 🙂\r\n\tend\x07\x08".encode(),
    # the report requests passed on purpose (numeric answers; the module docstring)
    "cpr": b"\x1b[6n\x1b[?6n",
    "dsr": b"\x1b[5n",
    "da1": b"\x1b[c\x1b[0c",
    "da2": b"\x1b[>c\x1b[>0c",
    "kitty-keyboard-query": b"\x1b[?u",
    "decrqm": b"\x1b[?2026$p\x1b[2$p",
    "colour-query": b"\x1b]11;?\x1b\\\x1b]10;?\x07\x1b]4;0;?\x07",
}


@pytest.mark.parametrize("name", sorted(DROPPED))
def test_dropped(name: str) -> None:
    data = b"a" + DROPPED[name] + b"b"
    out = filter_bytes(data)
    assert _violations(out) == [], out
    assert out != data
    f = TermFilter()
    f.feed(data)
    assert f.dropped >= 1


@pytest.mark.parametrize("name", sorted(KEPT))
def test_kept_byte_identical(name: str) -> None:
    data = b"a" + KEPT[name] + b"b"
    assert filter_bytes(data) == data


def test_text_of_dropped_link_stays() -> None:
    assert filter_bytes(DROPPED["osc8-file"]) == b"click\x1b]8;;\x1b\\"


def test_counters() -> None:
    f = TermFilter()
    f.feed(b"\x1b[6n\x1b]52;c;eA==\x07\x1b[21t\x1b]11;?\x07x")
    assert (f.answered, f.dropped) == (2, 2)


def test_held_across_reads() -> None:
    f = TermFilter()
    assert f.feed(b"ab\x1b]52;c;ZWNo") == b"ab"
    assert f.feed(b"bw==\x1b") == b""
    assert f.feed(b"\\cd\xe2\x9c") == b"cd"
    assert f.feed(b"\xb3") == "✳".encode()
    assert f.feed(b"\x1b[3") == b""
    assert f.feed(b"1m") == b"\x1b[31m"


def test_unterminated_string_is_bounded() -> None:
    f = TermFilter()
    out = f.feed(b"\x1b]52;c;" + b"A" * 100_000)
    out += f.feed(b"B" * 10 + b"\x07visible")
    assert out == b"visible"
    assert len(f._pending) == 0


def test_over_long_csi_dropped() -> None:
    assert filter_bytes(b"\x1b[" + b"1;" * 400 + b"m" + b"x") == b"x"


# -- the oracle: a terminal's tokenizer, and the dropped classes in terms of its tokens ----------
_UTF8 = re.compile(
    rb"[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
    rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_REPORT_T = {b"11", b"13", b"14", b"15", b"16", b"18", b"19", b"20", b"21"}


def _violations(out: bytes) -> list[str]:
    """Every dropped-class item a terminal would see in ``out``."""
    found: list[str] = []
    i, n = 0, len(out)
    while i < n:
        byte = out[i]
        if byte != 0x1B:
            m = _UTF8.match(out, i)
            if m is None:
                found.append(f"malformed byte {byte:#x} at {i}")
                i += 1
                continue
            ch = m.group().decode()
            if 0x80 <= ord(ch) <= 0x9F:
                found.append(f"C1 control U+{ord(ch):04X}")
            elif ord(ch) < 0x20 and ch not in "\x07\x08\t\n\x0b\x0c\r\x0e\x0f":
                found.append(f"control {ord(ch):#x}")
            elif ord(ch) == 0x7F:
                found.append("DEL")
            i = m.end()
            continue
        if i + 1 >= n:
            found.append("ESC at the end")
            break
        kind = out[i + 1]
        if kind == 0x5B:  # CSI
            j = i + 2
            while j < n and 0x20 <= out[j] <= 0x3F:
                j += 1
            if j >= n or not 0x40 <= out[j] <= 0x7E:
                found.append("unfinished or broken CSI")
                break
            found += _csi_violation(out[i + 2 : j], out[j])
            i = j + 1
        elif kind == 0x5D:  # OSC
            j = i + 2
            while j < n and out[j] not in (0x07, 0x1B) and out[j] >= 0x20:
                j += 1
            if j >= n or out[j] not in (0x07, 0x1B):
                found.append("unfinished or broken OSC")
                break
            if out[j] == 0x1B and out[j + 1 : j + 2] != b"\\":
                found.append("OSC cut by ESC")
            found += _osc_violation(out[i + 2 : j])
            i = j + (1 if out[j] == 0x07 else 2)
        elif kind in b"PX^_":
            found.append("DCS/SOS/PM/APC string")
            i += 2
        else:
            j = i + 1
            while j < n and 0x20 <= out[j] <= 0x2F:
                j += 1
            if j >= n:
                found.append("unfinished ESC")
                break
            if out[i + 1 : j + 1] in (b"Z", b"%@", b"%8"):
                found.append(f"ESC {out[i + 1 : j + 1]!r}")
            i = j + 1
    return found


def _csi_violation(body: bytes, final: int) -> list[str]:
    inter = bytes(b for b in body if b < 0x30)
    params = body[: len(body) - len(inter)]
    head = params.split(b";", 1)[0]
    bad = (
        (
            final == ord("t")
            and not inter
            and params[:1] not in b"<=>?"
            and head not in {b"22", b"23"}
        )
        or (final == ord("t") and head in _REPORT_T)
        or (final == ord("n") and params not in (b"5", b"6", b"?6") and not params.startswith(b">"))
        or (final == ord("c") and params.startswith(b"="))
        or (final == ord("q") and params.startswith(b">"))
        or (final == ord("y") and inter in (b"*", b""))
        or (final == ord("x") and not inter)
        or (final in b"wu" and inter == b"$")
        or (final in b"mS" and params.startswith(b"?"))
        or (final == ord("i"))
        or (inter == b"'")
        or (inter == b"#")
    )
    return [f"CSI {body!r} {chr(final)}"] if bad else []


def _osc_violation(payload: bytes) -> list[str]:
    code, _, rest = payload.partition(b";")
    bad = (
        code in (b"52", b"7", b"1337", b"50", b"99", b"5", b"51", b"666")
        or (code == b"7501" and re.fullmatch(rb"state=[a-z]+(:app=[a-z0-9_-]+)?", rest) is None)
        or (code == b"8" and rest.partition(b";")[2][:4] not in (b"", b"http", b"HTTP"))
        or (code == b"8" and b"://" in rest and not re.search(rb";https?://", rest, re.I))
        or (code in (b"0", b"1", b"2") and rest == b"?")  # a title query (rxvt)
        or (
            b"?" in payload
            # a "?" in a colour spec is a query the filter answers on purpose; in a title, a
            # link or a desktop notification's text (iTerm2's 9, 777) it is plain text
            and code
            not in (b"4", b"10", b"11", b"12", b"17", b"19", b"8", b"0", b"1", b"2", b"9", b"777")
        )
        or (
            code == b"9" and re.match(rb"\d+(;|$)", rest) is not None and not rest.startswith(b"4;")
        )
    )
    return [f"OSC {payload[:40]!r}"] if bad else []


# -- properties -------------------------------------------------------------------------------
_params = st.lists(st.integers(0, 2000).map(lambda v: str(v).encode()), max_size=4).map(b";".join)
_csi_any = st.builds(
    lambda pre, ps, inter, fin: b"\x1b[" + pre + ps + inter + bytes([fin]),
    st.sampled_from([b"", b"?", b">", b"<", b"=", b"?>"]),
    _params,
    st.sampled_from([b"", b" ", b"$", b"!", b'"', b"*", b"'", b"#", b"&", b"+"]),
    st.integers(0x40, 0x7E),
)
_osc_any = st.builds(
    lambda code, body, end: b"\x1b]" + code + b";" + body + end,
    st.sampled_from(
        [b"0", b"1", b"2", b"4", b"7", b"8", b"9", b"10", b"11", b"52", b"1337", b"777"]
    ),
    st.binary(max_size=30),
    st.sampled_from([b"\x07", b"\x1b\\", b"", b"\x1b"]),
)
_string_any = st.builds(
    lambda intro, body, end: intro + body + end,
    st.sampled_from([b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX", b"\x90", b"\xc2\x90", b"\x9d"]),
    st.binary(max_size=30),
    st.sampled_from([b"\x1b\\", b"\x07", b"", b"\x9c"]),
)
_piece = st.one_of(
    st.sampled_from(list(DROPPED.values())),
    st.sampled_from(list(KEPT.values())),
    _csi_any,
    _osc_any,
    _string_any,
    st.binary(max_size=12),
    st.text(max_size=12).map(str.encode),
    st.sampled_from([b"\x1b", b"\x1b[", b"\x1b]", b"\x1bP", b"\x07", b"\x1b\\", b"\xc2", b"\xe2"]),
)
_pieces = st.lists(_piece, max_size=20)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, last = [], 0
    for p in points:
        chunks.append(data[last:p])
        last = p
    chunks.append(data[last:])
    return chunks


def _run(chunks: list[bytes]) -> bytes:
    f = TermFilter()
    return b"".join(f.feed(c) for c in chunks) + f.flush()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_pieces, st.lists(st.integers(0, 10_000), max_size=12))
def test_no_dropped_class_survives_any_split(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    out = _run(_split(data, cuts))
    assert _violations(out) == []
    assert out == filter_bytes(data)  # the split never changes the result
    assert filter_bytes(out) == out  # what passed is a fixed point


_kept_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x1b\x7f")
    .filter(lambda c: c >= " " or c in "\x07\x08\t\n\x0b\x0c\r\x0e\x0f")
    .filter(lambda c: not "\x80" <= c <= "\x9f"),
    max_size=15,
).map(str.encode)


@settings(max_examples=300)
@given(
    st.lists(st.one_of(st.sampled_from(list(KEPT.values())), _kept_text), max_size=15),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_text_and_allowed_sequences_pass_byte_identical(
    pieces: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(pieces)
    assert _run(_split(data, cuts)) == data


def test_fast_path_sequences_are_allowed_by_the_tables() -> None:
    """Every sequence the fast path lets through whole is one the tables allow."""
    from bwsandbox.runtime import _termfilter as tf

    for final in b"@ABCDEFGHJKLMPSTXdfmr":
        for params in (b"", b"1", b"1;2", b"38:2::1:2:3", b";;"):
            assert tf._FAST.fullmatch(b"\x1b[" + params + bytes([final]))
            assert tf._csi_verdict(params, b"", final), (params, final)
    for final in b"hl":
        assert tf._csi_verdict(b"?1049", b"", final)
    for final in b"78=>":
        assert tf._esc_verdict(b"", final)
    for byte in range(0x40, 0x7F):  # nothing else ends a fast-path CSI
        if byte not in b"@ABCDEFGHJKLMPSTXdfmr":
            assert not tf._FAST.fullmatch(b"\x1b[1" + bytes([byte]))

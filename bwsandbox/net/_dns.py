"""A minimal DNS codec: parse one question, answer it with synthetic addresses or refuse.

Only what a stub resolver sends is understood (one question, no compression in it, labels of
letters, digits, ``-`` and ``_``, 255 bytes at most); anything else gets FORMERR/NOTIMP.
Nothing is ever forwarded upstream. dnslib checks this parser in the tests.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from bwsandbox._netrules import IPAddress
from bwsandbox._record import record

__all__ = ["QTYPE_A", "QTYPE_AAAA", "Question", "answer", "parse_query", "refuse"]

QTYPE_A = 1
QTYPE_AAAA = 28
_CLASS_IN = 1
_TTL = 60
_NOERROR, _FORMERR, _NXDOMAIN, _NOTIMP = 0, 1, 3, 4
#: a label of a host name (letters, digits, hyphen; underscore for _service names)
_LABEL = re.compile(rb"[A-Za-z0-9_-]+")
#: the longest name in wire form (RFC 1035 2.3.4)
_NAME_LIMIT = 255


@record
class Question:
    """A DNS query as received: its header fields and question."""

    ident: int
    flags: int
    name: str  # lower-case, no trailing dot
    qtype: int
    qclass: int
    raw: bytes  # the question section as received


def parse_query(data: bytes) -> Question | None:
    """The query's question, or ``None`` when it cannot be answered (see :func:`refuse`)."""
    if len(data) < 12:
        return None
    ident, flags, qdcount = struct.unpack_from("!HHH", data)
    if flags & 0x8000 or (flags >> 11) & 0xF != 0 or qdcount != 1:
        return None
    labels: list[str] = []
    offset = 12
    while True:
        if offset >= len(data):
            return None
        length = data[offset]
        offset += 1
        if length == 0:
            break
        if length > 63 or offset + length > len(data):
            return None  # also compression pointers (0xC0): a question has none
        label = data[offset : offset + length]
        if not _LABEL.fullmatch(label):
            return None  # a dot, a control byte or non-ASCII inside a label: not a host name
        labels.append(label.decode("ascii").lower())
        offset += length
        if offset - 12 > _NAME_LIMIT:
            return None
    if offset + 4 > len(data):
        return None
    qtype, qclass = struct.unpack_from("!HH", data, offset)
    raw = data[12 : offset + 4]
    return Question(ident, flags, ".".join(labels), qtype, qclass, raw)


def _header(ident: int, flags: int, rcode: int, qd: int, an: int) -> bytes:
    out_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode  # QR, opcode, RD, AA, RA
    return struct.pack("!HHHHHH", ident, out_flags, qd, an, 0, 0)


def refuse(data: bytes) -> bytes:
    """FORMERR (or NOTIMP for other opcodes) for a query :func:`parse_query` rejected."""
    if len(data) < 4:
        return b""
    ident, flags = struct.unpack_from("!HH", data)
    if flags & 0x8000:
        return b""  # never answer a response
    rcode = _NOTIMP if (flags >> 11) & 0xF else _FORMERR
    return _header(ident, flags, rcode, 0, 0)


def answer(
    question: Question,
    lookup: Callable[[str], tuple[IPAddress, IPAddress] | None],
) -> bytes:
    """NXDOMAIN when ``lookup`` returns ``None``; else the A/AAAA record (NODATA for others)."""
    addresses = lookup(question.name) if question.qclass == _CLASS_IN else None
    if addresses is None:
        return _header(question.ident, question.flags, _NXDOMAIN, 1, 0) + question.raw
    records = b""
    for address in addresses:
        wanted = QTYPE_A if address.version == 4 else QTYPE_AAAA
        if question.qtype == wanted:
            rdata = address.packed
            records += struct.pack("!HHHIH", 0xC00C, wanted, _CLASS_IN, _TTL, len(rdata)) + rdata
    count = 1 if records else 0
    return _header(question.ident, question.flags, _NOERROR, 1, count) + question.raw + records

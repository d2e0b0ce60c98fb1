"""Cutting a file or a stream into the HL7 v2 messages it holds.

One input may be a single message, a batch file (``FHS``/``BHS`` ...
``BTS``/``FTS``), a plain concatenation of messages, or a capture of MLLP
frames (``0x0B`` message ``0x1C 0x0D``).  :func:`split_messages` returns the
raw bytes of each message, in order; batch headers and trailers are dropped.

It never rejects anything: text that precedes the first ``MSH`` or follows a
batch header without one is returned as a chunk of its own, so that
:func:`~hl7bus.hl7.parse.parse_message` can reject it.  A run of such text with no
``MSH`` in it — however many frame bytes and batch lines cut through it, as in a file
of random bytes — is one chunk, cut to its first :data:`JUNK_KEPT` bytes: one rejection,
not one per stray byte.
"""

from __future__ import annotations

import re

from hl7bus.hl7.charset import UTF8_BOM, wide_codec

_LINE_BREAK = re.compile(rb"(\r\n|\r|\n)")
_FRAME_BYTES = re.compile(rb"[\x0b\x1c]")
_BLANK = b" \t\x0b\x0c\x1a\x00"
_BATCH = frozenset({b"FHS", b"BHS", b"BTS", b"FTS"})

JUNK_KEPT = 64 * 1024
"""How much of a run of text without ``MSH`` is kept: enough to see what it was."""


def split_messages(data: bytes) -> list[bytes]:
    """The raw bytes of each message in ``data``, in order; [] when there is none.

    Segment terminators may be CR, LF, CRLF or a mix; blank lines, a UTF-8 byte
    order mark and MLLP framing characters are tolerated.  UTF-16 and UTF-32
    input is returned as UTF-16 or UTF-32 chunks with a byte order mark.
    """
    data = bytes(data)
    if not data:
        return []
    wide = wide_codec(data)
    if wide is not None:
        try:
            text = data.decode(wide).lstrip("\ufeff")
        except UnicodeDecodeError:
            pass
        else:
            target = "utf-32" if wide.startswith("utf-32") else "utf-16"
            return [
                chunk.decode("utf-8").encode(target)
                for chunk in split_messages(text.encode("utf-8"))
            ]
    if _FRAME_BYTES.search(data) is None:
        spans = _split_frame(data, 0)
    else:
        spans = []
        offset = 0
        for frame in _FRAME_BYTES.split(data):  # each frame ends at one frame byte
            spans.extend(_split_frame(frame, offset))
            offset += len(frame) + 1
    return _chunks(data, spans)


def _chunks(data: bytes, spans: list[tuple[int, int, bool]]) -> list[bytes]:
    """The messages, and each run of consecutive spans without MSH as one chunk."""
    chunks: list[bytes] = []
    junk: tuple[int, int] | None = None
    for start, end, is_message in spans:
        if is_message:
            if junk is not None:
                chunks.append(data[junk[0] : min(junk[1], junk[0] + JUNK_KEPT)])
                junk = None
            chunks.append(data[start:end])
        else:
            junk = (start, end) if junk is None else (junk[0], end)
    if junk is not None:
        chunks.append(data[junk[0] : min(junk[1], junk[0] + JUNK_KEPT)])
    return chunks


def _is_segment_start(line: bytes, name: bytes) -> bool:
    if not line.startswith(name):
        return False
    if len(line) == 3:
        return True
    fourth = line[3]
    return 0x21 <= fourth <= 0x7E and not chr(fourth).isalnum()


def _split_frame(data: bytes, base: int) -> list[tuple[int, int, bool]]:
    """(start, end, begins with MSH) of each chunk of ``data``, as offsets from ``base``."""
    spans: list[tuple[int, int, bool]] = []
    start: int | None = None
    is_message = False
    end = 0
    offset = 0
    parts = _LINE_BREAK.split(data)
    # parts alternate: line, terminator, line, terminator, ..., line
    for i in range(0, len(parts), 2):
        line = parts[i]
        terminator = parts[i + 1] if i + 1 < len(parts) else b""
        line_start = offset
        offset += len(line) + len(terminator)
        if line.startswith(UTF8_BOM):
            line = line[3:]
            line_start += 3
        if not line.strip(_BLANK):
            continue
        head = line[:3]
        if head in _BATCH and _is_segment_start(line, head):
            if start is not None:
                spans.append((base + start, base + end, is_message))
                start = None
            continue
        if head == b"MSH" and _is_segment_start(line, b"MSH"):
            if start is not None:
                spans.append((base + start, base + end, is_message))
            start, is_message = line_start, True
        elif start is None:
            start, is_message = line_start, False
        end = offset
    if start is not None:
        spans.append((base + start, base + end, is_message))
    return spans

"""Cutting a file or a stream into the HL7 v2 messages it holds.

One input may be a single message, a batch file (``FHS``/``BHS`` ...
``BTS``/``FTS``), a plain concatenation of messages, or a capture of MLLP
frames (``0x0B`` message ``0x1C 0x0D``).  :func:`split_messages` returns the
raw bytes of each message, in order; batch headers and trailers are dropped.

It never rejects anything: text that precedes the first ``MSH`` or follows a
batch header without one is returned as a chunk of its own, so that
:func:`~hl7bus.hl7.parse.parse_message` can reject it and nothing is lost.
"""

from __future__ import annotations

import re

from hl7bus.hl7.charset import UTF8_BOM, wide_codec

_LINE_BREAK = re.compile(rb"(\r\n|\r|\n)")
_FRAME_BYTES = re.compile(rb"[\x0b\x1c]")
_BLANK = b" \t\x0b\x0c\x1a\x00"
_BATCH = frozenset({b"FHS", b"BHS", b"BTS", b"FTS"})


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
        return _split_frame(data)
    chunks: list[bytes] = []
    for frame in _FRAME_BYTES.split(data):
        chunks.extend(_split_frame(frame))
    return chunks


def _is_segment_start(line: bytes, name: bytes) -> bool:
    if not line.startswith(name):
        return False
    if len(line) == 3:
        return True
    fourth = line[3]
    return 0x21 <= fourth <= 0x7E and not chr(fourth).isalnum()


def _split_frame(data: bytes) -> list[bytes]:
    chunks: list[bytes] = []
    start: int | None = None
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
                chunks.append(data[start:end])
                start = None
            continue
        if head == b"MSH" and _is_segment_start(line, b"MSH"):
            if start is not None:
                chunks.append(data[start:end])
            start = line_start
        elif start is None:
            start = line_start
        end = offset
    if start is not None:
        chunks.append(data[start:end])
    return chunks

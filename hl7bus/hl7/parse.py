"""Reading one HL7 v2 message from bytes or text.

:func:`parse_message` accepts what real senders produce: CR, LF or CRLF
segment terminators and mixes of them, blank lines, a UTF-8 byte order mark,
no final terminator, MLLP framing characters around the message, and any
delimiters MSH-1 and MSH-2 declare.  Everything it cannot read is rejected
with a :class:`~hl7bus.errors.MessageError` that names the segment and field.

Lines that do not start with a segment name
-------------------------------------------
Text editors and mail programs wrap long segments, and some senders put bare
line feeds inside free text.  A line that does not begin with a segment name
followed by the field separator is therefore read as the continuation of the
segment before it, joined by a line break (``"\\n"``) that stays part of the
field's value; :attr:`Message.warnings` records each such join.  Three kinds
of line are rejected instead (``SEGMENT_SEQUENCE``), because joining them
would silently change the message:

- a line whose first word looks like a segment name but is not one
  (``WHOOPS|...``, ``ID|...``, ``pid|...``): a corrupted segment;
- a line that starts with a control character: binary garbage;
- a field or repetition holding only spaces and a segment name followed by
  the field separator (``...| OBX|1|TX...``): segments joined by spaces, which
  would hide the second segment inside the first.

A second ``MSH`` or a batch segment (FHS, BHS, BTS, FTS) inside a message is
also rejected: several messages are split with
:func:`hl7bus.hl7.batch.split_messages` first.
"""

from __future__ import annotations

import re

from hl7bus.errors import ErrorCode, MessageError, internal_error
from hl7bus.hl7.charset import DecodedText, codec_for, decode_message
from hl7bus.hl7.encoding import Encoding, read_encoding
from hl7bus.hl7.message import Message, Segment
from hl7bus.hl7.segment_names import (
    BATCH_SEGMENTS,
    KNOWN_NAMES,
    is_segment_name,
    looks_like_segment,
)

# What may surround a message: whitespace, MLLP block characters, DOS end-of-file, NUL.
_PADDING = " \t\r\n\x0b\x0c\x1a\x1c\x00\ufeff"
# Segments that cannot appear inside one message.
_NOT_INSIDE = BATCH_SEGMENTS | {"MSH"}


def parse_message(data: bytes | str, *, default_charset: str | None = None) -> Message:
    """The message in ``data`` (one message: MSH first).

    ``default_charset`` is tried when MSH-18 is absent or wrong and the bytes
    are not UTF-8 (see :mod:`hl7bus.hl7.charset`).  Raises
    :class:`MessageError` for anything that cannot be read, and nothing else.
    """
    if not isinstance(data, str | bytes | bytearray | memoryview):
        raise TypeError(f"parse_message takes bytes or str, not {type(data).__name__}")
    try:
        return _parse(data, default_charset)
    except MessageError:
        raise
    except Exception as exc:  # a parser bug must still reach the dead-letter topic
        raise internal_error(exc) from exc


def _parse(data: bytes | bytearray | memoryview | str, default_charset: str | None) -> Message:
    decoded: DecodedText | None = None
    if isinstance(data, str):
        text = data
    else:
        raw = bytes(data)
        if not raw.strip(b" \t\r\n\x0b\x0c\x1c\x00"):
            raise MessageError(ErrorCode.NOT_HL7, "The message is empty.")
        text, decoded = decode_message(raw, default_charset)

    text = text.strip(_PADDING)
    if not text:
        raise MessageError(ErrorCode.NOT_HL7, "The message is empty.")
    if not text.startswith("MSH"):
        _reject_start(text)
    if len(text) < 4 or text[3] in "\r\n":
        raise MessageError(
            ErrorCode.BAD_ENCODING_CHARACTERS,
            "MSH-1 is missing: the MSH segment ends right after its name.",
            segment="MSH",
            field=1,
            segment_index=0,
        )
    separator = text[3]
    msh2_end = len(text)
    for stop in (separator, "\r", "\n"):
        found = text.find(stop, 4)
        if 0 <= found < msh2_end:
            msh2_end = found
    encoding = read_encoding(separator, text[4:msh2_end])

    _reject_joined_segments(text, encoding)
    has_cr = "\r" in text
    if "\n" not in text:
        lines = text.split("\r")
    elif has_cr:
        lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    else:
        lines = text.split("\n")
    raws, warnings = _segment_texts(lines, separator)

    if decoded is None:
        # Text arrived already decoded; \X..\ escapes are read in the declared charset.
        declared = Segment(raws[0], encoding).field(18).strip() or None
        first = declared.split(encoding.repetition)[0] if declared else None
        charset = codec_for(first) or "utf-8"
        decoded = DecodedText(declared=declared, used="str")
    else:
        charset = decoded.used
    segments = tuple([Segment(raw, encoding, charset) for raw in raws])
    message = Message(encoding, segments, decoded, tuple(warnings))
    _check_header(message)
    return message


def _reject_start(text: str) -> None:
    head = text[:3]
    if head in ("FHS", "BHS"):
        raise MessageError(
            ErrorCode.NOT_HL7,
            f"The data starts with a batch header ({head}), not MSH; split it into messages first.",
            segment=head,
            segment_index=0,
        )
    shown = text[:20]
    raise MessageError(
        ErrorCode.NOT_HL7,
        f"The data does not start with an MSH segment; it starts with {shown!r}.",
        segment=head if is_segment_name(head) else None,
        segment_index=0,
    )


def _segment_texts(lines: list[str], separator: str) -> tuple[list[str], list[str]]:
    """The text of each segment, continuation lines joined, and the warnings."""
    raws: list[str] = []
    continued: dict[int, list[int]] = {}  # segment index -> line numbers joined to it
    pieces: dict[int, list[str]] = {}
    known = KNOWN_NAMES
    for number, line in enumerate(lines, start=1):
        name = line[:3]
        if (line[3:4] == separator or len(line) == 3) and (name in known or is_segment_name(name)):
            if name in _NOT_INSIDE and raws:
                raise MessageError(
                    ErrorCode.SEGMENT_SEQUENCE,
                    f"Line {number} starts a {name} segment inside the message: "
                    "the data holds more than one message or a batch; split it first.",
                    segment=name,
                    segment_index=len(raws),
                )
            raws.append(line)
            continue
        if not line or line.isspace():
            continue
        index = len(raws) - 1
        _reject_bad_line(line, number, separator, index + 1)
        pieces.setdefault(index, [raws[index]]).append(line)
        continued.setdefault(index, []).append(number)
    warnings: list[str] = []
    for index, numbers in continued.items():
        raws[index] = "\n".join(pieces[index])
        shown = ", ".join(str(n) for n in numbers[:5]) + (", ..." if len(numbers) > 5 else "")
        warnings.append(
            f"Line{'s' if len(numbers) > 1 else ''} {shown} did not start with a segment "
            f"name and {'were' if len(numbers) > 1 else 'was'} read as the continuation of "
            f"the {raws[index][:3]} segment before, after a line break."
        )
    return raws, warnings


def _reject_bad_line(line: str, number: int, separator: str, index: int) -> None:
    first = line[0]
    if first < " " and first != "\t":
        raise MessageError(
            ErrorCode.SEGMENT_SEQUENCE,
            f"Line {number} starts with the control character U+{ord(first):04X}, "
            "not a segment name.",
            segment_index=index,
        )
    word_end = line.find(separator)
    if word_end > 0:
        word = line[:word_end]
        if word.isascii() and word.isalnum() and word[0].isalpha():
            raise MessageError(
                ErrorCode.SEGMENT_SEQUENCE,
                f"Line {number} starts with {word!r}, which is not a segment name "
                "(three capital letters or digits, starting with a letter).",
                segment=word[:20],
                segment_index=index,
            )


_JOIN_PATTERNS: dict[str, re.Pattern[str]] = {}


# Segments whose first field is a set id: "OBX|12|" after a value is a joined segment.
_SET_ID_SEGMENTS = frozenset(
    {
        "OBX",
        "NTE",
        "OBR",
        "SPM",
        "PID",
        "PV1",
        "DG1",
        "AL1",
        "NK1",
        "IN1",
        "RXA",
        "RXR",
        "TQ1",
        "TXA",
        "AIS",
        "AIG",
        "AIL",
        "AIP",
        "PRT",
        "SAC",
        "FT1",
        "PR1",
        "ROL",
    }
)


def _set_id_follows(text: str, at: int, field: str) -> bool:
    end = text.find(field, at)
    value = text[at:end] if end >= 0 else ""
    return 0 < len(value) <= 4 and value.isdigit()


def _join_pattern(field: str) -> re.Pattern[str]:
    pattern = _JOIN_PATTERNS.get(field)
    if pattern is None:
        pattern = re.compile(" [A-Z][A-Z0-9]{2}" + re.escape(field))
        if len(_JOIN_PATTERNS) < 64:
            _JOIN_PATTERNS[field] = pattern
    return pattern


def _reject_joined_segments(text: str, encoding: Encoding) -> None:
    """Reject a segment that holds another one after a space (``...| OBX|1|...``)."""
    for match in _join_pattern(encoding.field).finditer(text):
        name_start = match.start() + 1
        name = text[name_start : name_start + 3]
        start = match.start()
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        if start == 0:
            continue
        after_separator = text[start - 1] in (encoding.field, encoding.repetition)
        if after_separator:
            if not looks_like_segment(name):
                continue
        elif not (name in _SET_ID_SEGMENTS and _set_id_follows(text, match.end(), encoding.field)):
            # After a value, only a segment that starts with its set id (``OBX|3|``) is
            # taken for a joined one: ``... Hospital OBR|`` may be a field that ends in a word.
            continue
        breaks = text.count("\r", 0, start) + text.count("\n", 0, start)
        number = breaks - text.count("\r\n", 0, start) + 1
        line_start = max(text.rfind("\r", 0, start), text.rfind("\n", 0, start)) + 1
        head = text[line_start : line_start + 3]
        raise MessageError(
            ErrorCode.SEGMENT_SEQUENCE,
            f"Line {number} holds {text[start - 1 : match.end()]!r}: two segments seem "
            "joined by spaces instead of a segment terminator.",
            segment=head if is_segment_name(head) else None,
        )


def _required(n: int, value: str, what: str, control_id: str | None) -> None:
    if not value:
        raise MessageError(
            ErrorCode.REQUIRED_FIELD_MISSING,
            f"MSH-{n} ({what}) is empty.",
            segment="MSH",
            field=n,
            segment_index=0,
            control_id=control_id,
        )


def _check_header(message: Message) -> None:
    control_id = message.control_id or None
    _required(9, message.message_type, "message type", control_id)
    _required(10, message.control_id, "message control id", None)
    _required(12, message.version_raw, "version id", control_id)

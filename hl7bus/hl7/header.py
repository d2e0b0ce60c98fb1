"""The one reader of an HL7 v2 message header (MSH, and EVN-1 where MSH-9 lacks the event).

Everything that names a message reads its header here: the parsed :class:`Message`, the
raw and dead-letter records and their keys, the events' ``source``, the ACK.  So they
cannot disagree: MSH-4 ``^2.16.840.1.113883.19^ISO`` is the facility
``2.16.840.1.113883.19`` for all of them.

:func:`read_header` reads raw bytes leniently and never raises: a connector must key,
store and acknowledge any message, also one whose MSH is damaged, as far as it can be
read.  :func:`header_of` reads an MSH segment that the parser has already split.

How the fields are read:

- HD fields (MSH-3 to MSH-6): the namespace id, else the universal id.
- Values are unescaped in the message's encoding characters and character set.
- MSH-9: type and trigger; a v2.1-style ``ADT_A01`` without components is read as
  ``ADT`` / ``A01``; with no trigger in MSH-9, EVN-1 gives it.
- MSH-12: the version id (``2.5.0`` -> ``2.5``, ``2.3.z`` -> ``2.3``; ``2.5.1`` kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hl7bus.errors import MessageError
from hl7bus.hl7.charset import decode_message, wide_codec
from hl7bus.hl7.encoding import Encoding, read_encoding
from hl7bus.hl7.segment import Segment

DEFAULT_ENCODING = "^~\\&"
PREFIX_KEPT = 4096
"""Bytes kept of a message too large to store whole: enough to read its header."""

_SEGMENT_END = re.compile(rb"[\r\n]")
_OLD_STYLE_TYPE = re.compile(r"([A-Z][A-Z0-9]{2})_([A-Z0-9]{2,3})")
_VERSION = re.compile(r"[vV]?(\d{1,4})\.(\d{1,4})(?!\d)(?:\.(\d{1,4})(?!\d))?")
# Versions whose third number is part of the version, not a patch level.
_THREE_PART_VERSIONS = frozenset({"2.3.1", "2.5.1", "2.7.1", "2.8.1", "2.8.2", "2.9.1"})


def normalise_version(raw: str) -> str:
    """MSH-12.1 as a version id: ``2.5.0`` -> ``2.5``, ``2.3.z`` -> ``2.3``, ``2.5.1`` kept."""
    match = _VERSION.match(raw.strip())
    if match is None:
        return raw.strip()
    major, minor, patch = match.groups()
    short = f"{int(major)}.{int(minor)}"
    if patch is not None and f"{short}.{int(patch)}" in _THREE_PART_VERSIONS:
        return f"{short}.{int(patch)}"
    return short


@dataclass(frozen=True, slots=True)
class Header:
    """What a message's header says, read once.  Empty strings for what is absent."""

    field_separator: str = "|"
    encoding_characters: str = DEFAULT_ENCODING
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_datetime: str = ""
    message_type: str = ""
    trigger_event: str = ""
    message_structure: str = ""
    control_id: str = ""
    processing_id: str = ""
    version_raw: str = ""
    version: str = ""
    accept_ack_type: str = ""
    application_ack_type: str = ""
    charset: str = ""
    as_written: tuple[str, ...] = ()
    """The MSH fields exactly as received (bytes read as Latin-1, nothing unescaped),
    ``as_written[n - 1]`` being MSH-n: what an ACK echoes back byte for byte."""

    @property
    def enhanced(self) -> bool:
        """Enhanced acknowledgement mode with accept (commit) ACKs: MSH-15 is AL, ER or SU.
        With MSH-15 NE the sender wants no commit ACK, so it gets the application ACK."""
        return self.accept_ack_type in ("AL", "ER", "SU")

    @property
    def key(self) -> bytes:
        """Key of the raw and dead-letter records: sending facility and control id."""
        return f"{self.sending_facility}|{self.control_id}".encode()

    def written(self, n: int) -> str:
        """MSH-n as received ('' when absent)."""
        return self.as_written[n - 1] if 0 < n <= len(self.as_written) else ""


def header_of(msh: Segment, evn: Segment | None = None, as_written: tuple[str, ...] = ()) -> Header:
    """The header of a message whose MSH segment (and EVN, if any) have been split."""

    def hd(n: int) -> str:
        return msh.get(n, 1).strip() or msh.get(n, 2).strip()

    message_type = msh.get(9, 1).strip()
    trigger = msh.get(9, 2).strip()
    if not trigger:
        old_style = _OLD_STYLE_TYPE.fullmatch(message_type)
        if old_style is not None:
            message_type, trigger = old_style[1], old_style[2]
        elif evn is not None:
            trigger = evn.get(1).strip()
    version_raw = msh.get(12).strip()
    encoding = msh.encoding
    return Header(
        field_separator=encoding.field,
        encoding_characters=msh.field(2),
        sending_application=hd(3),
        sending_facility=hd(4),
        receiving_application=hd(5),
        receiving_facility=hd(6),
        message_datetime=msh.get(7),
        message_type=message_type,
        trigger_event=trigger,
        message_structure=msh.get(9, 3).strip(),
        control_id=msh.get(10).strip(),
        processing_id=msh.get(11).strip(),
        version_raw=version_raw,
        version=normalise_version(version_raw),
        accept_ack_type=msh.get(15).strip(),
        application_ack_type=msh.get(16).strip(),
        charset=msh.get(18).strip(),
        as_written=as_written,
    )


def _lenient_encoding(separator: str, msh2: str) -> tuple[Encoding, bool]:
    """The encoding MSH-2 declares, and True; for a damaged MSH-2, what can still split
    the fields, and False."""
    try:
        return read_encoding(separator, msh2), True
    except MessageError:
        pass
    chars = [c for c in dict.fromkeys(msh2) if c != separator and not c.isalnum()]
    if len(chars) < 2:
        return Encoding(field=separator, escape=None, subcomponent=None), False
    lenient = Encoding(
        field=separator,
        component=chars[0],
        repetition=chars[1],
        escape=chars[2] if len(chars) > 2 else None,
        subcomponent=chars[3] if len(chars) > 3 else None,
    )
    return lenient, False


def _header_lines(data: bytes) -> bytes | None:
    """The bytes of the MSH segment, followed by the EVN segment when there is one."""
    start = data.find(b"MSH")
    if start < 0 or len(data) < start + 8:
        return None
    match = _SEGMENT_END.search(data, start)
    msh_end = match.start() if match else len(data)
    lines = data[start:msh_end]
    for marker in (b"\rEVN", b"\nEVN"):
        evn = data.find(marker, msh_end)
        if evn >= 0:
            match = _SEGMENT_END.search(data, evn + 1)
            lines += b"\r" + data[evn + 1 : match.start() if match else len(data)]
            break
    return lines


def read_header(raw: bytes) -> Header:
    """The header of the message in ``raw``, as far as it can be read.  Never raises."""
    try:
        return _read_header(raw)
    except Exception:  # a header that cannot be read at all is an empty header
        return Header()


def _read_header(raw: bytes) -> Header:
    if wide_codec(raw) is not None:  # UTF-16/32: decode first, then read as usual
        text, _ = decode_message(raw)
        raw = text.encode("utf-8", errors="replace")
    data = raw.lstrip(b"\xef\xbb\xbf \t\r\n\x0b")
    lines = _header_lines(data)
    if lines is None:
        return Header()
    text, decoded = decode_message(lines)
    msh_text, _, evn_text = text.partition("\r")
    separator = msh_text[3]
    if separator.isalnum() or separator.isspace():
        return Header()
    fields = msh_text.split(separator)
    msh2 = fields[1] if len(fields) > 1 else ""
    encoding, valid = _lenient_encoding(separator, msh2)
    written_line = _SEGMENT_END.split(lines, 1)[0].decode("latin-1")
    as_written = (separator, *written_line.split(separator)[1:])
    msh = Segment(msh_text, encoding, decoded.used)
    evn = Segment(evn_text, encoding, decoded.used) if evn_text.startswith("EVN") else None
    header = header_of(msh, evn, as_written)
    if not valid:  # damaged: what an ACK can use instead
        return replace(header, encoding_characters=DEFAULT_ENCODING)
    return header


def control_id_bounds(raw: bytes) -> tuple[int, int] | None:
    """Where MSH-10 (the control id) sits in ``raw``, as ``(start, stop)`` offsets, so that
    ``raw[:start] + other + raw[stop:]`` is the same message with another id; None when the
    header has no MSH-10."""
    start = raw.find(b"MSH")
    if start < 0 or len(raw) < start + 4:
        return None
    separator = raw[start + 3 : start + 4]
    match = _SEGMENT_END.search(raw, start)
    line_end = match.start() if match else len(raw)
    at = start + 3  # MSH-1 is the separator itself: MSH-10 follows the ninth
    for _ in range(9):
        at = raw.find(separator, at, line_end)
        if at < 0:
            return None
        at += 1
    stop = raw.find(separator, at, line_end)
    return at, line_end if stop < 0 else stop

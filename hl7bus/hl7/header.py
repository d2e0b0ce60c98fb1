"""The header fields of a raw HL7 v2 message, read leniently and without full parsing:
what a connector needs to key, store and acknowledge any message — also one whose MSH
is damaged, as far as it can be read.  Never raises."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_ENCODING = "^~\\&"
PREFIX_KEPT = 4096
"""Bytes kept of a message too large to store whole: enough to read its header."""
_SEGMENT_END = re.compile(rb"[\r\n]")


@dataclass(frozen=True, slots=True)
class Envelope:
    field_separator: str = "|"
    encoding_characters: str = DEFAULT_ENCODING
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_type: str = ""
    trigger_event: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = ""
    accept_ack_type: str = ""
    application_ack_type: str = ""
    charset: str = ""

    @property
    def enhanced(self) -> bool:
        """Enhanced acknowledgement mode with accept (commit) ACKs: MSH-15 is AL, ER or SU.
        With MSH-15 NE the sender wants no commit ACK, so it gets the application ACK."""
        return self.accept_ack_type in ("AL", "ER", "SU")

    @property
    def key(self) -> bytes:
        """Key of the raw and dead-letter records: sending facility and control id."""
        return f"{self.sending_facility}|{self.control_id}".encode()


def read_envelope(raw: bytes) -> Envelope:
    data = raw.lstrip(b"\xef\xbb\xbf \t\r\n\x0b")
    start = data.find(b"MSH")
    if start < 0 or len(data) < start + 8:
        return Envelope()
    line = _SEGMENT_END.split(data[start:], 1)[0].decode("latin-1")
    separator = line[3]
    if separator.isalnum() or separator.isspace():
        return Envelope()
    fields = line.split(separator)
    encoding = fields[1] if len(fields) > 1 else ""
    if len(encoding) < 3 or len(set(encoding)) != len(encoding) or separator in encoding:
        encoding = DEFAULT_ENCODING
    component = encoding[0]

    def part(n: int, index: int = 0) -> str:
        # MSH-n is fields[n - 1]: MSH-1 is the separator itself.
        value = fields[n - 1] if len(fields) >= n else ""
        parts = value.split(component)
        return parts[index].strip() if index < len(parts) else ""

    return Envelope(
        field_separator=separator,
        encoding_characters=encoding[:4],
        sending_application=part(3),
        sending_facility=part(4),
        receiving_application=part(5),
        receiving_facility=part(6),
        message_type=part(9),
        trigger_event=part(9, 1),
        control_id=part(10),
        processing_id=part(11) or "P",
        version=part(12),
        accept_ack_type=part(15),
        application_ack_type=part(16),
        charset=part(18),
    )


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

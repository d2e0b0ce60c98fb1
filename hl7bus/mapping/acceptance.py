"""Which parsed messages hl7bus accepts, before it looks for a mapper.  Pure.

HL7 v2 chapter 2 has the receiver check three fields of the header first, and reject a
message whose values it cannot accept: MSH-9 (the message type), MSH-11 (the processing id)
and MSH-12 (the version).  A message that parses (:func:`hl7bus.hl7.parse_message`: MSH
first, legal encoding characters, MSH-9, MSH-10 and MSH-12 present) and passes these checks
is well-formed: the bus stores it and answers AA, with events when hl7bus has a mapper for
its type, and without when it has none (an ACK, a query, a master file update, a vendor's
Z-type): a mapper added later can replay it.
"""

from __future__ import annotations

import re

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7 import Message

# Table 0076: three characters, upper case (Z-types too).  Table 0003: likewise.
_MESSAGE_TYPE = re.compile(r"[A-Z][A-Z0-9]{2}")
_TRIGGER_EVENT = re.compile(r"[A-Z0-9]{3}")
# MSH-12 as :func:`hl7bus.hl7.header.normalise_version` reads it: 2.1 to 2.9, and their
# three-part versions (2.3.1, 2.5.1, 2.8.2, ...).
_VERSION = re.compile(r"2\.[1-9](\.\d)?")
PROCESSING_IDS = frozenset({"P", "T", "D"})
"""HL7 table 0103: production, training, debugging."""


def check_header(message: Message) -> None:
    """Raise :class:`MessageError` when hl7bus cannot accept ``message``'s MSH-9, MSH-11 or
    MSH-12 (table 0357: 200/201, 202, 203); return when it can."""
    control_id = message.control_id or None
    kind = f"{message.message_type}^{message.trigger_event}".rstrip("^")
    if not _MESSAGE_TYPE.fullmatch(message.message_type):
        raise MessageError(
            ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
            f"MSH-9 {kind!r} is not a message type: a message type is three capital letters "
            "or digits (ADT, ORU, ZZZ), its components separated by the component separator "
            "of MSH-2.",
            segment="MSH",
            field=9,
            control_id=control_id,
        )
    if message.trigger_event and not _TRIGGER_EVENT.fullmatch(message.trigger_event):
        raise MessageError(
            ErrorCode.UNSUPPORTED_EVENT,
            f"MSH-9 {kind!r} has no valid trigger event: one is three capital letters or "
            "digits (A01, R01, Z01).",
            segment="MSH",
            field=9,
            control_id=control_id,
        )
    processing_id = message.processing_id
    if processing_id and processing_id not in PROCESSING_IDS:
        raise MessageError(
            ErrorCode.UNSUPPORTED_PROCESSING_ID,
            f"MSH-11 (processing id) is {processing_id!r}; hl7bus accepts P (production), "
            "T (training) and D (debugging).",
            segment="MSH",
            field=11,
            control_id=control_id,
        )
    if not _VERSION.fullmatch(message.version):
        raise MessageError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"MSH-12 (version id) is {message.version_raw!r}; hl7bus reads HL7 v2.1 to v2.9.",
            segment="MSH",
            field=12,
            control_id=control_id,
        )

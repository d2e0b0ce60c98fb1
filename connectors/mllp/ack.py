"""HL7 v2 acknowledgements (ACK) with MSA and ERR, built from what was received —
also from a message whose MSH is damaged, as far as the standard allows."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from hl7bus.envelope import Envelope
from hl7bus.errors import ErrorCode, MessageError


class AckCode(str, Enum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"
    COMMIT_ACCEPT = "CA"
    COMMIT_ERROR = "CE"
    COMMIT_REJECT = "CR"


# Errors in the message itself (the sender must not resend it as is) are rejects;
# the rest are errors, which a sender may resend.
_REJECTS = frozenset({
    ErrorCode.NOT_HL7, ErrorCode.BAD_ENCODING_CHARACTERS, ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
    ErrorCode.UNSUPPORTED_EVENT, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.MESSAGE_TOO_LARGE,
    ErrorCode.FRAMING, ErrorCode.CHARSET, ErrorCode.SEGMENT_SEQUENCE,
})


def ack_code(header: Envelope, error: MessageError | None) -> AckCode:
    """AA/CA when stored and translated; AR/CR for a message that is itself wrong; AE/CE else."""
    if error is None:
        return AckCode.COMMIT_ACCEPT if header.enhanced else AckCode.ACCEPT
    if error.code in _REJECTS:
        return AckCode.COMMIT_REJECT if header.enhanced else AckCode.REJECT
    return AckCode.COMMIT_ERROR if header.enhanced else AckCode.ERROR


def _clean(text: str, header: Envelope) -> str:
    """Text safe inside one field: separators escaped, no segment breaks."""
    esc = header.encoding_characters[2] if len(header.encoding_characters) > 2 else "\\"
    out = text.replace(esc, f"{esc}E{esc}")
    for char, code in ((header.field_separator, "F"),
                       (header.encoding_characters[0], "S"),
                       (header.encoding_characters[1], "R")):
        out = out.replace(char, f"{esc}{code}{esc}")
    if len(header.encoding_characters) > 3:
        out = out.replace(header.encoding_characters[3], f"{esc}T{esc}")
    return out.replace("\r", " ").replace("\n", " ")


def build_ack(
    header: Envelope,
    code: AckCode,
    *,
    now: datetime,
    ack_control_id: str,
    error: MessageError | None = None,
) -> bytes:
    """An ACK for ``header``'s message: MSH, MSA (echoing its control id), and ERR on error."""
    f = header.field_separator
    comp = header.encoding_characters[0]
    sub = header.encoding_characters[3] if len(header.encoding_characters) > 3 else "&"
    trigger = header.trigger_event
    msh = f.join([
        "MSH", header.encoding_characters,
        header.receiving_application or "HL7BUS", header.receiving_facility,
        header.sending_application, header.sending_facility,
        now.strftime("%Y%m%d%H%M%S%z"), "",
        f"ACK{comp}{trigger}{comp}ACK" if trigger else "ACK",
        ack_control_id, header.processing_id, header.version or "2.5.1",
    ])
    text = _clean(error.message, header) if error is not None else ""
    msa = f.join(["MSA", code.value, header.control_id] + ([text] if text else []))
    segments = [msh, msa]
    if error is not None:
        condition = f"{error.code.hl7_condition}{comp}{_clean(error.code.text, header)}{comp}HL70357"
        location = ""
        if error.segment:
            location = f"{error.segment}{comp}1{comp}{error.field or ''}"
        # ERR-1 (v2.1-2.4 style) and ERR-2..8 (v2.5+) together, so every version can read it.
        eld = f"{location}{comp}" + condition.replace(comp, sub) if location else ""
        severity = "E"
        segments.append(f.join(["ERR", eld, location, condition, severity, "", "", "", text]))
    return ("\r".join(segments) + "\r").encode("utf-8")

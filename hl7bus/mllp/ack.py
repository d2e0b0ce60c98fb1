"""HL7 v2 acknowledgements (ACK) with MSA and ERR, built from what was received —
also from a message whose MSH is damaged, as far as the standard allows."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7.encoding import Encoding, read_encoding
from hl7bus.hl7.escape import escape
from hl7bus.hl7.header import DEFAULT_ENCODING, Header


class AckCode(str, Enum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"
    COMMIT_ACCEPT = "CA"
    COMMIT_ERROR = "CE"
    COMMIT_REJECT = "CR"


# Errors in the message itself, and internal errors of hl7bus (a resend would fail the
# same way; the message is on the dead-letter topic), are rejects: the sender must not
# resend it as is.  The rest are errors.
_REJECTS = frozenset(
    {
        ErrorCode.NOT_HL7,
        ErrorCode.BAD_ENCODING_CHARACTERS,
        ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        ErrorCode.UNSUPPORTED_EVENT,
        ErrorCode.UNSUPPORTED_VERSION,
        ErrorCode.MESSAGE_TOO_LARGE,
        ErrorCode.FRAMING,
        ErrorCode.CHARSET,
        ErrorCode.SEGMENT_SEQUENCE,
        ErrorCode.INTERNAL,
    }
)


def ack_code(header: Header, error: MessageError | None) -> AckCode:
    """AA/CA when stored and translated; AR/CR for a message that is itself wrong; AE/CE else."""
    if error is None:
        return AckCode.COMMIT_ACCEPT if header.enhanced else AckCode.ACCEPT
    if error.code in _REJECTS:
        return AckCode.COMMIT_REJECT if header.enhanced else AckCode.REJECT
    return AckCode.COMMIT_ERROR if header.enhanced else AckCode.ERROR


def _clean(text: str, header: Header) -> str:
    """Text safe inside one field: separators escaped, no segment breaks."""
    chars = header.encoding_characters
    encoding = Encoding(
        field=header.field_separator,
        component=chars[0],
        repetition=chars[1],
        escape=chars[2] if len(chars) > 2 else "\\",
        subcomponent=chars[3] if len(chars) > 3 else None,
    )
    return escape(text.replace("\r", " ").replace("\n", " "), encoding)


def _text(text: str, header: Header) -> str:
    """Our own sentence for MSA-3/ERR-8: escaped, and ASCII (the ACK declares no MSH-18)."""
    return _clean(text, header).encode("ascii", "replace").decode("ascii")


# MSH fields an ACK echoes: the receiver and sender swapped, the control id, processing
# id and version.
_ECHOED = (3, 4, 5, 6, 10, 11, 12)


def _echo(header: Header) -> tuple[str, str, dict[int, str]]:
    """The delimiters for the ACK and the MSH fields it echoes, as received.

    The header's own delimiters when they can be written back in an ACK that parses and
    declare an escape character; else ``|^~\\&``, with the echoed fields escaped for those.
    The header is read leniently (it never fails), so it may carry a field separator or
    encoding characters that no parser accepts: a control character, a digit, a space, a
    double quote.
    Echoing them would make the ACK itself unreadable.
    """
    fields = {n: header.written(n) for n in _ECHOED}
    try:
        encoding = read_encoding(header.field_separator, header.encoding_characters)
        if encoding.escape is not None:  # our own text in MSA-3/ERR-8 needs escapes
            return header.field_separator, header.encoding_characters, fields
    except MessageError:
        pass
    fallback = Header(field_separator="|", encoding_characters=DEFAULT_ENCODING)
    return "|", DEFAULT_ENCODING, {n: _clean(v, fallback) for n, v in fields.items()}


def build_ack(
    header: Header,
    code: AckCode,
    *,
    now: datetime,
    ack_control_id: str,
    error: MessageError | None = None,
) -> bytes:
    """An ACK for ``header``'s message: MSH, MSA (echoing its control id), and ERR on error.

    The header's fields are echoed byte for byte: :attr:`Header.as_written` holds them
    read as Latin-1, and the ACK is written back in Latin-1.
    """
    f, encoding_characters, echoed = _echo(header)
    received, header = header, Header(field_separator=f, encoding_characters=encoding_characters)
    trigger = _clean(received.trigger_event, header)
    comp = encoding_characters[0]
    # ERR-1's code is a CE inside a component: its parts need a subcomponent separator,
    # which a message declaring only three encoding characters does not have.
    sub = encoding_characters[3] if len(encoding_characters) > 3 else None
    msh = f.join(
        [
            "MSH",
            encoding_characters,
            echoed[5] or "HL7BUS",
            echoed[6],
            echoed[3],
            echoed[4],
            now.strftime("%Y%m%d%H%M%S%z"),
            "",
            f"ACK{comp}{trigger}{comp}ACK" if trigger else "ACK",
            ack_control_id,
            echoed[11] or "P",
            echoed[12] or "2.5.1",
        ]
    )
    text = _text(error.message, header) if error is not None else ""
    msa = f.join(["MSA", code.value, echoed[10]] + ([text] if text else []))
    segments = [msh, msa]
    if error is not None:
        condition = f"{error.code.hl7_condition}{comp}{_text(error.code.text, header)}{comp}HL70357"
        location = ""
        if error.segment:
            location = f"{error.segment}{comp}1{comp}{error.field or ''}"
        # ERR-1 (v2.1-2.4 style) and ERR-2..8 (v2.5+) together, so every version can read it.
        eld = ""
        if location:
            code_in_eld = condition.replace(comp, sub) if sub else str(error.code.hl7_condition)
            eld = f"{location}{comp}{code_in_eld}"
        severity = "E"
        segments.append(f.join(["ERR", eld, location, condition, severity, "", "", "", text]))
    return ("\r".join(segments) + "\r").encode("latin-1")

"""HL7 v2 acknowledgements (ACK) with MSA and ERR, built from what was received —
also from a message whose MSH is damaged, as far as the standard allows — and the ACK
policy: which code (table 0008) and severity (table 0516) each outcome gets, so that a
sender can tell a message to resend from one no resend can fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from types import MappingProxyType

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


class Outcome(StrEnum):
    """What became of a message, as its ACK tells the sender; each is a row of the README's
    ACK policy, and (but ``stored``) a key of a sender profile's ``[ack]`` overrides."""

    STORED = "stored"
    STORE_FAILED = "store_failed"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNSUPPORTED_PROCESSING_ID = "unsupported_processing_id"
    UNREADABLE_HEADER = "unreadable_header"
    CONTENT_ERROR = "content_error"
    TOO_LARGE = "too_large"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class Answer:
    """The ACK of one outcome: MSA-1 in original and in enhanced mode, ERR-4's severity
    (HL7 table 0516), and whether the sender should send the message again as it is."""

    original: AckCode
    enhanced: AckCode
    severity: str | None
    resend: bool = False


# HL7 v2 chapter 2.  Original mode: AE, the message's content is in error (the sender must
# correct it before sending it again); AR, the message is rejected for its MSH-9, MSH-11 or
# MSH-12, or for a reason unrelated to its content (the receiver's own failure).  Enhanced
# mode, the accept ACK: CA, committed to safe storage; CR, MSH-9, MSH-11 or MSH-12 is not
# acceptable; CE, it cannot be accepted for any other reason.  hl7bus sends one ACK per
# message (no separate application ACK), so in enhanced mode its CE also carries what an
# application ACK's AE would.  ERR-3 (table 0357) and ERR-4 tell resendable from final: only
# a message Kafka did not store is "206" and "F" (fatal: not processed, for an application
# or network failure; F from v2.6, E before); every other error is final ("E").
POLICY: Mapping[Outcome, Answer] = MappingProxyType(
    {
        Outcome.STORED: Answer(AckCode.ACCEPT, AckCode.COMMIT_ACCEPT, None),
        Outcome.STORE_FAILED: Answer(AckCode.REJECT, AckCode.COMMIT_ERROR, "F", resend=True),
        Outcome.UNSUPPORTED_VERSION: Answer(AckCode.REJECT, AckCode.COMMIT_REJECT, "E"),
        Outcome.UNSUPPORTED_PROCESSING_ID: Answer(AckCode.REJECT, AckCode.COMMIT_REJECT, "E"),
        Outcome.UNREADABLE_HEADER: Answer(AckCode.REJECT, AckCode.COMMIT_REJECT, "E"),
        Outcome.CONTENT_ERROR: Answer(AckCode.ERROR, AckCode.COMMIT_ERROR, "E"),
        Outcome.TOO_LARGE: Answer(AckCode.REJECT, AckCode.COMMIT_ERROR, "E"),
        Outcome.INTERNAL_ERROR: Answer(AckCode.REJECT, AckCode.COMMIT_ERROR, "E"),
    }
)

OUTCOMES: Mapping[ErrorCode, Outcome] = MappingProxyType(
    {
        ErrorCode.STORE_FAILED: Outcome.STORE_FAILED,
        ErrorCode.UNSUPPORTED_VERSION: Outcome.UNSUPPORTED_VERSION,
        ErrorCode.UNSUPPORTED_PROCESSING_ID: Outcome.UNSUPPORTED_PROCESSING_ID,
        ErrorCode.NOT_HL7: Outcome.UNREADABLE_HEADER,
        ErrorCode.BAD_ENCODING_CHARACTERS: Outcome.UNREADABLE_HEADER,
        ErrorCode.FRAMING: Outcome.UNREADABLE_HEADER,
        ErrorCode.UNSUPPORTED_MESSAGE_TYPE: Outcome.UNREADABLE_HEADER,
        ErrorCode.UNSUPPORTED_EVENT: Outcome.UNREADABLE_HEADER,
        ErrorCode.SEGMENT_SEQUENCE: Outcome.CONTENT_ERROR,
        ErrorCode.REQUIRED_FIELD_MISSING: Outcome.CONTENT_ERROR,
        ErrorCode.DATA_TYPE: Outcome.CONTENT_ERROR,
        ErrorCode.TABLE_VALUE: Outcome.CONTENT_ERROR,
        ErrorCode.CHARSET: Outcome.CONTENT_ERROR,
        ErrorCode.MESSAGE_TOO_LARGE: Outcome.TOO_LARGE,
        ErrorCode.INTERNAL: Outcome.INTERNAL_ERROR,
    }
)

# A sender profile's override: AE or AR, which is CE or CR in enhanced mode.
_ENHANCED = {AckCode.ERROR: AckCode.COMMIT_ERROR, AckCode.REJECT: AckCode.COMMIT_REJECT}


def outcome_of(error: MessageError | None) -> Outcome:
    return Outcome.STORED if error is None else OUTCOMES[error.code]


def ack_code(
    header: Header, error: MessageError | None, overrides: Mapping[str, str] | None = None
) -> AckCode:
    """MSA-1 for a message with ``header`` and what became of it (``error``: None when it
    is stored), by :data:`POLICY`, unless the sender's profile ``overrides`` the code of
    this outcome (``{"store_failed": "AE"}``)."""
    outcome = outcome_of(error)
    wanted = (overrides or {}).get(outcome.value) if error is not None else None
    if wanted is not None:
        code = AckCode(wanted)
        return _ENHANCED[code] if header.enhanced else code
    answer = POLICY[outcome]
    return answer.enhanced if header.enhanced else answer.original


def severity_of(error: MessageError, version: str = "") -> str:
    """ERR-4 (HL7 table 0516) in a message of ``version``: F (fatal: not processed) when the
    message was not stored, so a resend can help; else E.  Table 0516 has F from v2.6 on:
    before, E."""
    severity = POLICY[outcome_of(error)].severity or "E"
    if severity == "F" and _version_number(version) < (2, 6):
        return "E"
    return severity


def _version_number(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


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
        severity = severity_of(error, received.version or "2.5.1")
        segments.append(f.join(["ERR", eld, location, condition, severity, "", "", "", text]))
    return ("\r".join(segments) + "\r").encode("latin-1")

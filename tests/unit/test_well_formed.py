"""Which messages the bus takes: every well-formed message is stored and acknowledged, with
events when hl7bus has a mapper for its type and without when it has none (an ACK, a query,
a master file update, a vendor's Z-type); what is broken is still turned away.

Well-formed means: it parses (MSH first, legal encoding characters, segments that are
segments), MSH-9, MSH-10 and MSH-12 are there, MSH-9 is a message type (and trigger),
MSH-12 is a version hl7bus reads (2.1 to 2.9) and MSH-11 a processing id of HL7 table 0103
(P, T, D; empty is read as not declared).  HL7 v2 chapter 2 has the receiver check MSH-9,
MSH-11 and MSH-12 before anything else."""

from __future__ import annotations

import pytest

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7.header import read_header
from hl7bus.ingest.records import Ingestor, Received, SchemaIds
from hl7bus.kafka.topics import Topics
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

PROFILES = ProfileSet()


def message(
    kind: str = "ADT^A01^ADT_A01",
    *segments: str,
    processing_id: str = "P",
    version: str = "2.5.1",
    separators: str = "^~\\&",
) -> bytes:
    msh = (
        f"MSH|{separators}|REGISTRAR|RIVERBEND|HL7BUS|RIVERBEND|20250903090000-0500||{kind}|"
        f"WF-1|{processing_id}|{version}"
    )
    body = segments or (
        "EVN|A01|20250903090000-0500",
        "PID|1||RB77001^^^RIVERBEND^MR||Okonkwo-Baird^Imelda||19750214|F",
        "PV1|1|I|3E^310^B^RIVERBEND",
    )
    return ("\r".join([msh, *body]) + "\r").encode()


def rejected(raw: bytes) -> MessageError:
    with pytest.raises(MessageError) as caught:
        translate(raw, PROFILES)
    return caught.value


# -- well-formed, of a type without a mapper: stored, no event, no error -------------------------

WITHOUT_A_MAPPER = {
    "ACK": message("ACK", "MSA|AA|LAB-20250903-0042"),
    "ACK^R01^ACK": message("ACK^R01^ACK", "MSA|AE|LAB-20250903-0043|PID-3 empty"),
    "QBP^Q22": message(
        "QBP^Q22^QBP_Q21",
        "QPD|Q22^Find Candidates^HL7|Q-0907|@PID.5.1^OKONKWO-BAIRD",
        "RCP|I|10^RD",
    ),
    "RSP^K22": message(
        "RSP^K22^RSP_K21",
        "MSA|AA|Q-0907",
        "QAK|Q-0907|OK",
        "QPD|Q22^Find Candidates^HL7|Q-0907|@PID.5.1^OKONKWO-BAIRD",
    ),
    "MFN^M02": message(
        "MFN^M02^MFN_M02",
        "MFI|PRA^Practitioner Master File^HL70175||UPD|||AL",
        "MFE|MAD|MF-31|20250903090000-0500|D4471^Vasquez-Lund^Corinne",
        "STF|D4471|D4471^^^RIVERBEND^PRN|Vasquez-Lund^Corinne^^^Dr",
    ),
    "ZZZ^Z01": message("ZZZ^Z01", "ZNS|1|night shift handover|3E"),
    # A type hl7bus translates, with a trigger it has no mapper for (swap patients).
    "ADT^A17": message(
        "ADT^A17^ADT_A17",
        "EVN|A17|20250903090000-0500",
        "PID|1||RB77001^^^RIVERBEND^MR||Okonkwo-Baird^Imelda",
        "PV1|1|I|3E^310^B^RIVERBEND",
        "PID|1||RB77002^^^RIVERBEND^MR||Teague^Rosalind",
        "PV1|1|I|3E^311^A^RIVERBEND",
    ),
    # v2.1 style: the trigger in EVN-1, none in MSH-9.
    "ADT (v2.1)": message("ADT", "EVN|A17|198810010900", version="2.1"),
}


@pytest.mark.parametrize("raw", WITHOUT_A_MAPPER.values(), ids=WITHOUT_A_MAPPER.keys())
def test_a_well_formed_message_without_a_mapper_gives_no_event_and_no_error(raw: bytes):
    translation = translate(raw, PROFILES)
    assert translation.events == []
    assert not translation.mapped
    assert translation.message.control_id == "WF-1"


def test_a_message_with_a_mapper_is_mapped():
    translation = translate(message(), PROFILES)
    assert translation.mapped
    assert [e.event_type.value for e in translation.events] == ["PATIENT_ADMITTED"]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (WITHOUT_A_MAPPER["ACK"], "ACK"),
        (WITHOUT_A_MAPPER["ACK^R01^ACK"], "ACK^R01"),
        (WITHOUT_A_MAPPER["QBP^Q22"], "QBP^Q22"),
        (WITHOUT_A_MAPPER["ZZZ^Z01"], "ZZZ^Z01"),
        (WITHOUT_A_MAPPER["ADT (v2.1)"], "ADT^A17"),
    ],
)
def test_the_ingestor_says_which_type_was_stored_without_events(raw: bytes, kind: str):
    ingestor = Ingestor(Topics(), PROFILES, SchemaIds(raw=1, events=2, dlq=3))
    translated = ingestor.translate(Received(raw, "2025-09-03T14:00:00.000+00:00", "mllp:test"))
    assert translated.error is None and translated.events == []
    assert translated.without_events == kind


def test_a_translated_message_is_not_without_events():
    ingestor = Ingestor(Topics(), PROFILES, SchemaIds(raw=1, events=2, dlq=3))
    translated = ingestor.translate(Received(message(), "2025-09-03T14:00:00.000+00:00", "t"))
    assert len(translated.events) == 1 and translated.without_events is None


# -- MSH-12: a version hl7bus reads --------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        *("2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8"),
        *("2.8.2", "2.9", "2.5.0", "2.3.z", "V2.4", "2.5.1^ITA^HL70399"),
    ],
)
def test_every_version_from_2_1_to_2_9_is_read(version: str):
    assert translate(message(version=version), PROFILES).events


@pytest.mark.parametrize("version", ["3.0", "2.0", "2.10", "1.9", "ABC", "25", "v3"])
@pytest.mark.parametrize("kind", ["ADT^A01^ADT_A01", "ZZZ^Z01"])
def test_a_version_hl7bus_does_not_read_is_rejected_at_msh_12(version: str, kind: str):
    error = rejected(message(kind, version=version))
    assert error.code is ErrorCode.UNSUPPORTED_VERSION
    assert (error.segment, error.field, error.control_id) == ("MSH", 12, "WF-1")
    assert error.code.hl7_condition == 203
    assert repr(version) in error.message or version in error.message


# -- MSH-11: a processing id of HL7 table 0103 ---------------------------------------------------


@pytest.mark.parametrize("processing_id", ["P", "T", "D", "P^T", "T^A", ""])
def test_production_training_and_debugging_messages_are_taken(processing_id: str):
    assert translate(message(processing_id=processing_id), PROFILES).events


@pytest.mark.parametrize("processing_id", ["N", "X", "PROD", "p", "BAR^A01"])
@pytest.mark.parametrize("kind", ["ADT^A01^ADT_A01", "QBP^Q22^QBP_Q21"])
def test_a_processing_id_outside_table_0103_is_rejected_at_msh_11(processing_id: str, kind: str):
    error = rejected(message(kind, processing_id=processing_id))
    assert error.code is ErrorCode.UNSUPPORTED_PROCESSING_ID
    assert (error.segment, error.field, error.control_id) == ("MSH", 11, "WF-1")
    assert error.code.hl7_condition == 202


# -- MSH-9: a message type, and a trigger ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (message("adt^a01"), ErrorCode.UNSUPPORTED_MESSAGE_TYPE),  # codes are upper case
        (message("ADMIT^A01"), ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
        (message("A1^A01"), ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
        # MSH-2 says '$' separates components: this MSH-9 is one component, not RSP / SLI.
        (
            message("RSP^SLI^RSP_K11", "MSA!AA!Q-1".replace("!", "|"), separators="$~\\&"),
            ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        ),
        (message("ADT^A 1"), ErrorCode.UNSUPPORTED_EVENT),
        (message("ZZZ^Z0001"), ErrorCode.UNSUPPORTED_EVENT),
    ],
    ids=["lower-case", "long-type", "short-type", "other-separator", "space", "long-trigger"],
)
def test_an_msh_9_that_is_not_a_message_type_is_rejected(raw: bytes, code: ErrorCode):
    error = rejected(raw)
    assert error.code is code
    assert (error.segment, error.field, error.control_id) == ("MSH", 9, "WF-1")


# -- what is broken stays broken -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "where"),
    [
        (b"this is not HL7 at all\r", ErrorCode.NOT_HL7, (None, None)),
        (
            message("ZZZ^Z01").replace(b"|WF-1|", b"||"),
            ErrorCode.REQUIRED_FIELD_MISSING,
            ("MSH", 10),
        ),
        (
            message("ACK", "MSA|AA|X").replace(b"|2.5.1\r", b"|\r"),
            ErrorCode.REQUIRED_FIELD_MISSING,
            ("MSH", 12),
        ),
        (message("ZZZ^Z01", "WHOOPS|1|2"), ErrorCode.SEGMENT_SEQUENCE, ("WHOOPS", None)),
        (message(separators="&&&&"), ErrorCode.BAD_ENCODING_CHARACTERS, ("MSH", 2)),
        (
            message("ADT^A01", "EVN|A01", "PID|1||||Nobody"),
            ErrorCode.REQUIRED_FIELD_MISSING,
            ("PID", 3),
        ),
    ],
    ids=["not-hl7", "no-control-id", "no-version", "bad-segment", "bad-msh-2", "no-pid-3"],
)
def test_what_is_broken_is_still_rejected(raw: bytes, code: ErrorCode, where):
    error = rejected(raw)
    assert error.code is code
    if where[0] is not None:
        assert error.segment == where[0]
    if where[1] is not None:
        assert error.field == where[1]


def test_the_header_reader_and_the_check_agree_on_the_type():
    """The raw record (lenient header) and the metric name the same type as the check."""
    raw = WITHOUT_A_MAPPER["QBP^Q22"]
    header = read_header(raw)
    assert (header.message_type, header.trigger_event) == ("QBP", "Q22")

"""What the public corpus's messages must give, read in place from ``../shared/corpus``: the
broken ones (rejected, with the code), and the well-formed ones of a type hl7bus has no
mapper for (stored without events).  Every other message of the corpus (outside
``malformed/``) must translate into events.  Shared by the corpus suite's translation test
(``tests/unit/test_translate_corpus.py``) and its MLLP test, which sends every well-formed
corpus message and wants AA/CA for each.

The lists are explicit: a message that starts being rejected, or being accepted, or gives
events where it gave none, fails the suite, so the change is noticed and the lists updated.
"""

from __future__ import annotations

from hl7bus.errors import ErrorCode

TYPE = ErrorCode.UNSUPPORTED_MESSAGE_TYPE.text  # "unsupported message type"
PROCESSING = ErrorCode.UNSUPPORTED_PROCESSING_ID.text  # "unsupported processing id"
SEQUENCE = ErrorCode.SEGMENT_SEQUENCE.text  # "segment sequence error"
MISSING = ErrorCode.REQUIRED_FIELD_MISSING.text  # "required field missing"
NOT_HL7 = ErrorCode.NOT_HL7.text  # "not an HL7 message"
BAD_ENC = ErrorCode.BAD_ENCODING_CHARACTERS.text  # "bad encoding characters"

# (file, message index as split_messages returns them) -> (expected code, why).
BROKEN: dict[tuple[str, int], tuple[str, str]] = {
    # --- broken input -----------------------------------------------------------------
    ("cdcdex__Genv1-Case-TestMessage1__1.hl7", 0): (
        NOT_HL7,
        "three 'junk' lines before the MSH come out as a chunk of their own",
    ),
    ("cdcdex__phlip-flu-batch__1.batch.hl7", 1): (
        MISSING,
        "validator test batch: the 2nd message has an empty MSH-12",
    ),
    ("cdciis__testencoding__1.hl7", 0): (SEQUENCE, "validator test: an OBX is spelt 'WHOOPS'"),
    ("cdciis__testencoding__2.hl7", 0): (SEQUENCE, "validator test: a PID is spelt 'ID'"),
    ("cdcti__001_CA_OML_O21__1.hl7", 0): (
        SEQUENCE,
        "'...TESTFIRSTNAME OBX|1|NM|...': segments joined by a space after a value",
    ),
    ("cdcti__002_TX_ORU_R01__1.hl7", 0): (
        SEQUENCE,
        "'...|RE^Remark^HL70364 NTE|2|L^...': an NTE joined by a space",
    ),
    ("cdcti__003_LA_ORU_R01_NBS_obr_flatten_0_initial_message__1.hl7", 0): (
        SEQUENCE,
        "'...Office of Public OBX|3|CWE|...': an OBX joined by a space",
    ),
    ("hapi__messages__1.hl7", 0): (SEQUENCE, "'...| OBX|...': an OBX joined to its OBR by a space"),
    ("nhapi__OML_O21_messages__7.hl7", 0): (
        MISSING,
        "parser test message: MSH-10 (and MSH-7) empty",
    ),
    ("cdcti__msh-12_has_value_2_3__1.hl7", 0): (
        SEQUENCE,
        "an ORM^O01 holding only its MSH: no PID, the order belongs to nobody",
    ),
    ("mirth__test-hl7-repetitions-input__1.hl7", 0): (
        SEQUENCE,
        "Mirth parser test: MSH and one OBX, no PID",
    ),
    ("mirth__test-hl7-subcomponents-input__1.hl7", 0): (
        SEQUENCE,
        "Mirth parser test: MSH and one OBX, no PID",
    ),
    ("mirth__test-hl7-whitespace-input__1.hl7", 0): (
        SEQUENCE,
        "Mirth parser test: ORM^O01 with a PID but no ORC/OBR: no order",
    ),
    ("nodehl7complete__bad-phone-example__1.hl7", 0): (
        SEQUENCE,
        "a phone-parsing test: SIU^S12 with MSH and PID only, no SCH",
    ),
    ("msfhirconv__ADT-A41-01__1.hl7", 0): (
        MISSING,
        "A41 merge with MRG-1 (required) empty; only MRG-3 is given",
    ),
    # --- a header hl7bus cannot accept (HL7 v2 chapter 2: MSH-9, MSH-11, MSH-12) ---------
    ("hl7apy__msh_custom__1.hl7", 0): (
        TYPE,
        "MSH-2 makes '$' the component separator; MSH-9 'RSP^SLI^RSP_K11' is then one "
        "component, no message type",
    ),
    ("nodehl7complete__bar-example__1.hl7", 0): (
        PROCESSING,
        "its MSH fields are shifted: MSH-7 empty, MSH-11 'BAR^A01'",
    ),
    ("cdcti__008_ORU_R01_micro_character_encoding__1.hl7", 0): (
        PROCESSING,
        "MSH-11 'N' is not a processing id of table 0103 (P, T, D)",
    ),
    ("cdcti__011_ORM_R01_nte_segment_mapping__1.hl7", 0): (
        PROCESSING,
        "MSH-11 'N' is not a processing id of table 0103 (P, T, D)",
    ),
}

# (file, message index) -> its type as MSH-9 names it: well-formed, no mapper for the type,
# so stored and acknowledged without events.  The first group carries no patient event; the
# others do, and leave this list as their mappers come.
WITHOUT_EVENTS: dict[tuple[str, int], str] = {
    # --- acknowledgments, queries and their answers, master files, vendor types ---------
    ("cdcti__001_Natus_ACK__1.hl7", 0): "ACK",
    ("hapi__messages__3.hl7", 0): "ACK",
    ("hapi__messages__17.hl7", 0): "QRY^Q01",
    ("hl7apy__test_to_string_L51__1.hl7", 0): "RSP^SLI",
    ("hl7apy__rsp_k21_27__1.hl7", 0): "RSP^K22",
    ("hl7apy__rsp_k21__1.hl7", 0): "RSP^K22",
    ("nodehl7client__batch__1.batch.hl7", 1): "RSP^K11",
    ("nodehl7complete__mfn-example__1.hl7", 0): "MFN^M02",
    ("hapi__cv.04_001_chem__1.hl7", 0): "ERP^Z99",
}

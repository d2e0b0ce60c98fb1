"""Every message of the shared corpus through ``translate``: events that survive Avro,
or a clean rejection (:class:`MessageError`) with the expected code, never a crash.

The corpus (``../shared/corpus``, or ``$HL7BUS_CORPUS``) is read in place.  The
expectations below are explicit: a message that starts being rejected, or one that
starts being accepted, fails the test, so the change is noticed and this list updated.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.records import decode, encode, to_record
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

REPO = Path(__file__).resolve().parents[2]
from paths import CORPUS  # noqa: E402

pytestmark = pytest.mark.corpus  # the acceptance suite: make test-corpus

GOOD = sorted(p.name for p in CORPUS.glob("*.hl7"))
MALFORMED = sorted(p.name for p in (CORPUS / "malformed").glob("*.hl7"))
PROFILES = ProfileSet()


TYPE = ErrorCode.UNSUPPORTED_MESSAGE_TYPE.text  # "unsupported message type"
EVENT = ErrorCode.UNSUPPORTED_EVENT.text  # "unsupported event code"
SEQUENCE = ErrorCode.SEGMENT_SEQUENCE.text  # "segment sequence error"
MISSING = ErrorCode.REQUIRED_FIELD_MISSING.text  # "required field missing"
NOT_HL7 = ErrorCode.NOT_HL7.text  # "not an HL7 message"
BAD_ENC = ErrorCode.BAD_ENCODING_CHARACTERS.text  # "bad encoding characters"

# (file, message index as split_messages returns them) -> (expected code, why).
# Every other message of the (non-malformed) corpus must translate.
REJECTED: dict[tuple[str, int], tuple[str, str]] = {
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
    # --- message types hl7bus does not translate (HL7 condition 200) ------------------
    ("cdcti__001_Natus_ACK__1.hl7", 0): (TYPE, "ACK"),
    ("hapi__messages__3.hl7", 0): (TYPE, "ACK"),
    ("hapi__cv.04_001_chem__1.hl7", 0): (TYPE, "ERP^Z99"),
    ("hapi__example_oml_o21__3.hl7", 0): (TYPE, "OUL^R22"),
    ("msfhirconv__OUL-R22-01__1.hl7", 0): (TYPE, "OUL^R22"),
    ("msfhirconv__OUL-R23-01__1.hl7", 0): (TYPE, "OUL^R23"),
    ("msfhirconv__OUL-R24-01__1.hl7", 0): (TYPE, "OUL^R24"),
    ("hapi__messages__17.hl7", 0): (TYPE, "QRY^Q01"),
    ("hapi__messages__2.hl7", 0): (TYPE, "BAR^P01"),
    ("hapi__messages__4.hl7", 0): (TYPE, "BAR^P01"),
    ("hapi__messages__8.hl7", 0): (TYPE, "BAR^P01"),
    ("msfhirconv__BAR-P01-01__1.hl7", 0): (TYPE, "BAR^P01"),
    ("msfhirconv__BAR-P02-01__1.hl7", 0): (TYPE, "BAR^P02"),
    ("msfhirconv__BAR-P12-01__1.hl7", 0): (TYPE, "BAR^P12"),
    ("nodehl7complete__bar-example__1.hl7", 0): (TYPE, "BAR^P01"),
    ("msfhirconv__DFT-P03-01__1.hl7", 0): (TYPE, "DFT^P03"),
    ("msfhirconv__DFT-P03-02__1.hl7", 0): (TYPE, "DFT^P03"),
    ("msfhirconv__DFT-P11-01__1.hl7", 0): (TYPE, "DFT^P11"),
    ("nodehl7complete__dft-example__1.hl7", 0): (TYPE, "DFT^P03"),
    ("nodehl7complete__dft-example__2.hl7", 0): (TYPE, "DFT^P03"),
    ("hapi__omd_o03__1.hl7", 0): (TYPE, "OMD^O03 (diet order)"),
    ("hapi__omd_o03_rep__1.hl7", 0): (TYPE, "OMD^O03 (diet order)"),
    ("msfhirconv__OMG-O19-01__1.hl7", 0): (TYPE, "OMG^O19"),
    ("msfhirconv__PC1-Problem-Add-v2.3.1__1.hl7", 0): (TYPE, "PPR^PC1"),
    ("msfhirconv__PC1-Problem-Delete-v2.3.1__1.hl7", 0): (TYPE, "PPR^PC3"),
    ("msfhirconv__PC1-Problem-Update-v2.3.1__1.hl7", 0): (TYPE, "PPR^PC2"),
    ("msfhirconv__RDS-O13-01__1.hl7", 0): (TYPE, "RDS^O13 (dispense)"),
    ("msfhirconv__REF-I12-01__1.hl7", 0): (TYPE, "REF^I12"),
    ("msfhirconv__REF-I14-02__1.hl7", 0): (TYPE, "REF^I14"),
    ("hl7apy__msh_custom__1.hl7", 0): (TYPE, "RSP^SLI"),
    ("hl7apy__test_to_string_L51__1.hl7", 0): (TYPE, "RSP^SLI"),
    ("hl7apy__rsp_k21_27__1.hl7", 0): (TYPE, "RSP^K22"),
    ("hl7apy__rsp_k21__1.hl7", 0): (TYPE, "RSP^K22"),
    ("nodehl7client__batch__1.batch.hl7", 1): (TYPE, "RSP^K11 (2nd message of the batch)"),
    ("nodehl7complete__mfn-example__1.hl7", 0): (TYPE, "MFN^M02"),
    # --- supported types with a trigger hl7bus does not translate (condition 201) -----
    ("msfhirconv__ADT-A09-01__1.hl7", 0): (EVENT, "ADT^A09 patient departing (tracking)"),
    ("msfhirconv__ADT-A10-01__1.hl7", 0): (EVENT, "ADT^A10 patient arriving (tracking)"),
    ("msfhirconv__ADT-A14-01__1.hl7", 0): (EVENT, "ADT^A14 pending admit"),
    ("msfhirconv__ADT-A15-01__1.hl7", 0): (EVENT, "ADT^A15 pending transfer"),
    ("msfhirconv__ADT-A16-01__1.hl7", 0): (EVENT, "ADT^A16 pending discharge"),
    ("msfhirconv__ADT-A25-01__1.hl7", 0): (EVENT, "ADT^A25 cancel pending discharge"),
    ("msfhirconv__ADT-A26-01__1.hl7", 0): (EVENT, "ADT^A26 cancel pending transfer"),
    ("msfhirconv__ADT-A27-01__1.hl7", 0): (EVENT, "ADT^A27 cancel pending admit"),
    ("msfhirconv__ADT-A29-01__1.hl7", 0): (EVENT, "ADT^A29 delete person information"),
    ("msfhirconv__ADT-A45-01__1.hl7", 0): (EVENT, "ADT^A45 move visit information"),
    ("msfhirconv__ADT-A60-01__1.hl7", 0): (EVENT, "ADT^A60 update allergy information"),
    ("msfhirconv__SIU_12__1.hl7", 0): (EVENT, "despite its name, an ADT^A60"),
    ("msfhirconv__SIU-S17-01__1.hl7", 0): (EVENT, "SIU^S17 appointment deletion"),
    ("msfhirconv__SIU-S26-01__1.hl7", 0): (EVENT, "SIU^S26 patient did not show up"),
    ("msfhirconv__RDE-O25-01__1.hl7", 0): (EVENT, "RDE^O25 refill authorisation"),
    ("hl7apy__msg_o33__1.hl7", 0): (EVENT, "OML^O33 (specimen-oriented lab order)"),
}

# What each malformed file gives: one expected code per chunk split_messages returns
# (an empty list: no chunk at all, and translating the raw bytes is rejected).
MALFORMED_EXPECTED: dict[str, list[str]] = {
    "cdcdex__Hepatitis_V1_0_1_TM_TC02_HEP_B_ACUTE_MOD__1.hl7": [MISSING],  # MSH-9
    "cdcdex__Lyme_WithBadDelimiters__1.hl7": [BAD_ENC],  # MSH-2 '&&&&'
    "cdcdex__PHLIP_FLU_2.5.1_NO_MSH10__1.hl7": [MISSING],
    "cdcdex__PHLIP_FLU_2.5.1_NO_MSH12__1.hl7": [MISSING],
    "cdcdex__PHLIP_FLU_2.5.1_NO_MSH9__1.hl7": [MISSING],
    "cdcdex__sample__1.hl7": [NOT_HL7],  # a lone PID
    "cdcti__empty__1.hl7": [],
    "cdcti__msh_present_but_missing_all_fields__1.hl7": [BAD_ENC],
    "cdcti__msh_present_but_missing_msh-10__1.hl7": [MISSING],
    "cdcti__msh_present_but_missing_msh-2__1.hl7": [BAD_ENC],
    "cdcti__msh_present_but_missing_msh-9__1.hl7": [MISSING],
    "hl7apy__test_parser_L184__1.hl7": [BAD_ENC],
    "hl7apy__test_parser_L187__1.hl7": [MISSING],
    "hl7apy__test_parser_L192__1.hl7": [MISSING],
    "hl7apy__test_parser_L200__1.hl7": [BAD_ENC],
    "hl7apy__test_parser_L203__1.hl7": [BAD_ENC],
    "hl7apy__test_parser_L215__1.hl7": [BAD_ENC],
    "hl7apy__test_parser_L218__1.hl7": [BAD_ENC],
    "hl7apy__test_parser_L235__1.hl7": [MISSING],
    "hl7apy__test_parser_L238__1.hl7": [MISSING],
    "lfh__sample_unix__1.hl7": [BAD_ENC],  # MSH-2 '^~\\&': backslash twice
    "lfh__sample_win__1.hl7": [BAD_ENC],
    "nhapi__aoor1__1.hl7": [],
    "nhapi__hang1__1.hl7": [BAD_ENC],
    "nhapi__id_000014_sig_02_src_000480_000349_op_splice_rep_32__1.hl7": [NOT_HL7],
    "nhapi__id_000087_sig_02_src_000967_001832_op_splice_rep_2__1.hl7": [BAD_ENC],
    "nhapi__id_000092_sig_02_src_001582_001861_op_splice_rep_16__1.hl7": [BAD_ENC],
    "nhapi__id_000109_sig_02_src_001098_002192_op_splice_rep_4__1.hl7": [SEQUENCE],
    "nhapi__id_000123_sig_02_src_000372_002313_op_splice_rep_8__1.hl7": [BAD_ENC],
    "nhapi__id_000151_sig_02_src_001351_op_havoc_rep_2__1.hl7": [BAD_ENC],
    "nhapi__nullref1__1.hl7": [BAD_ENC],  # 'H' as field separator
    "nhapi__regex1__1.hl7": [BAD_ENC],
    "nhapi__so5__1.hl7": [BAD_ENC],
    "nhapi__stackoverflow1__1.hl7": [BAD_ENC],
    "nhapi__sys1__1.hl7": [BAD_ENC],
    # Readable HL7 structurally, but segments joined by spaces ('| EVN|'): rejected.
    "nodehl7complete__adt-example__1.hl7": [SEQUENCE],
    "nodehl7complete__mdm-example__1.hl7": [SEQUENCE],
    # python-hl7 "bad batch" tests: a second BHS cuts the message between its EVN and its
    # PID (the ADT^A04 has no PID; the rest starts without an MSH), or no MSH at all.
    "pyhl7__sample_bad_batch1__1.hl7": [SEQUENCE, NOT_HL7],
    "pyhl7__sample_bad_batch__1.hl7": [NOT_HL7],
    "pyhl7__sample_bad_file2__1.hl7": [SEQUENCE, NOT_HL7],
    "pyhl7__sample_bad_file3__1.hl7": [NOT_HL7],
}


def _outcome(chunk: bytes) -> tuple[str, object]:
    """("ok", events) or ("rejected", MessageError); anything else propagates."""
    try:
        translation = translate(chunk, PROFILES)
    except MessageError as exc:
        assert exc.code is not ErrorCode.INTERNAL, f"a mapper crashed: {exc!r}"
        return "rejected", exc
    return "ok", translation.events


def _check_events(events: list, where: str) -> None:
    assert events, f"{where}: translated into no event at all"
    for event in events:
        assert decode(encode(event)) == event, f"{where}: event {event.event_index} changes in Avro"
        record = to_record(event)
        assert record["patient"]["key"], f"{where}: empty patient key"
        assert record["source"]["message_control_id"], where


@pytest.mark.parametrize("name", GOOD)
def test_corpus_file_translates_or_is_rejected_as_expected(name: str) -> None:
    chunks = split_messages((CORPUS / name).read_bytes())
    assert chunks, f"{name}: no message found"
    for index, chunk in enumerate(chunks):
        where = f"{name} message {index}"
        kind, result = _outcome(chunk)
        want = REJECTED.get((name, index))
        if want is None:
            assert kind == "ok", f"{where}: newly rejected: {result!r}"
            _check_events(result, where)
        else:
            assert kind == "rejected", (
                f"{where}: expected to be rejected ({want[0]}: {want[1]}), but it translated"
            )
            assert result.code.text == want[0], f"{where}: {result!r}, expected {want[0]}"
            assert result.message, where


def test_expectations_name_real_messages() -> None:
    counts = {name: len(split_messages((CORPUS / name).read_bytes())) for name in GOOD}
    for name, index in REJECTED:
        assert name in counts, f"{name} is not in the corpus any more"
        assert index < counts[name], f"{name} has no message {index}"
    assert sorted(MALFORMED_EXPECTED) == MALFORMED, "malformed/ and its expectations differ"


def test_most_of_the_corpus_translates() -> None:
    total = sum(len(split_messages((CORPUS / name).read_bytes())) for name in GOOD)
    assert total - len(REJECTED) >= 250


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_file_is_rejected_cleanly(name: str) -> None:
    data = (CORPUS / "malformed" / name).read_bytes()
    chunks = split_messages(data)
    got = []
    for chunk in chunks or [data]:
        kind, result = _outcome(chunk)
        assert kind == "rejected", f"{name}: a malformed file translated"
        assert result.message, name
        got.append(result.code.text)
    assert got == (MALFORMED_EXPECTED[name] or [NOT_HL7]), f"{name}: {got}"

"""Every message of the shared corpus: parsed, or rejected with the expected reason.

The corpus (``../shared/corpus`` next to the repository, or ``$HL7BUS_CORPUS``)
holds real public sample messages; ``MANIFEST.tsv`` says where each comes
from and ``QUIRKS.tsv`` what is unusual about it.  Tests read it in place.
"""

from __future__ import annotations

import csv
import re

import pytest

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7 import Message, parse_message, split_messages

from paths import CORPUS

pytestmark = pytest.mark.corpus  # the acceptance suite: make test-corpus

GOOD = sorted(p.name for p in CORPUS.glob("*.hl7"))
MALFORMED = sorted(p.name for p in (CORPUS / "malformed").glob("*.hl7"))


OK = "ok"
NOT_HL7 = ErrorCode.NOT_HL7
BAD_ENC = ErrorCode.BAD_ENCODING_CHARACTERS
SEQUENCE = ErrorCode.SEGMENT_SEQUENCE
MISSING = ErrorCode.REQUIRED_FIELD_MISSING

# Messages of the (non-malformed) corpus that hl7bus rejects, by chunk index, and why.
GOOD_REJECTED: dict[str, dict[int, ErrorCode]] = {
    # Three lines "junk" precede the MSH; split_messages returns them as a chunk of
    # their own (so they reach the dead-letter topic), then the message itself.
    "cdcdex__Genv1-Case-TestMessage1__1.hl7": {0: NOT_HL7},
    # The second message of this validator test batch has an empty MSH-12.
    "cdcdex__phlip-flu-batch__1.batch.hl7": {1: MISSING},
    # Validator test files: an OBX is spelt "WHOOPS", a PID is spelt "ID".
    "cdciis__testencoding__1.hl7": {0: SEQUENCE},
    "cdciis__testencoding__2.hl7": {0: SEQUENCE},
    # "...|01^LOCHLEAR, JUDY| OBX||TX|..." : an OBX joined to its OBR by a space; reading
    # it as one OBR would silently lose the observation.
    "hapi__messages__1.hl7": {0: SEQUENCE},
    # Segments joined to the value before them by a space ("...FIRSTNAME OBX|1|NM|...",
    # "...HL70364 NTE|2|L^..."): read as one, a segment would be silently lost.
    "cdcti__001_CA_OML_O21__1.hl7": {0: SEQUENCE},
    "cdcti__002_TX_ORU_R01__1.hl7": {0: SEQUENCE},
    "cdcti__003_LA_ORU_R01_NBS_obr_flatten_0_initial_message__1.hl7": {0: SEQUENCE},
    # MSH-10 (and MSH-7) are empty in this nHapi parser test message.
    "nhapi__OML_O21_messages__7.hl7": {0: MISSING},
}

# Chunk counts that differ from QUIRKS.tsv's "messages=N" (1 when absent).
EXTRA_CHUNKS = {"cdcdex__Genv1-Case-TestMessage1__1.hl7": 2}

# What each malformed file gives: one outcome per chunk split_messages returns.
MALFORMED_EXPECTED: dict[str, list[object]] = {
    "cdcdex__Hepatitis_V1_0_1_TM_TC02_HEP_B_ACUTE_MOD__1.hl7": [(MISSING, "MSH", 9)],
    "cdcdex__Lyme_WithBadDelimiters__1.hl7": [(BAD_ENC, "MSH", 2)],  # MSH-2 '&&&&'
    "cdcdex__PHLIP_FLU_2.5.1_NO_MSH10__1.hl7": [(MISSING, "MSH", 10)],
    "cdcdex__PHLIP_FLU_2.5.1_NO_MSH12__1.hl7": [(MISSING, "MSH", 12)],
    "cdcdex__PHLIP_FLU_2.5.1_NO_MSH9__1.hl7": [(MISSING, "MSH", 9)],
    "cdcdex__sample__1.hl7": [(NOT_HL7, "PID", None)],  # a lone PID
    "cdcti__empty__1.hl7": [],
    "cdcti__msh_present_but_missing_all_fields__1.hl7": [(BAD_ENC, "MSH", 2)],
    "cdcti__msh_present_but_missing_msh-10__1.hl7": [(MISSING, "MSH", 10)],
    "cdcti__msh_present_but_missing_msh-2__1.hl7": [(BAD_ENC, "MSH", 2)],
    "cdcti__msh_present_but_missing_msh-9__1.hl7": [(MISSING, "MSH", 9)],
    "hl7apy__test_parser_L184__1.hl7": [(BAD_ENC, "MSH", 2)],  # empty MSH-2
    "hl7apy__test_parser_L187__1.hl7": [(MISSING, "MSH", 9)],  # MSH-2 '^~\' is fine
    "hl7apy__test_parser_L192__1.hl7": [(MISSING, "MSH", 9)],  # MSH-2 '@%\' is fine
    "hl7apy__test_parser_L200__1.hl7": [(BAD_ENC, "MSH", 2)],  # 7 characters
    "hl7apy__test_parser_L203__1.hl7": [(BAD_ENC, "MSH", 2)],  # 6 characters
    "hl7apy__test_parser_L215__1.hl7": [(BAD_ENC, "MSH", 2)],  # '^&&^'
    "hl7apy__test_parser_L218__1.hl7": [(BAD_ENC, "MSH", 2)],  # '^&&^##'
    "hl7apy__test_parser_L235__1.hl7": [(MISSING, "MSH", 10)],
    "hl7apy__test_parser_L238__1.hl7": [(MISSING, "MSH", 10)],
    "lfh__sample_unix__1.hl7": [(BAD_ENC, "MSH", 2)],  # '^~\\&': backslash twice
    "lfh__sample_win__1.hl7": [(BAD_ENC, "MSH", 2)],
    "nhapi__aoor1__1.hl7": [],
    "nhapi__hang1__1.hl7": [(BAD_ENC, "MSH", 2)],  # MSH-2 '^' only
    "nhapi__id_000014_sig_02_src_000480_000349_op_splice_rep_32__1.hl7": [NOT_HL7],
    "nhapi__id_000087_sig_02_src_000967_001832_op_splice_rep_2__1.hl7": [(BAD_ENC, "MSH", 2)],
    "nhapi__id_000092_sig_02_src_001582_001861_op_splice_rep_16__1.hl7": [(BAD_ENC, "MSH", 2)],
    # Valid MSH, then lines starting with control characters (nHapi accepts it).
    "nhapi__id_000109_sig_02_src_001098_002192_op_splice_rep_4__1.hl7": [SEQUENCE],
    "nhapi__id_000123_sig_02_src_000372_002313_op_splice_rep_8__1.hl7": [(BAD_ENC, "MSH", 2)],
    "nhapi__id_000151_sig_02_src_001351_op_havoc_rep_2__1.hl7": [(BAD_ENC, "MSH", 2)],
    "nhapi__nullref1__1.hl7": [(BAD_ENC, "MSH", 1)],  # "MSHH0": 'H' as field separator
    "nhapi__regex1__1.hl7": [(BAD_ENC, "MSH", 2)],
    "nhapi__so5__1.hl7": [(BAD_ENC, "MSH", 2)],
    "nhapi__stackoverflow1__1.hl7": [(BAD_ENC, "MSH", 2)],
    "nhapi__sys1__1.hl7": [(BAD_ENC, "MSH", 2)],
    # All segments on one line, joined by spaces ("...||| EVN|A01|...").
    "nodehl7complete__adt-example__1.hl7": [(SEQUENCE, "MSH", None)],
    # Line-wrapped MSH-10, and segments joined by spaces.
    "nodehl7complete__mdm-example__1.hl7": [SEQUENCE],
    # Readable in part: BHS, MSH+EVN (a sound message), then a second BHS with no MSH
    # before PID; the orphaned segments come back as a chunk that parse rejects.
    "pyhl7__sample_bad_batch1__1.hl7": [OK, (NOT_HL7, "PID", None)],
    "pyhl7__sample_bad_batch__1.hl7": [(NOT_HL7, "EVN", None)],  # batch without MSH
    "pyhl7__sample_bad_file2__1.hl7": [OK, (NOT_HL7, "PID", None)],  # as bad_batch1, FHS
    "pyhl7__sample_bad_file3__1.hl7": [(NOT_HL7, "EVN", None)],
}


def _table(name: str) -> dict[str, dict[str, str]]:
    with (CORPUS / name).open(newline="", encoding="utf-8") as handle:
        return {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}


def _outcome(chunk: bytes) -> Message | MessageError:
    try:
        return parse_message(chunk)
    except MessageError as error:
        assert error.code is not ErrorCode.INTERNAL, error.message
        assert error.message
        return error


def _values(column: str) -> set[str]:
    return {"" if value == "(empty)" else value for value in column.split(";")}


@pytest.mark.parametrize("name", GOOD)
def test_good_corpus_file(name: str) -> None:
    chunks = split_messages((CORPUS / name).read_bytes())
    quirks = _table("QUIRKS.tsv").get(name, {}).get("auto_detected_quirks", "")
    counted = re.search(r"messages=(\d+)", quirks)
    expected_count = EXTRA_CHUNKS.get(name, int(counted[1]) if counted else 1)
    assert len(chunks) == expected_count

    manifest = _table("MANIFEST.tsv")[name]
    rejected = GOOD_REJECTED.get(name, {})
    for index, chunk in enumerate(chunks):
        outcome = _outcome(chunk)
        if index in rejected:
            assert isinstance(outcome, MessageError), f"chunk {index} was expected rejected"
            assert outcome.code is rejected[index]
            continue
        assert isinstance(outcome, Message), f"chunk {index}: {outcome!r}"
        msh = outcome.segments[0]
        assert msh.name == "MSH"
        assert msh.field(9) in _values(manifest["message_type"])
        assert outcome.version_raw in _values(manifest["version"])
        assert outcome.message_type and outcome.control_id and outcome.version
        assert all(len(segment.name) == 3 for segment in outcome.segments)


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_corpus_file(name: str) -> None:
    assert name in MALFORMED_EXPECTED, "add this file to MALFORMED_EXPECTED"
    chunks = split_messages((CORPUS / "malformed" / name).read_bytes())
    expected = MALFORMED_EXPECTED[name]
    assert len(chunks) == len(expected)
    for chunk, want in zip(chunks, expected, strict=True):
        outcome = _outcome(chunk)
        if want == OK:
            assert isinstance(outcome, Message)
            continue
        assert isinstance(outcome, MessageError), f"expected {want}, got {outcome!r}"
        code, segment, field = want if isinstance(want, tuple) else (want, ..., ...)
        assert outcome.code is code, outcome.message
        if segment is not ...:
            assert (outcome.segment, outcome.field) == (segment, field)


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_whole_file_is_rejected(name: str) -> None:
    """The raw file handed straight to parse_message is rejected, never crashed on."""
    data = (CORPUS / "malformed" / name).read_bytes()
    with pytest.raises(MessageError) as caught:
        parse_message(data)
    assert caught.value.code is not ErrorCode.INTERNAL


def test_expectations_name_real_files() -> None:
    assert set(MALFORMED_EXPECTED) == set(MALFORMED)
    assert set(GOOD_REJECTED) <= set(GOOD)
    assert set(EXTRA_CHUNKS) <= set(GOOD)


def test_corpus_quirks_seen() -> None:
    """A few corpus files checked value by value."""

    def parse(name: str) -> Message:
        return parse_message((CORPUS / name).read_bytes())

    truncation = parse("cdcdex__Mumps-VPD__1.hl7")
    assert truncation.encoding.truncation == "#"
    z = parse("cdcdex__ND_23z_Valid_1__1.hl7")
    assert (z.version, z.version_raw) == ("2.3", "2.3.z")
    assert z.segment("ZLR") is not None
    bom = parse("cdcdex__Genv2_2-0-1_TC08__1.hl7")
    assert bom.segments[0].raw.startswith("MSH|")
    assert bom.text.used == "utf-8"
    hapi = parse("hapi__messages__4.hl7")  # MSH-2 '^~}': '}' escapes, no subcomponents
    assert (hapi.encoding.escape, hapi.encoding.subcomponent) == ("}", None)
    caret = parse("hapi__segmentfinder_a24__1.hl7")
    assert (caret.encoding.field, caret.message_type, caret.trigger_event) == ("^", "ADT", "A24")
    hex_crlf = parse("cdcrs__hci__1.hl7")
    assert any("\r\n" in s.get(5) for s in hex_crlf.all("OBX") + hex_crlf.all("NTE")) or any(
        "\r\n" in s.get(3) for s in hex_crlf.all("NTE")
    )
    latin = parse("cdcrs__elims_29_5065302_35227_NoPII_CANCELED__1.hl7")
    assert latin.text.declared == "8859/1"
    assert latin.text.used == "utf-8"
    assert latin.text.note is not None
    highlight = parse("hl7apy__test_to_string_L51__1.hl7")
    assert highlight.segments[0].get(8) == "HIGHLIGHTEDTEXTIMPORTANT"

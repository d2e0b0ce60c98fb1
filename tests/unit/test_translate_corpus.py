"""Every message of the shared corpus through ``translate``: events that survive Avro, no
event for a well-formed message of a type without a mapper, or a clean rejection
(:class:`MessageError`) with the expected code for a broken one; never a crash.

The corpus (``../shared/corpus``, or ``$HL7BUS_CORPUS``) is read in place.  The
expectations (``tests/corpus_expected.py``, and the malformed files' below) are explicit: a
message that starts being rejected, or one that starts being accepted, or one that gives
events where it gave none, fails the test, so the change is noticed and the lists updated.
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
from corpus_expected import BAD_ENC, BROKEN, MISSING, NOT_HL7, SEQUENCE, WITHOUT_EVENTS  # noqa: E402

from paths import CORPUS  # noqa: E402

pytestmark = pytest.mark.corpus  # the acceptance suite: make test-corpus

GOOD = sorted(p.name for p in CORPUS.glob("*.hl7"))
MALFORMED = sorted(p.name for p in (CORPUS / "malformed").glob("*.hl7"))
PROFILES = ProfileSet()


# The broken corpus messages (rejected with their code) and the well-formed ones of a type
# without a mapper (stored without events) are listed in tests/corpus_expected.py; every
# other message of the (non-malformed) corpus must translate into events.
REJECTED = BROKEN

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
    """("ok", translation) or ("rejected", MessageError); anything else propagates."""
    try:
        translation = translate(chunk, PROFILES)
    except MessageError as exc:
        assert exc.code is not ErrorCode.INTERNAL, f"a mapper crashed: {exc!r}"
        return "rejected", exc
    return "ok", translation


def _check_events(events: list, where: str) -> None:
    assert events, f"{where}: translated into no event at all"
    for event in events:
        assert decode(encode(event)) == event, f"{where}: event {event.event_index} changes in Avro"
        record = to_record(event)
        assert record["patient"]["key"], f"{where}: empty patient key"
        assert record["source"]["message_control_id"], where
        orders = len(event.payload.orders)
        for obs in event.payload.observations:  # an observation points at its event's order
            assert obs.order_index is None or 0 <= obs.order_index < orders, (
                f"{where}: event {event.event_index}'s observation {obs.code} points at order "
                f"{obs.order_index} of {orders}"
            )


@pytest.mark.parametrize("name", GOOD)
def test_corpus_file_translates_or_is_rejected_as_expected(name: str) -> None:
    chunks = split_messages((CORPUS / name).read_bytes())
    assert chunks, f"{name}: no message found"
    for index, chunk in enumerate(chunks):
        where = f"{name} message {index}"
        kind, result = _outcome(chunk)
        want = REJECTED.get((name, index))
        without = WITHOUT_EVENTS.get((name, index))
        if want is not None:
            assert kind == "rejected", (
                f"{where}: expected to be rejected ({want[0]}: {want[1]}), but it translated"
            )
            assert result.code.text == want[0], f"{where}: {result!r}, expected {want[0]}"
            assert result.message, where
            continue
        assert kind == "ok", f"{where}: newly rejected: {result!r}"
        if without is not None:
            assert not result.mapped, f"{where}: expected no mapper for {without}: it has one"
            assert (result.kind, result.events) == (without, []), where
        else:
            assert result.mapped, f"{where}: {result.kind} has no mapper any more"
            _check_events(result.events, where)


def test_expectations_name_real_messages() -> None:
    counts = {name: len(split_messages((CORPUS / name).read_bytes())) for name in GOOD}
    for name, index in [*REJECTED, *WITHOUT_EVENTS]:
        assert name in counts, f"{name} is not in the corpus any more"
        assert index < counts[name], f"{name} has no message {index}"
    assert not set(REJECTED) & set(WITHOUT_EVENTS)
    assert sorted(MALFORMED_EXPECTED) == MALFORMED, "malformed/ and its expectations differ"


def test_most_of_the_corpus_translates_and_nearly_all_is_well_formed() -> None:
    total = sum(len(split_messages((CORPUS / name).read_bytes())) for name in GOOD)
    assert total - len(REJECTED) >= 300  # well-formed: stored and acknowledged
    assert total - len(REJECTED) - len(WITHOUT_EVENTS) >= 250  # with events


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

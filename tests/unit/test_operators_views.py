"""The pure parts of the operators' core: what a record shows, which records a filter keeps,
which dead letters a selection takes and which can be replayed, the pace of a replay, the
order of records read from several partitions."""

from __future__ import annotations

from collections import deque

import pytest

from hl7bus.events.records import to_record
from hl7bus.hl7.header import PREFIX_KEPT
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate
from hl7bus.operators.dlq import DeadLetterView, not_replayable, once_each, same_code, wanted
from hl7bus.operators.lag import lag_of
from hl7bus.operators.records import kinds, matches, patient_keys
from hl7bus.operators.replay import Pace
from hl7bus.operators.scan import TimeOrder
from hl7bus.operators.topics import retention_text
from hl7bus.operators.views import RecordView, jsonable, text_of

from paths import OWN_MESSAGES

ADMIT = (OWN_MESSAGES / "adt-a01-admit.hl7").read_bytes()  # patient RBGH|RB004417
MERGE = (OWN_MESSAGES / "adt-a40-merge-two-pairs.hl7").read_bytes()


def view(value, *, record_key: str | None = "K", partition: int = 0, offset: int = 0, ts=1000):
    return RecordView("t", partition, offset, ts, record_key, value)


def event_value() -> dict:
    return to_record(translate(ADMIT, ProfileSet()).events[0])


def dead_letter(partition: int = 0, offset: int = 7, **fields) -> DeadLetterView:
    value = {
        "raw": ADMIT,
        "error_code": "required field missing",
        "hl7_condition": 101,
        "error_segment": "PID",
        "error_field": 3,
        "error_message": "PID-3 (patient identifier list) is empty.",
        "failed_at": "2026-11-28T10:00:01+00:00",
        "received_at": "2026-11-28T10:00:00+00:00",
        "connector": "mllp:test",
        "mapping_version": "1",
        "sending_application": "ADMITWISE",
        "sending_facility": "RBGH",
        "message_control_id": "ADM-20250114-0001",
        "message_type": "ADT",
        "trigger_event": "A01",
        **fields,
    }
    return DeadLetterView.of(RecordView("hl7.dlq", partition, offset, 5000 + offset, "k", value))


# -- what a record shows ------------------------------------------------------------------------


def test_bytes_show_as_text_utf8_else_latin1() -> None:
    assert text_of("Müller".encode()) == "Müller"
    assert text_of("Müller".encode("latin-1")) == "Müller"
    assert jsonable({"raw": b"MSH|", "n": [1, {"b": b"\xff"}]}) == {
        "raw": "MSH|",
        "n": [1, {"b": "ÿ"}],
    }


def test_a_record_as_json_names_where_it_is_and_when() -> None:
    shown = view({"raw": b"MSH|x"}, partition=2, offset=41, ts=1764324930123).as_dict()
    assert shown == {
        "topic": "t",
        "partition": 2,
        "offset": 41,
        "timestamp": "2025-11-28T10:15:30.123+00:00",
        "key": "K",
        "value": {"raw": "MSH|x"},
    }


# -- filters ------------------------------------------------------------------------------------


def test_an_event_belongs_to_its_patient_and_has_its_event_type() -> None:
    value = event_value()
    assert patient_keys("ClinicalEvent", view(value)) == {"RBGH|RB004417"}
    assert kinds("ClinicalEvent", value) == {"PATIENT_ADMITTED"}
    assert matches("ClinicalEvent", view(value), patient="RBGH|RB004417", kind="patient_admitted")
    assert not matches("ClinicalEvent", view(value), patient="RBGH|OTHER", kind=None)
    assert not matches("ClinicalEvent", view(value), patient=None, kind="PATIENT_DISCHARGED")


def test_a_raw_message_or_dead_letter_belongs_to_every_patient_its_pid_segments_name() -> None:
    raw = {"raw": ADMIT, "message_type": "ADT", "trigger_event": "A01"}
    keys = patient_keys("RawMessage", view(raw))
    # Every PID-3 identifier keys it: the profile chooses which one, and the keys of
    # all of them include the one the profile chose.
    assert {"RBGH|RB004417", "RBEMPI|E-55019"} <= keys
    assert kinds("DeadLetter", raw) == {"ADT", "ADT^A01"}
    assert matches("DeadLetter", view(raw), patient="RBGH|RB004417", kind="adt^a01")
    merged = patient_keys("RawMessage", view({"raw": MERGE}))
    assert len(merged) >= 2  # both pairs of an A40


def test_unreadable_bytes_belong_to_no_patient_but_the_records_key() -> None:
    assert patient_keys("RawMessage", view({"raw": b"\x00garbage"}, record_key="F|1")) == {"F|1"}


def test_an_alert_belongs_to_its_patient_and_has_its_rule() -> None:
    alert = {"patient_key": "RBGH|RB004417", "rule": "critical-value", "status": "RAISED"}
    assert matches("ClinicalAlert", view(alert), patient="RBGH|RB004417", kind="CRITICAL-VALUE")
    assert not matches("ClinicalAlert", view(alert), patient=None, kind="news2")


def test_a_record_of_no_known_type_matches_by_its_key_only() -> None:
    assert matches(None, view("text", record_key="P|1"), patient="P|1", kind=None)
    assert not matches(None, view("text", record_key="P|1"), patient=None, kind="ANY")


# -- dead letters -------------------------------------------------------------------------------


def test_a_dead_letter_is_known_by_its_id_else_by_where_it_is() -> None:
    assert dead_letter(dead_letter_id="abc").id == "abc"
    assert dead_letter(2, 15).id == "2:15"
    letter = dead_letter()
    assert letter.where == "PID-3" and letter.kind == "ADT^A01"
    assert "raw" not in letter.as_dict(raw=False)
    assert letter.as_dict()["raw"].startswith("MSH|^~\\&|ADMITWISE|RBGH")


def test_copies_of_one_dead_letter_are_shown_once_and_counted() -> None:
    letters = [
        dead_letter(0, 1, dead_letter_id="a"),
        dead_letter(1, 1),
        dead_letter(0, 2, dead_letter_id="a"),
    ]
    once = once_each(letters)
    assert [(d.id, d.copies) for d in once] == [("a", 2), ("1:1", 1)]


@pytest.mark.parametrize(
    "code", ["required field missing", "REQUIRED_FIELD_MISSING", "required-field-missing", "101"]
)
def test_a_code_is_the_error_code_in_any_spelling_or_its_hl7_condition(code: str) -> None:
    assert same_code(dead_letter(), code)
    assert not same_code(dead_letter(), "message too large")


def test_a_selection_by_time_code_and_sender() -> None:
    letter = dead_letter(offset=7)  # timestamp 5007
    assert wanted(letter, since_ms=5000, code="101", sender="admitwise")
    assert wanted(letter, since_ms=None, code=None, sender="RBGH")
    assert not wanted(letter, since_ms=5008, code=None, sender=None)
    assert not wanted(letter, since_ms=None, code=None, sender="LABSTAR")


def test_a_dead_letter_that_holds_only_the_head_of_a_message_cannot_be_replayed() -> None:
    whole = dead_letter(error_code="message too large", raw=ADMIT)
    assert not_replayable(whole) is None
    cut = dead_letter(error_code="message too large", raw=ADMIT.ljust(PREFIX_KEPT, b"X"))
    assert "first 4096 bytes" in not_replayable(cut)
    assert not_replayable(dead_letter(raw=b"")) == "it holds no message"


# -- pace, order, figures -----------------------------------------------------------------------


def test_a_pace_of_n_per_second_waits_between_messages() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pace = Pace(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pace.wait()
    assert now[0] == pytest.approx(1.0)  # the fifth message starts a second after the first
    unpaced = Pace(None, clock=lambda: now[0], sleep=sleep)
    before = len(slept)
    unpaced.wait()
    assert len(slept) == before


class FakeMessage:
    def __init__(self, partition: int, offset: int, ms: int) -> None:
        self._p, self._o, self._ms = partition, offset, ms

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ms)


def test_records_of_several_partitions_come_out_in_time_order() -> None:
    order = TimeOrder({0, 1})
    out: list[tuple[int, int]] = []

    def take() -> None:
        out.extend((m.partition(), m.offset()) for m in order.ready())

    order.add(FakeMessage(0, 0, 10))
    order.add(FakeMessage(0, 1, 30))
    take()
    assert out == []  # partition 1 may still hold something earlier
    order.add(FakeMessage(1, 0, 20))
    take()
    assert out == [(0, 0), (1, 0)]
    order.finish(1)
    take()
    assert out == [(0, 0), (1, 0), (0, 1)]
    order.finish(0)
    assert not order.active and order.pending == {0: deque(), 1: deque()}


def test_lag_and_retention_figures() -> None:
    assert lag_of(committed=5, end=12) == 7
    assert lag_of(committed=None, end=12) is None
    assert lag_of(committed=15, end=12) == 0
    assert retention_text(-1) == "forever"
    assert retention_text(7 * 86_400_000) == "7d"
    assert retention_text(36 * 3_600_000) == "1d 12h"
    assert retention_text(90_000) == "1m 30s"
    assert retention_text(None) == "?"

"""A patient's summary as the timeline store keeps it: JSON that reads back into the same
summary, written the same with or without the memo of parts, and a summary read back
that takes later entries but folds again for an earlier one."""

from __future__ import annotations

import json

import pytest
from timeline_support import event, own_events

from hl7bus.events.alerts import AlertStatus, ClinicalAlert
from hl7bus.events.model import EventType, Location
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.codec import (
    FragmentMemo,
    summary_from_json,
    summary_to_dict,
    summary_to_json,
)
from hl7bus.services.timeline.entries import alert_entry, event_entry


def _summaries() -> list[sm.PatientSummary]:
    by_key: dict[str, list] = {}
    for e in own_events():
        by_key.setdefault(e.patient.key, []).append(event_entry(e))
    alert = ClinicalAlert(
        alert_id="a1",
        rule="k-high",
        patient_key="X|1",
        title="Potassium high",
        raised_at="2026-01-01T00:00Z",
        attributes={"value": "6.8"},
        event_ids=("e1",),
    )
    acknowledged = ClinicalAlert(
        **{
            **{f: getattr(alert, f) for f in alert.__dataclass_fields__},
            "status": AlertStatus.ACKNOWLEDGED,
        }
    )
    by_key["X|1"] = [alert_entry(alert), alert_entry(acknowledged)]
    return [sm.fold(entries) for entries in by_key.values()]


SUMMARIES = _summaries()


def test_the_projects_own_events_make_summaries_with_every_part() -> None:
    filled = {
        name
        for s in SUMMARIES
        for name in (
            "stay",
            "results",
            "orders",
            "medications",
            "allergies",
            "problems",
            "immunizations",
            "appointments",
            "documents",
            "alerts",
            "movements",
        )
        if getattr(s, name)
    }
    assert len(filled) == 11, filled


@pytest.mark.parametrize("summary", SUMMARIES, ids=lambda s: ",".join(s.keys))
def test_a_summary_reads_back_equal(summary: sm.PatientSummary) -> None:
    text = summary_to_json(summary)
    assert json.loads(text) == summary_to_dict(summary)
    assert summary_from_json(text) == summary


def test_the_memo_writes_the_same_text_and_remembers_parts() -> None:
    memo = FragmentMemo()
    for summary in SUMMARIES:
        first = summary_to_json(summary, memo)
        assert json.loads(first) == json.loads(summary_to_json(summary))
        assert summary_to_json(summary, memo) == first
    later = sm.apply(
        SUMMARIES[0],
        event_entry(
            event(
                EventType.PATIENT_TRANSFERRED,
                SUMMARIES[0].keys[0],
                "2099-01-01T00:00Z",
                location=Location(point_of_care="ICU"),
            )
        ),
    )
    assert json.loads(summary_to_json(later, memo)) == summary_to_dict(later)


def test_a_summary_read_back_takes_later_entries_and_refuses_earlier_ones() -> None:
    key = "MRN|1"
    entries = [
        event_entry(
            event(
                EventType.PATIENT_ADMITTED,
                key,
                f"2026-01-0{d}T08:00Z",
                location=Location(point_of_care=f"W{d}"),
            )
        )
        for d in range(1, 5)
    ]
    stored = summary_from_json(summary_to_json(sm.fold(entries[1:3])))
    later = sm.apply(stored, entries[3])
    assert later == sm.fold(entries[1:])
    with pytest.raises(sm.EntryOutOfOrder):
        sm.apply(later, entries[0])


def test_a_summary_read_back_with_its_memo_is_written_again_from_the_text_it_came_from() -> None:
    for summary in SUMMARIES:
        text = summary_to_json(summary)
        memo = FragmentMemo()
        stored = summary_from_json(text, memo)
        assert summary_to_json(stored, memo) == text
        later = sm.apply(
            stored,
            event_entry(
                event(
                    EventType.PATIENT_TRANSFERRED,
                    stored.keys[0],
                    "2099-01-01T00:00Z",
                    location=Location(point_of_care="ICU"),
                )
            ),
        )
        assert json.loads(summary_to_json(later, memo)) == summary_to_dict(later)

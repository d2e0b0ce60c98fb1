"""What the alert rules remember of a patient: a frozen value that round-trips through its
JSON exactly, keeps its readings within the rules' horizon, and takes in a merged-away
patient's history."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hl7bus.events.alerts import AlertSeverity
from hl7bus.services.alerts.state import (
    READINGS_PER_CODE,
    PatientState,
    Raised,
    Reading,
    StateFormatError,
    Visit,
    absorb,
)

HOUR_US = 3_600_000_000
text = st.text(max_size=12)
times = st.sampled_from(
    ["2026-11-28T10:00:00-06:00", "2026-11-28T16:00Z", "2026-11", "2026-11-28", "not a time"]
)
readings = st.builds(Reading, text, st.none() | text, st.none() | text, times, text)
visits = st.builds(Visit, times, text, st.none() | text)
raised = st.builds(Raised, text, text, times, st.sampled_from(AlertSeverity))
states = st.builds(
    PatientState,
    patient_key=text,
    readings=st.lists(readings, max_size=4).map(tuple),
    last_discharge=st.none() | visits,
    last_admission=st.none() | visits,
    suppression=st.lists(raised, max_size=3).map(tuple),
    alert_ids=st.lists(text, max_size=3).map(tuple),
    recent_event_ids=st.lists(text, max_size=3).map(tuple),
    merged_keys=st.lists(text, max_size=2).map(tuple),
    scale2_mark=st.none() | readings,
)


@given(states)
def test_a_state_round_trips_through_its_json_exactly(state: PatientState) -> None:
    data = state.to_json()
    assert json.loads(data)["v"] == 1
    assert PatientState.from_json(data) == state


def test_the_empty_state() -> None:
    state = PatientState.empty("NORTHWIND|NW100377")
    assert state.patient_key == "NORTHWIND|NW100377"
    assert json.loads(state.to_json()) == {
        "v": 1,
        "patient_key": "NORTHWIND|NW100377",
        "readings": [],
        "last_discharge": None,
        "last_admission": None,
        "suppression": [],
        "alert_ids": [],
        "recent_event_ids": [],
        "merged_keys": [],
        "scale2_mark": None,
    }


@pytest.mark.parametrize(
    "data",
    [
        b'{"v": 2, "patient_key": "K"}',
        b'{"patient_key": "K"}',
        b'{"v": 1}',
        b'{"v": 1, "patient_key": "K", "readings": [["only", "three", "fields"]]}',
        b'{"v": 1, "patient_key": "K", "suppression": [["r", "s", "t", "LOUD"]]}',
        b"[1, 2]",
        b"not json",
    ],
)
def test_what_is_not_a_state_is_refused(data: bytes) -> None:
    with pytest.raises(StateFormatError):
        PatientState.from_json(data)


def _reading(code: str, hour: int, event_id: str | None = None) -> Reading:
    return Reading(code, "20", "/min", f"2026-11-28T{hour:02d}:00Z", event_id or f"e{code}{hour}")


def test_readings_older_than_the_horizon_before_the_newest_are_dropped() -> None:
    state = PatientState.empty("K").with_readings(
        [_reading("9279-1", 1), _reading("8480-6", 4), _reading("9279-1", 8)], 6 * HOUR_US
    )
    assert [r.observed_at[11:13] for r in state.readings] == ["04", "08"]
    state = state.with_readings([_reading("8867-4", 11)], 6 * HOUR_US)
    assert [r.observed_at[11:13] for r in state.readings] == ["08", "11"]


def test_readings_are_kept_at_most_so_many_per_code() -> None:
    many = [_reading("9279-1", 0, f"e{i:03d}") for i in range(READINGS_PER_CODE + 5)]
    state = PatientState.empty("K").with_readings([*many, _reading("8480-6", 0)], HOUR_US)
    kept = [r for r in state.readings if r.code == "9279-1"]
    assert len(kept) == READINGS_PER_CODE
    assert kept[-1].event_id == f"e{READINGS_PER_CODE + 4:03d}"  # the last ones are kept
    assert any(r.code == "8480-6" for r in state.readings)


def test_a_repeat_is_known_by_its_readings_or_its_recent_events() -> None:
    state = PatientState.empty("K").with_readings([_reading("9279-1", 1, "obs")], HOUR_US)
    state = state.with_event("adt")
    assert state.has_seen("obs")
    assert state.has_seen("adt")
    assert not state.has_seen("new")


def test_a_suppression_entry_is_replaced_per_rule_and_subject() -> None:
    state = PatientState.empty("K")
    state = state.with_raised(
        Raised("critical-value", "2823-3", "2026-11-28T10:00Z", AlertSeverity.CRITICAL), "a1"
    )
    state = state.with_raised(
        Raised("critical-value", "2951-2", "2026-11-28T10:00Z", AlertSeverity.CRITICAL), "a2"
    )
    state = state.with_raised(
        Raised("critical-value", "2823-3", "2026-11-28T12:00Z", AlertSeverity.CRITICAL), "a3"
    )
    entry = state.raised("critical-value", "2823-3")
    assert entry is not None and entry.at == "2026-11-28T12:00Z"
    assert len(state.suppression) == 2
    assert state.alert_ids == ("a1", "a2", "a3")
    assert state.with_raised(None, "a4").suppression == state.suppression


def test_absorb_gives_the_survivor_the_prior_patients_history() -> None:
    prior = PatientState(
        "NW|PRIOR",
        readings=(_reading("9279-1", 9, "p1"),),
        last_discharge=Visit("2026-11-20T10:00Z", "discharge-prior", "V1"),
        last_admission=Visit("2026-11-10T10:00Z", "admit-prior", "V1"),
        suppression=(
            Raised("news2", "", "2026-11-28T09:00Z", AlertSeverity.WARNING),
            Raised("sirs", "", "2026-11-28T11:00Z", AlertSeverity.WARNING),
        ),
        alert_ids=("alert-prior",),
        merged_keys=("NW|OLDER",),
        scale2_mark=Reading("NEWS2-SCALE2", "Y", None, "2026-11-01T00:00Z", "mark"),
    )
    survivor = PatientState(
        "NW|SURVIVOR",
        readings=(_reading("8480-6", 10, "s1"),),
        last_discharge=Visit("2026-10-01T10:00Z", "discharge-survivor", "V0"),
        suppression=(
            Raised("news2", "", "2026-11-28T10:00Z", AlertSeverity.WARNING),
            Raised("sirs", "", "2026-11-28T08:00Z", AlertSeverity.CRITICAL),
        ),
        alert_ids=("alert-survivor",),
    )
    merged = absorb(survivor, prior)
    assert merged.patient_key == "NW|SURVIVOR"
    assert [r.event_id for r in merged.readings] == ["p1", "s1"]
    assert merged.last_discharge == prior.last_discharge  # the later one
    assert merged.last_admission == prior.last_admission
    assert {(e.rule, e.at) for e in merged.suppression} == {
        ("news2", "2026-11-28T10:00Z"),
        ("sirs", "2026-11-28T11:00Z"),
    }
    assert set(merged.alert_ids) == {"alert-prior", "alert-survivor"}
    assert merged.merged_keys == ("NW|PRIOR", "NW|OLDER")
    assert merged.scale2_mark == prior.scale2_mark
    assert PatientState.from_json(merged.to_json()) == merged


def test_absorbing_an_empty_state_keeps_the_survivors() -> None:
    survivor = PatientState(
        "S", last_discharge=Visit("2026-11-20T10:00Z", "d", None), alert_ids=("a",)
    )
    merged = absorb(survivor, PatientState.empty("P"))
    assert merged.last_discharge == survivor.last_discharge
    assert merged.alert_ids == ("a",)
    assert merged.merged_keys == ("P",)

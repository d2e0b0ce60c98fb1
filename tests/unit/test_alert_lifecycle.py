"""An alert's lifecycle: RAISED, then ACKNOWLEDGED and RESOLVED by a clinician, each change
a new record with the same ``alert_id``.  Its latest state is the furthest its records
reached, whatever order they are read in; a change the lifecycle does not allow is refused
with the state that forbids it."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from hl7bus.events.alert_lifecycle import (
    StatusFilter,
    TransitionRefused,
    change,
    latest,
)
from hl7bus.events.alerts import AlertSeverity, AlertStatus, ClinicalAlert

RAISED = ClinicalAlert(
    alert_id="critical-value:e1",
    rule="critical-value",
    severity=AlertSeverity.CRITICAL,
    patient_key="NORTHWIND|NW100377",
    title="Potassium 6.8 mmol/L",
    detail="2823-3 above 6.1 mmol/L",
    raised_at="2026-11-28T10:15:01-06:00",
    occurred_at="2026-11-28T09:45:00-06:00",
    event_ids=("e1",),
    attributes={"code": "2823-3", "value": "6.8"},
)
ACKNOWLEDGED = dataclasses.replace(
    RAISED,
    status=AlertStatus.ACKNOWLEDGED,
    changed_by="dr.nguyen",
    changed_at="2026-11-28T10:20:00-06:00",
)
RESOLVED = dataclasses.replace(
    RAISED,
    status=AlertStatus.RESOLVED,
    changed_by="rn.okafor",
    changed_at="2026-11-28T11:05:00-06:00",
)
OTHER = dataclasses.replace(RAISED, alert_id="news2:e7", rule="news2", title="NEWS2 7")

NOW = "2026-11-28T16:30:00.250+00:00"


# -- the latest state -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "records",
    list(itertools.permutations([RAISED, ACKNOWLEDGED, RESOLVED])),
    ids=lambda records: ",".join(r.status.value[:3] for r in records),
)
def test_the_latest_state_is_the_furthest_in_any_order(records) -> None:
    assert latest(records) == {RAISED.alert_id: RESOLVED}


def test_an_acknowledged_alert_stays_acknowledged_when_its_raise_is_read_after() -> None:
    assert latest([ACKNOWLEDGED, RAISED]) == {RAISED.alert_id: ACKNOWLEDGED}
    assert latest([RAISED, ACKNOWLEDGED]) == {RAISED.alert_id: ACKNOWLEDGED}


def test_each_alert_has_its_own_state() -> None:
    assert latest([RAISED, OTHER, ACKNOWLEDGED]) == {
        RAISED.alert_id: ACKNOWLEDGED,
        OTHER.alert_id: OTHER,
    }


def test_the_same_change_twice_keeps_the_first() -> None:
    again = dataclasses.replace(ACKNOWLEDGED, changed_by="dr.late", changed_at=NOW)
    assert latest([RAISED, ACKNOWLEDGED, again]) == {RAISED.alert_id: ACKNOWLEDGED}


def test_no_records_no_alerts() -> None:
    assert latest([]) == {}


# -- which alerts a list shows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listing", "shown"),
    [
        (StatusFilter.OPEN, {"RAISED", "ACKNOWLEDGED"}),
        (StatusFilter.ACKNOWLEDGED, {"ACKNOWLEDGED"}),
        (StatusFilter.RESOLVED, {"RESOLVED"}),
        (StatusFilter.ALL, {"RAISED", "ACKNOWLEDGED", "RESOLVED"}),
    ],
)
def test_open_means_raised_or_acknowledged(listing, shown) -> None:
    assert {a.status.value for a in (RAISED, ACKNOWLEDGED, RESOLVED) if listing.admits(a)} == shown


def test_the_filters_are_the_apis_words() -> None:
    assert [f.value for f in StatusFilter] == ["open", "acknowledged", "resolved", "all"]


# -- changes ------------------------------------------------------------------------------------


def test_acknowledging_a_raised_alert_says_who_and_when_and_keeps_the_rest() -> None:
    changed = change(RAISED, AlertStatus.ACKNOWLEDGED, by="dr.nguyen", at=NOW)
    assert changed.status is AlertStatus.ACKNOWLEDGED
    assert (changed.changed_by, changed.changed_at) == ("dr.nguyen", NOW)
    back = dataclasses.replace(changed, status=RAISED.status, changed_by=None, changed_at=None)
    assert back == RAISED


@pytest.mark.parametrize("current", [RAISED, ACKNOWLEDGED], ids=["raised", "acknowledged"])
def test_an_open_alert_can_be_resolved(current) -> None:
    changed = change(current, AlertStatus.RESOLVED, by="rn.okafor", at=NOW)
    assert changed.status is AlertStatus.RESOLVED
    assert (changed.changed_by, changed.changed_at) == ("rn.okafor", NOW)
    assert changed.alert_id == current.alert_id and changed.patient_key == current.patient_key


@pytest.mark.parametrize(
    ("current", "wanted", "words"),
    [
        (ACKNOWLEDGED, AlertStatus.ACKNOWLEDGED, ["already acknowledged", "dr.nguyen"]),
        (RESOLVED, AlertStatus.ACKNOWLEDGED, ["already resolved", "rn.okafor"]),
        (RESOLVED, AlertStatus.RESOLVED, ["already resolved", "rn.okafor"]),
    ],
    ids=["acknowledge-twice", "acknowledge-resolved", "resolve-twice"],
)
def test_impossible_changes_are_refused_with_the_state_that_forbids_them(
    current, wanted, words
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        change(current, wanted, by="dr.other", at=NOW)
    assert refused.value.current == current
    assert refused.value.wanted is wanted
    message = str(refused.value)
    for word in words:
        assert word in message
    assert current.changed_at in message


def test_nobody_raises_an_alert_by_changing_it() -> None:
    with pytest.raises(ValueError, match="RAISED"):
        change(ACKNOWLEDGED, AlertStatus.RAISED, by="dr.nguyen", at=NOW)


@pytest.mark.parametrize("at", ["2026-11-28T16:30:00", "yesterday", ""])
def test_a_change_needs_a_time_with_its_offset(at) -> None:
    with pytest.raises(ValueError, match="offset"):
        change(RAISED, AlertStatus.ACKNOWLEDGED, by="dr.nguyen", at=at)


def test_a_change_needs_someone() -> None:
    with pytest.raises(ValueError, match="who"):
        change(RAISED, AlertStatus.ACKNOWLEDGED, by=" ", at=NOW)

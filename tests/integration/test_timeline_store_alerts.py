"""The timeline store's alerts, on SQLite and on a real PostgreSQL server: one alert by its
id, and the list of alerts in their latest state — open (raised or acknowledged),
acknowledged, resolved or all; of one patient (a merged-away key answers for its
survivor), of one rule; newest first, cut at a limit."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from hl7bus.events.alert_lifecycle import StatusFilter
from hl7bus.events.alerts import AlertSeverity, AlertStatus, ClinicalAlert
from hl7bus.events.model import EventType
from hl7bus.services.timeline.entries import alert_entry
from hl7bus.services.timeline.store import QueryError, Store, open_store

from postgres import drop_schema
from timeline_events import BACKENDS, entries, event, merge, result, store_url

pytestmark = pytest.mark.database


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    url, schema = store_url(request.param, tmp_path, postgres)
    with open_store(url) as opened:
        yield opened
    if schema is not None:
        drop_schema(postgres, schema)


def raised(alert_id: str, key: str, raised_at: str, rule: str = "critical-value") -> ClinicalAlert:
    return ClinicalAlert(
        alert_id=alert_id,
        rule=rule,
        severity=AlertSeverity.CRITICAL,
        patient_key=key,
        title=f"{rule} for {key}",
        raised_at=raised_at,
        occurred_at=raised_at,
        event_ids=(f"event-of-{alert_id}",),
    )


def changed(alert: ClinicalAlert, status: AlertStatus, at: str) -> ClinicalAlert:
    return dataclasses.replace(alert, status=status, changed_by="dr.nguyen", changed_at=at)


K1 = raised("k1", "LAB|P1", "2026-03-01T10:00Z")
K2 = raised("k2", "LAB|P1", "2026-03-01T12:00Z")
N3 = raised("n3", "LAB|P2", "2026-03-01T11:00-03:00", rule="news2")  # 14:00Z: the newest
OLD = raised("old", "LAB|GONE", "2026-02-01T08:00Z")  # raised under a key merged away later


@pytest.fixture
def alerts(store: Store) -> Store:
    """P1 has an open and an acknowledged alert, P2 a resolved one; GONE (merged into P1)
    an open one; and some events between them."""
    store.apply_batch(
        [
            *entries(
                event(EventType.PATIENT_ADMITTED, "LAB|P1", "2026-03-01T08:00Z"),
                result("LAB|P1", "2026-03-01T09:55Z", "2823-3", "6.9"),
                result("LAB|P2", "2026-03-01T10:30Z", "8867-4", "131"),
            ),
            alert_entry(K1),
            alert_entry(K2),
            alert_entry(N3),
            alert_entry(OLD),
        ],
        {},
    )
    store.apply_batch(
        [
            alert_entry(changed(K2, AlertStatus.ACKNOWLEDGED, "2026-03-01T12:05Z")),
            alert_entry(changed(N3, AlertStatus.ACKNOWLEDGED, "2026-03-01T14:05Z")),
            alert_entry(changed(N3, AlertStatus.RESOLVED, "2026-03-01T15:00Z")),
            *entries(merge("LAB|P1", "LAB|GONE", "2026-03-02T00:00Z")),
        ],
        {},
    )
    return store


def ids(found: list[ClinicalAlert]) -> list[str]:
    return [a.alert_id for a in found]


def test_one_alert_by_its_id_in_its_latest_state(alerts: Store) -> None:
    assert alerts.alert("k1") == K1
    assert alerts.alert("k2") == changed(K2, AlertStatus.ACKNOWLEDGED, "2026-03-01T12:05Z")
    assert alerts.alert("n3") == changed(N3, AlertStatus.RESOLVED, "2026-03-01T15:00Z")
    assert alerts.alert("nobody-raised-this") is None


def test_open_alerts_are_raised_or_acknowledged_newest_first(alerts: Store) -> None:
    found = alerts.alerts()
    assert ids(found) == ["k2", "k1", "old"]
    assert [a.status for a in found] == [
        AlertStatus.ACKNOWLEDGED,
        AlertStatus.RAISED,
        AlertStatus.RAISED,
    ]
    assert found == alerts.alerts(StatusFilter.OPEN)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (StatusFilter.ACKNOWLEDGED, ["k2"]),
        (StatusFilter.RESOLVED, ["n3"]),
        (StatusFilter.ALL, ["n3", "k2", "k1", "old"]),  # n3 was raised at 14:00Z
    ],
)
def test_alerts_by_status(alerts: Store, status: StatusFilter, expected: list[str]) -> None:
    assert ids(alerts.alerts(status)) == expected


def test_a_resolved_alert_says_who_resolved_it_and_when(alerts: Store) -> None:
    (resolved,) = alerts.alerts(StatusFilter.RESOLVED)
    assert resolved.status is AlertStatus.RESOLVED
    assert (resolved.changed_by, resolved.changed_at) == ("dr.nguyen", "2026-03-01T15:00Z")
    assert resolved.title == N3.title and resolved.event_ids == N3.event_ids


def test_alerts_of_one_patient_a_merged_away_key_answering_for_its_survivor(
    alerts: Store,
) -> None:
    assert ids(alerts.alerts(StatusFilter.ALL, patient_key="LAB|P1")) == ["k2", "k1", "old"]
    assert ids(alerts.alerts(StatusFilter.ALL, patient_key="LAB|GONE")) == ["k2", "k1", "old"]
    assert ids(alerts.alerts(StatusFilter.ALL, patient_key="LAB|P2")) == ["n3"]
    assert alerts.alerts(StatusFilter.ALL, patient_key="LAB|NOBODY") == []


def test_alerts_of_one_rule_and_a_limit(alerts: Store) -> None:
    assert ids(alerts.alerts(StatusFilter.ALL, rule="news2")) == ["n3"]
    assert ids(alerts.alerts(StatusFilter.ALL, rule="critical-value", limit=2)) == ["k2", "k1"]
    assert alerts.alerts(StatusFilter.ALL, rule="no-such-rule") == []
    assert ids(alerts.alerts(StatusFilter.OPEN, patient_key="LAB|P1", limit=1)) == ["k2"]


@pytest.mark.parametrize("limit", [0, 1001, -1])
def test_a_limit_out_of_range_is_refused(alerts: Store, limit: int) -> None:
    with pytest.raises(QueryError):
        alerts.alerts(limit=limit)


def test_a_change_that_arrives_again_changes_nothing(alerts: Store) -> None:
    late = changed(K2, AlertStatus.ACKNOWLEDGED, "2026-03-09T09:00Z")
    applied = alerts.apply_batch([alert_entry(dataclasses.replace(late, changed_by="x"))], {})
    assert applied.repeated == 1
    assert alerts.alert("k2") == changed(K2, AlertStatus.ACKNOWLEDGED, "2026-03-01T12:05Z")


def test_the_list_of_every_patients_alerts_reads_an_index_of_alerts_only(tmp_path) -> None:
    """SQLite's plan for the list of all alerts: the index of alert entries, not a scan of
    every entry."""
    with open_store(f"sqlite:///{tmp_path / 'timeline.db'}") as store:
        store.apply_batch(
            [alert_entry(K1), *entries(result("LAB|P1", "2026-03-01T09:55Z", "1-8", "1"))], {}
        )
        conn = store._conns.get()
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        assert ids(store.alerts(StatusFilter.ALL)) == ["k1"]
        conn.set_trace_callback(None)
        (query,) = [s for s in statements if "FROM entries" in s]
        plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + query))
    assert "entries_alerts" in plan, plan

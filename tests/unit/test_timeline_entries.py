"""Timeline entries: one per event or alert change, with a line a clinician reads at a
glance, built from that event alone."""

from __future__ import annotations

import dataclasses

import pytest
from timeline_support import event, feed_events, message_events, own_events

from hl7bus.events.alerts import AlertSeverity, AlertStatus, ClinicalAlert, alert_to_record
from hl7bus.events.model import (
    Appointment,
    EventType,
    Location,
    Observation,
    Payload,
)
from hl7bus.events.records import to_record
from hl7bus.services.timeline.entries import (
    ALERT_ACKNOWLEDGED,
    ALERT_RAISED,
    ALERT_RESOLVED,
    Entry,
    alert_entry,
    event_entry,
)
from hl7bus.services.timeline.order import order_key


def _line(events, event_type: EventType, index: int = 0) -> str:
    return [event_entry(e).summary for e in events if e.event_type is event_type][index]


@pytest.mark.parametrize("found", own_events(), ids=lambda e: e.event_id[:8])
def test_every_own_event_is_an_entry_with_one_short_line(found) -> None:
    entry = event_entry(found)
    assert entry.event_id == found.event_id
    assert entry.event_type == found.event_type.value
    assert (entry.occurred_at, entry.recorded_at) == (found.occurred_at, found.recorded_at)
    assert entry.patient_key == found.patient.key
    assert entry.event == to_record(found)
    assert entry.order == order_key(found.occurred_at, found.recorded_at, found.event_id)
    assert entry.summary and "\n" not in entry.summary and len(entry.summary) <= 200
    assert not entry.is_alert
    assert event_entry(to_record(found)) == entry  # from the record read off Kafka: the same


def test_the_sample_feed_reads_like_a_chart() -> None:
    feed = feed_events()
    assert _line(feed, EventType.PATIENT_ADMITTED) == "Admitted to 4WEST room 412 bed B"
    assert _line(feed, EventType.PATIENT_TRANSFERRED) == "Transferred to CCU room 2 bed A"
    assert _line(feed, EventType.PATIENT_DISCHARGED) == "Discharged from CCU room 2 bed A"
    assert _line(feed, EventType.PATIENT_REGISTERED) == "Registered at NWCLINIC"
    assert (
        _line(feed, EventType.OBSERVATIONS_REPORTED)
        == "Potassium 6.8 mmol/L (HH) and 3 more results"
    )
    assert _line(feed, EventType.OBSERVATIONS_REPORTED, 1) == (
        "Troponin I.cardiac 2.4 ng/mL (HH) and 1 more result"
    )
    assert (
        _line(feed, EventType.OBSERVATIONS_REPORTED, 2)
        == "Hemoglobin 12.9 g/dL (N) and 2 more results"
    )
    assert (
        _line(feed, EventType.APPOINTMENT_BOOKED)
        == "Appointment booked for 2026-12-05T09:30:00-06:00: Post-discharge check-up"
    )
    assert (
        _line(feed, EventType.PATIENT_MERGED)
        == "Record NORTHWIND|NW900001 merged into NORTHWIND|NW100512"
    )
    assert _line(feed, EventType.MEDICATION_ORDERED) == (
        "Medication ordered: Aspirin 81 MG Oral Tablet 81 mg Oral Q24H"
    )
    assert _line(feed, EventType.MEDICATION_ADMINISTERED) == (
        "Medication given: Aspirin 81 MG Oral Tablet 81 mg Oral"
    )
    assert _line(feed, EventType.IMMUNIZATION_RECORDED) == (
        "Immunization: Hep B, adolescent or pediatric 0.5 mL"
    )
    assert _line(feed, EventType.DOCUMENT_ADDED) == "Document added: Discharge summary (AU)"


def test_cancels_links_orders_and_documents_say_what_happened() -> None:
    assert _line(message_events("adt-a11-cancel-admit-v28"), EventType.ADMISSION_CANCELLED) == (
        "Admission cancelled"
    )
    assert _line(message_events("adt-a38-cancel-preadmit"), EventType.ADMISSION_CANCELLED) == (
        "Pre-admission cancelled"
    )
    assert _line(message_events("adt-a12-cancel-transfer-v28"), EventType.TRANSFER_CANCELLED) == (
        "Transfer cancelled"
    )
    assert _line(message_events("adt-a13-cancel-discharge-v28"), EventType.DISCHARGE_CANCELLED) == (
        "Discharge cancelled"
    )
    assert _line(message_events("adt-a24-link"), EventType.PATIENT_LINKED) == (
        "Linked with record LAKESHORE|LK-30877"
    )
    assert _line(message_events("adt-a37-unlink"), EventType.PATIENT_UNLINKED) == (
        "Unlinked from record LAKESHORE|LK-30877"
    )
    orders = message_events("orm-o01-cancel-and-status-v24")
    assert _line(orders, EventType.ORDER_CANCELLED) == (
        "Order cancelled: CT abdomen and pelvis without contrast"
    )
    assert _line(orders, EventType.ORDER_STATUS_CHANGED) == (
        "Order in process: Chest X-ray 2 views"
    )
    assert _line(message_events("orm-o01-new-order-v23"), EventType.ORDER_PLACED) == (
        "Order placed: Chest X-ray 2 views"
    )
    appointments = message_events("siu-s12-s15-lifecycle")
    assert _line(appointments, EventType.APPOINTMENT_CANCELLED).startswith("Appointment cancelled")
    assert _line(message_events("adt-a47-change-identifier"), EventType.PATIENT_MERGED) == (
        "Identifier RBGH|RB007006 changed to RBGH|RB004417"
    )


def test_a_hand_built_result_and_appointment() -> None:
    potassium = event(
        EventType.OBSERVATIONS_REPORTED,
        "NORTHWIND|NW1",
        "2026-11-28T09:45-06:00",
        payload=Payload(
            observations=(
                Observation(
                    code="2823-3",
                    display="Potassium",
                    value="6.8",
                    units="mmol/L",
                    abnormal_flags=("HH",),
                ),
            )
        ),
    )
    assert event_entry(potassium).summary == "Potassium 6.8 mmol/L (HH)"
    booked = event(
        EventType.APPOINTMENT_BOOKED,
        "NORTHWIND|NW1",
        "2026-11-28T09:45-06:00",
        payload=Payload(appointment=Appointment(filler_id="A1", start="2026-12-03T09:00-06:00")),
    )
    assert event_entry(booked).summary == "Appointment booked for 2026-12-03T09:00-06:00"
    admitted = event(
        EventType.PATIENT_ADMITTED,
        "NORTHWIND|NW1",
        None,
        location=Location(point_of_care="4W", room="401", bed="B"),
    )
    assert event_entry(admitted).summary == "Admitted to 4W room 401 bed B"


def test_a_long_value_is_cut_short_on_the_line_but_whole_in_the_event() -> None:
    note = "Specimen slightly hemolyzed. " * 20
    long = event(
        EventType.OBSERVATIONS_REPORTED,
        "NORTHWIND|NW1",
        None,
        payload=Payload(observations=(Observation(code="8251-1", display="Comment", value=note),)),
    )
    entry = event_entry(long)
    assert len(entry.summary) <= 200 and entry.summary.endswith("…")
    assert entry.event["payload"]["observations"][0]["value"] == note


ALERT = ClinicalAlert(
    alert_id="critical-value:e1",
    rule="critical-value",
    severity=AlertSeverity.CRITICAL,
    patient_key="NORTHWIND|NW100377",
    title="Potassium 6.8 mmol/L",
    raised_at="2026-11-28T10:15:01-06:00",
    occurred_at="2026-11-28T09:45:00-06:00",
    event_ids=("e1",),
)


def test_each_change_of_an_alert_is_its_own_entry() -> None:
    raised = alert_entry(ALERT)
    acknowledged = alert_entry(
        dataclasses.replace(
            ALERT,
            status=AlertStatus.ACKNOWLEDGED,
            changed_by="dr.nguyen",
            changed_at="2026-11-28T10:20:00-06:00",
        )
    )
    resolved = alert_entry(
        alert_to_record(
            dataclasses.replace(
                ALERT, status=AlertStatus.RESOLVED, changed_at="2026-11-28T11:00:00-06:00"
            )
        )
    )
    assert [e.event_type for e in (raised, acknowledged, resolved)] == [
        ALERT_RAISED,
        ALERT_ACKNOWLEDGED,
        ALERT_RESOLVED,
    ]
    assert len({raised.event_id, acknowledged.event_id, resolved.event_id}) == 3
    assert alert_entry(ALERT) == raised  # the same record again: the same entry id
    assert all(e.is_alert and e.patient_key == ALERT.patient_key for e in (raised, resolved))
    assert raised.occurred_at == ALERT.occurred_at  # beside the result that raised it
    assert acknowledged.occurred_at == "2026-11-28T10:20:00-06:00"
    assert raised.summary == "CRITICAL alert: Potassium 6.8 mmol/L"
    assert acknowledged.summary == "Alert acknowledged by dr.nguyen: Potassium 6.8 mmol/L"
    assert resolved.summary == "Alert resolved: Potassium 6.8 mmol/L"
    assert raised.event == alert_to_record(ALERT)
    assert raised.order < acknowledged.order < resolved.order


def test_an_entry_is_a_frozen_value() -> None:
    entry = event_entry(feed_events()[0])
    assert isinstance(entry, Entry)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.summary = "x"  # type: ignore[misc]

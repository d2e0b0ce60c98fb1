"""ClinicalAlert: the frozen value of a record on clinical.alerts, converted in one place
and round-tripped through schemas/clinical_alert.avsc; the lifecycle fields are optional
so that records written before them still read."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro

from hl7bus.events.alerts import (
    AlertSeverity,
    AlertStatus,
    ClinicalAlert,
    alert_from_record,
    alert_to_record,
)
from hl7bus.kafka import serde

REPO = Path(__file__).resolve().parents[2]

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


def _round_trip(record: dict) -> dict:
    schema = serde.parsed_schema("ClinicalAlert")
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return fastavro.schemaless_reader(io.BytesIO(out.getvalue()), schema, schema)


def test_a_raised_alert_round_trips_through_its_schema() -> None:
    record = alert_to_record(RAISED)
    assert record["status"] == "RAISED"
    assert _round_trip(record) == record
    assert alert_from_record(_round_trip(record)) == RAISED


def test_an_acknowledgement_says_who_and_when() -> None:
    acknowledged = ClinicalAlert(
        **{
            **{f: getattr(RAISED, f) for f in RAISED.__dataclass_fields__},
            "status": AlertStatus.ACKNOWLEDGED,
            "changed_by": "dr.nguyen",
            "changed_at": "2026-11-28T10:20:00-06:00",
        }
    )
    back = alert_from_record(_round_trip(alert_to_record(acknowledged)))
    assert back.status is AlertStatus.ACKNOWLEDGED
    assert (back.changed_by, back.changed_at) == ("dr.nguyen", "2026-11-28T10:20:00-06:00")


def test_a_record_written_with_the_released_schema_reads_as_raised() -> None:
    released = fastavro.parse_schema(
        json.loads((REPO / "schemas" / "released" / "clinical_alert.v1.avsc").read_text())
    )
    old = {k: v for k, v in alert_to_record(RAISED).items() if k in _names(released)}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, released, old)
    current = serde.parsed_schema("ClinicalAlert")
    read = fastavro.schemaless_reader(io.BytesIO(out.getvalue()), released, current)
    alert = alert_from_record(read)
    assert alert.status is AlertStatus.RAISED
    assert alert.changed_by is None and alert.changed_at is None
    assert alert == RAISED


def test_a_record_without_the_lifecycle_fields_is_read_as_raised() -> None:
    record = {
        k: v
        for k, v in alert_to_record(RAISED).items()
        if k not in ("status", "changed_by", "changed_at")
    }
    assert alert_from_record(record) == RAISED


def _names(schema: dict) -> set[str]:
    return {f["name"] for f in schema["fields"]}

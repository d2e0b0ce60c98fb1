"""Each record type of schemas/ round-trips offline through its schema."""

from __future__ import annotations

import io

import fastavro
import pytest

from hl7bus.kafka import serde

RECORDS = {
    "RawMessage": {
        "raw": b"MSH|^~\\&|ADT|GENHOSP|||20261128||ADT^A01|1|P|2.5\r",
        "received_at": "2026-11-28T10:00:00+01:00",
        "connector": "mllp:adt",
        "peer": "127.0.0.1:5000",
        "charset": "ascii",
        "sending_application": "ADT",
        "sending_facility": "GENHOSP",
        "message_control_id": "1",
        "message_type": "ADT",
        "trigger_event": "A01",
        "version": "2.5",
        "replay": {
            "dead_letter_id": "3f0e6c1a-9d2b-5b7e-8c4f-1a2b3c4d5e6f",
            "dlq_topic": "hl7.dlq",
            "dlq_partition": 1,
            "dlq_offset": 42,
            "replayed_at": "2026-11-29T08:00:00+01:00",
            "mapping_version": "1",
        },
    },
    "DeadLetter": {
        "raw": b"\x00\x01garbage",
        "error_code": "not an HL7 message",
        "hl7_condition": 100,
        "error_segment": None,
        "error_field": None,
        "error_message": "No MSH.",
        "error_detail": None,
        "failed_at": "2026-11-28T10:00:01+01:00",
        "received_at": "2026-11-28T10:00:00+01:00",
        "connector": "files:/in",
        "peer": "/in/x.hl7",
        "mapping_version": "1",
        "sending_application": None,
        "sending_facility": None,
        "message_control_id": None,
        "message_type": None,
        "trigger_event": None,
        "raw_topic": "hl7.raw",
        "raw_partition": 0,
        "raw_offset": 42,
        "dead_letter_id": "3f0e6c1a-9d2b-5b7e-8c4f-1a2b3c4d5e6f",
    },
    "ClinicalAlert": {
        "alert_id": "a1",
        "rule": "critical-potassium",
        "severity": "CRITICAL",
        "patient_key": "GENHOSP|123",
        "title": "Potassium 6.9 mmol/L",
        "detail": None,
        "raised_at": "2026-11-28T10:00:00+01:00",
        "occurred_at": "2026-11-28T09:58:00+01:00",
        "event_ids": ["e1"],
        "attributes": {"code": "2823-3"},
        "status": "ACKNOWLEDGED",
        "changed_by": "dr.nguyen",
        "changed_at": "2026-11-28T10:05:00+01:00",
    },
    "AccessAudit": {
        "audit_id": "0f6b3d7e-3c1a-4f5e-9b1d-2a7c9e4d5f60",
        "user": "dr.nguyen",
        "role": "clinician",
        "patient_keys": ["GENHOSP|123", "GENHOSP|456"],
        "endpoint": "/api/v1/patients/{patient_key}/timeline",
        "method": "GET",
        "path": "/api/v1/patients/GENHOSP|123/timeline",
        "query": {"type": "OBSERVATIONS_REPORTED", "limit": "20"},
        "accessed_at": "2026-11-28T10:00:00.123+00:00",
        "client_address": "127.0.0.1:50412",
        "user_agent": "curl/8.5.0",
        "status": 200,
        "error": None,
        "entries": 20,
    },
}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_record_round_trips(name: str) -> None:
    schema = serde.parsed_schema(name)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, RECORDS[name])
    back = fastavro.schemaless_reader(io.BytesIO(out.getvalue()), schema, schema)
    assert back == RECORDS[name]


def test_every_schema_file_is_listed_and_parses() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "schemas"
    assert sorted(p.name for p in folder.glob("*.avsc")) == sorted(serde.SCHEMA_FILES.values())
    for name in serde.SCHEMA_FILES:
        assert serde.parsed_schema(name)["type"] == "record"

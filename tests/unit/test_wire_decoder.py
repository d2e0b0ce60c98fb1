"""Records as the services read them off Kafka: Confluent's wire format (magic byte 0, the
writer's schema id, Avro binary), the writer's schema from the registry by id, the bus's
current schema as the reader's.  One decoder that every service calls; a record it cannot
read is refused naming the field, never the value; a registry that does not answer is no
fault of the record."""

from __future__ import annotations

import io
import json
import struct

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from hl7bus.avro.schemas import parsed_schema, schema_text
from hl7bus.kafka import serde
from hl7bus.settings import RegistrySettings

from paths import REPO

RELEASED_ALERT = (REPO / "schemas" / "released" / "clinical_alert.v1.avsc").read_text()


class Registry:
    """The registry's answers by schema id, and the ids asked for."""

    def __init__(self, schemas: dict[int, str], failure: Exception | None = None) -> None:
        self.schemas = schemas
        self.failure = failure
        self.asked: list[int] = []
        self.latest: dict[str, int] = {}

    def get_latest_version(self, subject: str):  # type: ignore[no-untyped-def]
        """The subject's latest schema: the highest id, as ``latest`` names them."""
        from types import SimpleNamespace

        if self.failure is not None:
            raise self.failure
        if not self.latest.get(subject):
            raise SchemaRegistryError(404, 40401, "Subject not found")
        return SimpleNamespace(schema_id=self.latest[subject])

    def get_schema(self, schema_id: int) -> Schema:
        self.asked.append(schema_id)
        if self.failure is not None:
            raise self.failure
        if schema_id not in self.schemas:
            raise SchemaRegistryError(404, 40403, "Schema not found")
        return Schema(self.schemas[schema_id], "AVRO")


def wire(schema_id: int, schema_str: str, record: dict) -> bytes:
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(schema_str)), record)
    return out.getvalue()


ALERT_V1 = {
    "alert_id": "a-1",
    "rule": "potassium-high",
    "severity": "CRITICAL",
    "patient_key": "NORTH|123",
    "title": "Potassium high",
    "detail": "Potassium 6.8 mmol/L",
    "raised_at": "2026-11-28T10:15:00-06:00",
    "occurred_at": None,
    "event_ids": ["e-1"],
    "attributes": {},
}


def decoder(registry: Registry) -> serde.Decoder:
    return serde.Decoder(RegistrySettings(), client=registry)


def test_a_record_of_a_released_schema_is_read_as_the_current_schema_reads_it():
    registry = Registry({3: RELEASED_ALERT})
    data = wire(3, RELEASED_ALERT, ALERT_V1)
    read = decoder(registry).record(data, "ClinicalAlert")
    expected = fastavro.schemaless_reader(
        io.BytesIO(data[5:]),
        fastavro.parse_schema(json.loads(RELEASED_ALERT)),
        parsed_schema("ClinicalAlert"),
    )
    assert read == expected
    assert read["status"] == "RAISED"  # the current schema's default
    assert read["changed_by"] is None


def test_the_writers_schema_is_fetched_once_and_the_pair_compiled_once():
    registry = Registry({3: RELEASED_ALERT, 4: schema_text("ClinicalAlert")})
    reader = decoder(registry)
    for _ in range(3):
        reader.record(wire(3, RELEASED_ALERT, ALERT_V1), "ClinicalAlert")
    current = {**ALERT_V1, "status": "RESOLVED", "changed_by": "dr.n", "changed_at": None}
    assert reader.record(wire(4, schema_text("ClinicalAlert"), current), "ClinicalAlert") == current
    assert registry.asked == [3, 4]


def test_prepared_the_latest_schema_of_a_subject_needs_no_registry_for_its_first_record():
    registry = Registry({3: RELEASED_ALERT, 4: schema_text("ClinicalAlert")})
    registry.latest["clinical.alerts-value"] = 4
    reader = decoder(registry)
    reader.prepare("clinical.alerts-value", "ClinicalAlert")
    assert registry.asked == [4]
    registry.failure = SchemaRegistryError(503, 50301, "unavailable")  # now it is gone
    current = {**ALERT_V1, "status": "RAISED", "changed_by": None, "changed_at": None}
    assert reader.record(wire(4, schema_text("ClinicalAlert"), current), "ClinicalAlert") == current


def test_preparing_a_subject_not_registered_or_without_a_registry_leaves_it_to_the_record():
    registry = Registry({3: RELEASED_ALERT})
    reader = decoder(registry)
    reader.prepare("no.such.topic-value", "ClinicalAlert")
    registry.failure = SchemaRegistryError(503, 50301, "unavailable")
    reader.prepare("clinical.alerts-value", "ClinicalAlert")
    assert registry.asked == []
    with pytest.raises(serde.RegistryUnavailable):
        reader.record(wire(3, RELEASED_ALERT, ALERT_V1), "ClinicalAlert")


def test_bytes_that_are_not_the_writers_schema_are_refused_naming_the_field():
    registry = Registry({3: RELEASED_ALERT})
    data = wire(3, RELEASED_ALERT, {**ALERT_V1, "title": "x" * 40})
    cut = data[: data.index(b"x" * 40) + 5]
    with pytest.raises(serde.Undecodable, match=r"schema 3: ClinicalAlert\.title: ") as refused:
        decoder(registry).record(cut, "ClinicalAlert")
    assert "xxxxx" not in str(refused.value)


@pytest.mark.parametrize("data", [None, b"", b"\x00\x00\x00", b"\x01\x00\x00\x00\x03\x00"])
def test_bytes_not_in_the_wire_format_are_refused(data):
    with pytest.raises(serde.Undecodable, match="wire format"):
        decoder(Registry({})).record(data, "ClinicalAlert")


def test_a_schema_id_the_registry_does_not_have_is_refused_and_a_silent_registry_is_not():
    with pytest.raises(serde.Undecodable, match="schema id 9 is not in the registry"):
        decoder(Registry({})).record(b"\x00\x00\x00\x00\x09\x00", "ClinicalAlert")
    silent = Registry({}, failure=SchemaRegistryError(503, 50301, "unavailable"))
    with pytest.raises(serde.RegistryUnavailable):
        decoder(silent).record(b"\x00\x00\x00\x00\x09\x00", "ClinicalAlert")
    with pytest.raises(serde.Undecodable, match="not an Avro schema"):
        decoder(Registry({5: '{"type": "nothing"}'})).record(b"\x00\x00\x00\x00\x05", None)


def test_the_services_decode_with_this_one_decoder():
    from hl7bus.services.timeline import consumer

    assert consumer.Decoder is serde.Decoder
    assert consumer.Undecodable is serde.Undecodable
    assert consumer.RegistryUnavailable is serde.RegistryUnavailable

"""Every schema of schemas/ stays BACKWARD compatible with its last released version
(schemas/released/), as the schema registry itself judges it; and the registry holds every
bus subject to BACKWARD, so a schema that would break the topic's readers is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from hl7bus.kafka import serde
from hl7bus.kafka.setup import TOPIC_RECORDS

pytestmark = pytest.mark.integration

RELEASED = Path(__file__).resolve().parents[2] / "schemas" / "released"
# Schemas never released yet: nothing was written with an older version of them.  Once one
# is released (a copy in schemas/released/), take it off this list.
UNRELEASED = frozenset({"AccessAudit"})


def _released(name: str) -> list[Path]:
    stem = serde.SCHEMA_FILES[name].removesuffix(".avsc")
    return sorted(RELEASED.glob(f"{stem}.v*.avsc"))


def test_only_the_listed_schemas_are_unreleased():
    assert {name for name in serde.SCHEMA_FILES if not _released(name)} == UNRELEASED


@pytest.mark.parametrize("name", sorted(set(serde.SCHEMA_FILES) - UNRELEASED))
def test_current_schema_is_backward_compatible_with_the_last_release(
    name, registry_settings, new_subject
):
    released = _released(name)
    assert released, f"no released version of {name} in {RELEASED}"
    client = serde.registry_client(registry_settings)
    subject = new_subject(name)
    client.register_schema(subject, Schema(released[-1].read_text(), "AVRO"))
    client.set_compatibility(subject, "BACKWARD")
    assert client.test_compatibility(subject, Schema(serde.schema_text(name), "AVRO"))


def test_the_check_refuses_a_breaking_change(registry_settings, new_subject):
    """A new required field breaks readers of old records: the check must say no."""
    client = serde.registry_client(registry_settings)
    subject = new_subject("breaking")
    client.register_schema(subject, Schema(serde.schema_text("RawMessage"), "AVRO"))
    client.set_compatibility(subject, "BACKWARD")
    broken = json.loads(serde.schema_text("RawMessage"))
    broken["fields"].append({"name": "ward", "type": "string"})
    assert not client.test_compatibility(subject, Schema(json.dumps(broken), "AVRO"))


# What `hl7bus setup` and `hl7bus dev up` leave in the registry: every bus subject refuses a
# schema that would break its readers.


def _subjects(bus_topics) -> list[tuple[str, str]]:
    """Each bus subject (``<topic>-value``) with the record its topic holds."""
    return [
        (f"{getattr(bus_topics.topics, attr)}-value", record)
        for attr, record in TOPIC_RECORDS.items()
    ]


def _changed(record: str, change) -> Schema:
    schema = json.loads(serde.schema_text(record))
    change(schema["fields"])
    return Schema(json.dumps(schema), "AVRO")


def _refused(client, subject: str, schema: Schema) -> int:
    """The HTTP status with which the registry refuses to register ``schema``."""
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, schema)
    return refused.value.http_status_code


def test_every_bus_subject_is_backward(bus_topics):
    client = serde.registry_client(bus_topics.registry)
    levels = {subject: client.get_compatibility(subject) for subject, _ in _subjects(bus_topics)}
    assert levels == {subject: "BACKWARD" for subject, _ in _subjects(bus_topics)}


def test_a_bus_subject_refuses_a_breaking_schema(bus_topics):
    client = serde.registry_client(bus_topics.registry)
    for subject, record in _subjects(bus_topics):
        new_required_field = _changed(
            record, lambda fields: fields.append({"name": "ward", "type": "string"})
        )
        changed_type = _changed(record, lambda fields: fields[0].update(type="boolean"))
        assert _refused(client, subject, new_required_field) == 409, subject
        assert _refused(client, subject, changed_type) == 409, subject
        assert len(client.get_versions(subject)) == 1, subject


def test_a_bus_subject_takes_a_new_optional_field(bus_topics):
    client = serde.registry_client(bus_topics.registry)
    for subject, record in _subjects(bus_topics):
        first = client.get_latest_version(subject).schema_id
        optional = _changed(
            record,
            lambda fields: fields.append(
                {"name": "ward", "type": ["null", "string"], "default": None}
            ),
        )
        added = client.register_schema(subject, optional)
        assert added != first, subject
        assert client.get_versions(subject) == [1, 2], subject
        assert client.get_version(subject, 2).schema_id == added, subject

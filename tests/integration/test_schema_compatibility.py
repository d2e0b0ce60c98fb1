"""Every schema of schemas/ stays BACKWARD compatible with its last released version
(schemas/released/), as the schema registry itself judges it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema

from hl7bus.kafka import serde

pytestmark = pytest.mark.integration

RELEASED = Path(__file__).resolve().parents[2] / "schemas" / "released"


def _released(name: str) -> list[Path]:
    stem = serde.SCHEMA_FILES[name].removesuffix(".avsc")
    return sorted(RELEASED.glob(f"{stem}.v*.avsc"))


@pytest.mark.parametrize("name", sorted(serde.SCHEMA_FILES))
def test_current_schema_is_backward_compatible_with_the_last_release(
    name, registry_settings, unique_name
):
    released = _released(name)
    assert released, f"no released version of {name} in {RELEASED}"
    client = serde.registry_client(registry_settings)
    subject = unique_name(name) + "-value"
    client.register_schema(subject, Schema(released[-1].read_text(), "AVRO"))
    client.set_compatibility(subject, "BACKWARD")
    assert client.test_compatibility(subject, Schema(serde.schema_text(name), "AVRO"))


def test_the_check_refuses_a_breaking_change(registry_settings, unique_name):
    """A new required field breaks readers of old records: the check must say no."""
    client = serde.registry_client(registry_settings)
    subject = unique_name("breaking") + "-value"
    client.register_schema(subject, Schema(serde.schema_text("RawMessage"), "AVRO"))
    client.set_compatibility(subject, "BACKWARD")
    broken = json.loads(serde.schema_text("RawMessage"))
    broken["fields"].append({"name": "ward", "type": "string"})
    assert not client.test_compatibility(subject, Schema(json.dumps(broken), "AVRO"))

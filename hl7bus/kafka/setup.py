"""Preparing a cluster for the bus: its topics and the schemas of their records."""

from __future__ import annotations

import time
from collections.abc import Callable

from hl7bus.kafka import serde
from hl7bus.kafka.clients import ensure_topics
from hl7bus.kafka.topics import Topics
from hl7bus.settings import KafkaSettings, RegistrySettings

TOPIC_RECORDS: dict[str, str] = {
    "raw": "RawMessage",
    "dlq": "DeadLetter",
    "events": "ClinicalEvent",
    "alerts": "ClinicalAlert",
    "audit": "AccessAudit",
}

# A new schema on a bus subject must read every record written with the one before it.
COMPATIBILITY = "BACKWARD"


def register_record_schema(client, topic: str, record: str) -> int:
    """Register ``record``'s schema under ``<topic>-value`` and return its id, with the
    subject held to BACKWARD compatibility first, so that the registry refuses a schema
    that would break the topic's readers."""
    from confluent_kafka.schema_registry import Schema

    subject = f"{topic}-value"
    hold_backward(client, subject)
    return client.register_schema(subject, Schema(serde.schema_text(record), "AVRO"))


def hold_backward(client, subject: str, *, attempts: int = 20, pause_s: float = 0.5) -> None:
    """Set ``subject`` to BACKWARD compatibility.

    Apicurio answers 409 ("a rule named COMPATIBILITY already exists") when the rule is
    there but its view of it is not yet caught up: right after a restart, while it is still
    reading its journal from Kafka.  The level is then read back, and set again after a
    pause until the registry has caught up.
    """
    from confluent_kafka.schema_registry import SchemaRegistryError

    for attempt in range(attempts):
        try:
            client.set_compatibility(subject, COMPATIBILITY)
            return
        except SchemaRegistryError as exc:
            if exc.http_status_code != 409 or attempt == attempts - 1:
                raise
        try:
            if client.get_compatibility(subject) == COMPATIBILITY:
                return
        except SchemaRegistryError:
            pass  # not readable yet either: try again after the pause
        time.sleep(pause_s)


def prepare_bus(
    kafka: KafkaSettings,
    registry: RegistrySettings,
    *,
    partitions: int = 3,
    echo: Callable[[str], None] = print,
) -> Topics:
    """Create the bus's topics and register each record schema under ``<topic>-value``."""
    topics = Topics.with_prefix(kafka.topic_prefix)
    ensure_topics(
        kafka,
        topics.all(),
        partitions=partitions,
        config={"max.message.bytes": str(kafka.max_record_bytes)},
    )
    client = serde.registry_client(registry)
    for attr, record in TOPIC_RECORDS.items():
        topic = getattr(topics, attr)
        schema_id = register_record_schema(client, topic, record)
        echo(f"  {topic:<18} {record:<14} schema id {schema_id}")
    return topics

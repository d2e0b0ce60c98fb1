"""Building a connector's parts from its settings: schema ids, profiles, ingestor, store."""

from __future__ import annotations

from pathlib import Path

from hl7bus.ingest.records import Ingestor, SchemaIds
from hl7bus.kafka import serde
from hl7bus.kafka.setup import TOPIC_RECORDS, register_record_schema
from hl7bus.kafka.topics import Topics
from hl7bus.mapping.profiles import load_profiles
from hl7bus.settings import KafkaSettings, RegistrySettings


def schema_ids(registry: RegistrySettings, topics: Topics) -> SchemaIds:
    """Register (or find) each record schema under ``<topic>-value`` and return the ids;
    each subject is held to BACKWARD compatibility, as ``hl7bus setup`` leaves it."""
    client = serde.registry_client(registry)
    ids = {
        attr: register_record_schema(client, getattr(topics, attr), TOPIC_RECORDS[attr])
        for attr in ("raw", "events", "dlq")
    }
    return SchemaIds(**ids)


def ingestor(kafka: KafkaSettings, registry: RegistrySettings, profiles: list[Path]) -> Ingestor:
    topics = Topics.with_prefix(kafka.topic_prefix)
    return Ingestor(topics, load_profiles(profiles), schema_ids(registry, topics))

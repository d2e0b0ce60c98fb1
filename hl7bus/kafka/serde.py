"""The schema registry and Confluent wire-format serde for the bus's records.

Records are written as Confluent's wire format (magic byte 0, 4-byte schema id,
Avro binary), so any Kafka client with a schema registry can read the bus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hl7bus.avro.schemas import SCHEMA_FILES, parsed_schema, schema_text  # noqa: F401 - re-exported
from hl7bus.settings import RegistrySettings


def registry_client(settings: RegistrySettings):  # -> SchemaRegistryClient
    from confluent_kafka.schema_registry import SchemaRegistryClient

    # Without a timeout a request the registry never answers would block its caller forever.
    config: dict[str, Any] = {"url": settings.url, "timeout": settings.timeout_s}
    if settings.basic_auth is not None:
        config["basic.auth.user.info"] = settings.basic_auth.get_secret_value()
    return SchemaRegistryClient(config)


def _subject_per_topic() -> dict[str, Any]:
    """The bus's subjects are ``<topic>-value`` (Confluent's TopicNameStrategy), named
    explicitly: newer clients otherwise look for subject associations first, an API that
    Confluent-compatible registries such as Apicurio do not serve."""
    from confluent_kafka.schema_registry import topic_subject_name_strategy

    return {"subject.name.strategy": topic_subject_name_strategy}


def avro_serializer(client, name: str, to_dict: Callable[[Any, Any], dict] | None = None):
    """A Confluent ``AvroSerializer`` for one of the bus's record types."""
    from confluent_kafka.schema_registry.avro import AvroSerializer

    return AvroSerializer(client, schema_text(name), to_dict=to_dict, conf=_subject_per_topic())


def avro_deserializer(client, name: str | None = None):
    """A Confluent ``AvroDeserializer``; with ``name``, that schema is the reader's schema."""
    from confluent_kafka.schema_registry.avro import AvroDeserializer

    return AvroDeserializer(client, schema_text(name) if name else None, conf=_subject_per_topic())

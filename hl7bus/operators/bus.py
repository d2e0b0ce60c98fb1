"""The bus as the operators' core reaches it: the topics' names (with the prefix), the
record type each holds, Kafka clients that log quietly, and one sentence for each thing
that can go wrong on the way (no broker, no such topic)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hl7bus.errors import Hl7BusError
from hl7bus.kafka.clients import client_config, quiet_logger
from hl7bus.kafka.setup import TOPIC_RECORDS
from hl7bus.kafka.topics import Topics
from hl7bus.settings import KafkaSettings

if TYPE_CHECKING:
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient

TIMEOUT_S = 10.0
STATE_TOPIC = "alerts.state"
"""The alerts service's rule-state changelog (its default name), one of the bus's topics."""


def bus_topics(kafka: KafkaSettings) -> Topics:
    return Topics.with_prefix(kafka.topic_prefix)


def bus_names(kafka: KafkaSettings) -> tuple[str, ...]:
    """The names of the bus's topics on this cluster: the prefix and the default names."""
    return (*bus_topics(kafka).all(), kafka.topic_prefix + STATE_TOPIC)


def record_types(kafka: KafkaSettings) -> dict[str, str]:
    """Topic -> the Avro record the bus writes on it (``ClinicalEvent``, ...)."""
    topics = bus_topics(kafka)
    return {getattr(topics, attr): record for attr, record in TOPIC_RECORDS.items()}


def topic_name(kafka: KafkaSettings, name: str) -> str:
    """The topic an operator means: a bus topic's default name (``clinical.events``) is the
    prefixed one (``HL7BUS_KAFKA_TOPIC_PREFIX``); any other name is taken as it is."""
    prefix = kafka.topic_prefix
    defaults = (*Topics().all(), STATE_TOPIC)
    if prefix and name in defaults and not name.startswith(prefix):
        return prefix + name
    return name


def no_broker(kafka: KafkaSettings, reason: str | None = None) -> Hl7BusError:
    because = f" ({reason})" if reason else ""
    return Hl7BusError(
        f"no Kafka broker answers at {kafka.bootstrap_servers}{because}; start one with "
        "`hl7bus dev up` or set HL7BUS_KAFKA_BOOTSTRAP_SERVERS"
    )


def kafka_failed(kafka: KafkaSettings, exc: Exception) -> Hl7BusError:
    """One sentence for a KafkaException: no broker, or what Kafka said."""
    error = exc.args[0] if exc.args else None
    reason = error.str() if hasattr(error, "str") else str(exc)
    if hasattr(error, "name") and error.name() in ("_TRANSPORT", "_TIMED_OUT", "_ALL_BROKERS_DOWN"):
        return no_broker(kafka)
    return Hl7BusError(f"Kafka at {kafka.bootstrap_servers} refused: {reason}")


def admin_client(kafka: KafkaSettings) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient({**client_config(kafka), "logger": quiet_logger()})


def new_consumer(kafka: KafkaSettings, **config: Any) -> Consumer:
    """A consumer that reads committed records and is no member of any group: it is
    assigned partitions and commits nothing."""
    import uuid

    from confluent_kafka import Consumer

    return Consumer(
        {
            **client_config(kafka),
            "logger": quiet_logger(),
            "group.id": f"hl7bus-operator-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            **config,
        }
    )


def cluster_topics(kafka: KafkaSettings, client: Any) -> dict[str, Any]:
    """Topic name -> its metadata, from an admin client or a consumer; :func:`no_broker`
    when no broker answers."""
    from confluent_kafka import KafkaException

    try:
        return client.list_topics(timeout=TIMEOUT_S).topics
    except KafkaException as exc:
        raise no_broker(kafka) from exc


def partitions_of(kafka: KafkaSettings, client: Any, topic: str) -> list[int]:
    found = cluster_topics(kafka, client).get(topic)
    if found is None or found.error is not None:
        raise unknown_topic(kafka, topic)
    return sorted(found.partitions)


def unknown_topic(kafka: KafkaSettings, topic: str) -> Hl7BusError:
    prefix = kafka.topic_prefix
    hint = f" (HL7BUS_KAFKA_TOPIC_PREFIX is {prefix!r})" if prefix else ""
    return Hl7BusError(
        f"no topic {topic!r} on the Kafka cluster at {kafka.bootstrap_servers}{hint}; "
        "`hl7bus topics` lists the bus's topics"
    )

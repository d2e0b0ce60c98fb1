"""Putting records back on the bus from an operator's command: translating a message again
through the current mapping and profiles, as a connector does (with its records built by
:class:`hl7bus.ingest.records.Ingestor`), and writing them through an idempotent producer,
knowing where Kafka put each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hl7bus.errors import Hl7BusError, MessageError, internal_error
from hl7bus.ingest.records import Ingestor, OutRecord, Received, Stored, Translated
from hl7bus.kafka.clients import producer_config, quiet_logger
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.operators.bus import bus_topics
from hl7bus.settings import KafkaSettings, RegistrySettings


def ingestor(kafka: KafkaSettings, registry: RegistrySettings, profiles: ProfileSet) -> Ingestor:
    """The records' builder, with the bus's current schemas registered (or found) under their
    subjects, as a connector does at start."""
    from hl7bus.ingest.setup import schema_ids
    from hl7bus.kafka.serde import registry_errors

    topics = bus_topics(kafka)
    with registry_errors(registry):
        return Ingestor(topics, profiles, schema_ids(registry, topics))


def translate_again(ingestor: Ingestor, received: Received) -> Translated:
    """The message's events through the current mapping; an unexpected failure (a bug) is
    one more error of the message, as in a connector."""
    try:
        return ingestor.translate(received)
    except Exception as exc:
        return Translated(error=internal_error(exc))


def event_records(
    ingestor: Ingestor, translated: Translated, raw: Stored
) -> list[OutRecord] | MessageError:
    """The events' records pointing at ``raw``, or the error of an event the writer refuses."""
    try:
        return ingestor.event_records(translated.events, raw)
    except Exception as exc:
        return internal_error(exc)


class Writer:
    """An idempotent producer (``acks=all``) whose :meth:`put` returns once Kafka has every
    record, and :meth:`send` queues records to be confirmed by the next :meth:`flush`."""

    def __init__(self, kafka: KafkaSettings, timeout_s: float = 30.0) -> None:
        from confluent_kafka import Producer

        config = producer_config(kafka, linger_ms=5)
        self._producer = Producer({**config, "logger": quiet_logger()})
        self.kafka = kafka
        self.timeout_s = timeout_s
        self._failures: list[str] = []

    def send(self, records: Sequence[OutRecord], slots: list[Any] | None = None) -> None:
        for index, record in enumerate(records):

            def delivered(err: Any, msg: Any, index: int = index) -> None:
                if err is not None:
                    self._failures.append(err.str())
                elif slots is not None:
                    slots[index] = Stored(msg.topic(), msg.partition(), msg.offset())

            while True:
                try:
                    self._producer.produce(
                        record.topic, record.value, record.key, on_delivery=delivered
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.1)
            self._producer.poll(0)

    def flush(self) -> None:
        left = self._producer.flush(self.timeout_s)
        if left or self._failures:
            reason = self._failures[0] if self._failures else f"{left} records unconfirmed"
            raise Hl7BusError(
                f"Kafka at {self.kafka.bootstrap_servers} did not store the records within "
                f"{self.timeout_s:g} s ({reason}); what was stored stays, and a repeat gives "
                "the same event ids"
            )

    def put(self, records: Sequence[OutRecord]) -> list[Stored]:
        slots: list[Any] = [None] * len(records)
        self.send(records, slots)
        self.flush()
        return slots

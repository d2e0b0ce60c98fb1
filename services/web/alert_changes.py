"""Acknowledging and resolving alerts: each change is a new ``ClinicalAlert`` record on
``clinical.alerts`` (key: the patient key the alert was raised under, so that it follows
the alert in its partition), in Confluent's wire format with the registry's schema id,
through the bus's idempotent producer (``acks=all``).

:meth:`AlertChanges.append` returns once Kafka has acknowledged the record, and raises
:class:`~hl7bus.kafka.producer.StoreError` when it has not within ``timeout_s``.  Kafka may
still take a record after that (the producer keeps trying for a while): the timeline keeps
one change of each kind per alert, so a change made again is harmless.
"""

from __future__ import annotations

from hl7bus.events.alerts import ClinicalAlert, alert_to_record
from hl7bus.ingest.records import OutRecord, Stored
from hl7bus.kafka.producer import KafkaStore
from hl7bus.kafka.serde import wire_writer
from hl7bus.settings import KafkaSettings


class AlertChanges:
    """Puts changes of alerts on the alerts topic and waits for Kafka's acknowledgement."""

    def __init__(
        self, kafka: KafkaSettings, topic: str, schema_id: int, *, timeout_s: float = 5.0
    ) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self._encode = wire_writer("ClinicalAlert", schema_id)
        self._kafka = KafkaStore(
            kafka, timeout_s=timeout_s, client_id=f"{kafka.client_id}-web-alerts"
        )

    async def append(self, alert: ClinicalAlert) -> Stored:
        """Put ``alert`` (the record of a change) on the topic; where Kafka stored it."""
        record = OutRecord(
            self.topic, alert.patient_key.encode(), self._encode(alert_to_record(alert))
        )
        (stored,) = await self._kafka.put([record])
        return stored

    def close(self, timeout_s: float = 10.0) -> int:
        """Flush what is queued; the number of records Kafka still has not acknowledged."""
        return self._kafka.close(timeout_s)

"""Everything the bus holds of one patient or one message (``hl7bus find``).

It reads the topics from their beginning to their end — ``clinical.events``, then
``hl7.raw``, ``hl7.dlq`` and ``clinical.alerts`` — so it takes as long as reading them
does: a tool for an operator's question, not for a program's every request (the timeline
store answers those).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hl7bus.operators import scan
from hl7bus.operators.bus import bus_topics
from hl7bus.operators.dlq import DeadLetterView, once_each
from hl7bus.operators.records import Decoding, patient_keys
from hl7bus.operators.times import Start
from hl7bus.operators.views import RecordView
from hl7bus.settings import KafkaSettings, RegistrySettings


@dataclass(frozen=True, slots=True)
class Found:
    """Each topic's records of the patient or message, in the order the bus received them."""

    query: str
    raw: tuple[RecordView, ...]
    events: tuple[RecordView, ...]
    dead_letters: tuple[DeadLetterView, ...]
    alerts: tuple[RecordView, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "raw": [r.as_dict() for r in self.raw],
            "events": [r.as_dict() for r in self.events],
            "dead_letters": [d.as_dict() for d in self.dead_letters],
            "alerts": [r.as_dict() for r in self.alerts],
        }


def find(kafka: KafkaSettings, registry: RegistrySettings, key_or_control_id: str) -> Found:
    """Every raw record, event, dead letter and alert of a patient key (``AUTHORITY|ID``) or
    a message control id (MSH-10; or a raw record's key, ``FACILITY|CONTROL-ID``).

    An event is the patient's when it is under the key (or merges it away); a raw message,
    or a dead letter, when one of its identifiers makes the key, or an event points at it;
    an alert when it is the patient's.  A message's are its raw records, its dead letters,
    its events and the alerts they raised.  Reads the four topics whole (see the module)."""
    q = key_or_control_id
    topics = bus_topics(kafka)
    decoding = Decoding(kafka, registry)

    def scan_topic(
        topic: str, keep: Callable[[RecordView, str | None], bool]
    ) -> tuple[RecordView, ...]:
        record = decoding.record_type(topic)
        with contextlib.closing(scan.read(kafka, topic, Start("beginning"))) as messages:
            views = (decoding.view(m) for m in messages if m.value() is not None)
            return tuple(v for v in views if isinstance(v.value, dict) and keep(v, record))

    def event(view: RecordView, record: str | None) -> bool:
        return view.value["source"]["message_control_id"] == q or q in patient_keys(record, view)

    events = scan_topic(topics.events, event)
    pointed = {
        (e.value["source"]["raw_partition"], e.value["source"]["raw_offset"])
        for e in events
        if e.value["source"]["raw_topic"] == topics.raw
    }
    event_ids = {e.value["event_id"] for e in events}

    def message(view: RecordView, record: str | None) -> bool:
        return q in (view.value.get("message_control_id"), view.key) or q in patient_keys(
            record, view
        )

    raw = scan_topic(topics.raw, lambda v, r: message(v, r) or (v.partition, v.offset) in pointed)
    dead = scan_topic(topics.dlq, message)

    def alert(view: RecordView, record: str | None) -> bool:
        return view.value["patient_key"] == q or bool(event_ids & set(view.value["event_ids"]))

    alerts = scan_topic(topics.alerts, alert)
    letters = tuple(once_each([DeadLetterView.of(d) for d in dead]))
    return Found(q, raw, events, letters, alerts)

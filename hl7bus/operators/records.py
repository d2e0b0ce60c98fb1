"""Reading a topic's records as operators do (``hl7bus tail``): from its beginning, its end,
a time or an offset, decoded through the registry (:class:`hl7bus.kafka.serde.Decoder`),
kept or not by patient and by type, and on as they arrive when following.

A record belongs to a patient (``--patient KEY``) when it names the key: an event's
patient (or the prior patient of a merge), an alert's, an access audit's; a raw message's
or a dead letter's PID and MRG identifiers (each identifier as the key a profile can make
of it: ``AUTHORITY|ID``); any other record by its Kafka key.  Its type (``--type T``,
any case) is an event's ``event_type``, a message's type (``ADT`` or ``ADT^A01``), an
alert's rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hl7bus.errors import MessageError
from hl7bus.hl7 import parse_message
from hl7bus.mapping.common import key_of, patient_identifiers
from hl7bus.mapping.values import identifiers
from hl7bus.operators import scan
from hl7bus.operators.bus import record_types, topic_name
from hl7bus.operators.times import Start
from hl7bus.operators.views import RecordView, text_of
from hl7bus.settings import KafkaSettings, RegistrySettings


def keys_in_message(raw: bytes) -> frozenset[str]:
    """Every patient key a profile can make of the message's PID-3 and MRG-1 identifiers."""
    try:
        message = parse_message(raw)
    except MessageError:
        return frozenset()
    facility = message.sending_facility
    found = set()
    for segment in message.segments:
        if segment.name == "PID":
            found |= {key_of(i, facility) for i in patient_identifiers(segment)}
        elif segment.name == "MRG":
            found |= {key_of(i, facility) for i in identifiers(segment, 1)}
    return frozenset(found)


def patient_keys(record: str | None, view: RecordView) -> frozenset[str]:
    value = view.value if isinstance(view.value, dict) else {}
    if record == "ClinicalEvent":
        merge = (value.get("payload") or {}).get("merge") or {}
        keys = {value["patient"]["key"], merge.get("prior_patient_key")}
        return frozenset(k for k in keys if k)
    if record == "ClinicalAlert":
        return frozenset({value["patient_key"]})
    if record == "AccessAudit":
        return frozenset(value.get("patient_keys") or ())
    if record in ("RawMessage", "DeadLetter") and value.get("raw"):
        found = keys_in_message(value["raw"])
        if found:
            return found
    return frozenset({view.key} if view.key else ())


def kinds(record: str | None, value: Any) -> frozenset[str]:
    if not isinstance(value, dict):
        return frozenset()
    if record == "ClinicalEvent":
        return frozenset({value["event_type"]})
    if record in ("RawMessage", "DeadLetter") and value.get("message_type"):
        kind, trigger = value["message_type"], value.get("trigger_event")
        return frozenset({kind, f"{kind}^{trigger}"} if trigger else {kind})
    if record == "ClinicalAlert":
        return frozenset({value["rule"]})
    return frozenset()


def matches(record: str | None, view: RecordView, *, patient: str | None, kind: str | None) -> bool:
    if kind is not None and kind.upper() not in {k.upper() for k in kinds(record, view.value)}:
        return False
    return patient is None or patient in patient_keys(record, view)


class Decoding:
    """Kafka messages of the bus's topics as :class:`RecordView`: values decoded as the
    bus's current schema of the topic's record type reads them; a value that is not Avro
    in Confluent's wire format is shown as its text."""

    def __init__(self, kafka: KafkaSettings, registry: RegistrySettings) -> None:
        from hl7bus.kafka.serde import Decoder

        self.types = record_types(kafka)
        self.decoder = Decoder(registry)

    def record_type(self, topic: str) -> str | None:
        return self.types.get(topic)

    def view(self, message: Any) -> RecordView:
        from hl7bus.kafka.serde import Undecodable

        data, key = message.value(), message.key()
        value: Any = None
        if data is not None:
            try:
                value = self.decoder.record(data, self.types.get(message.topic()))
            except Undecodable:
                value = text_of(data)
        kind, ms = message.timestamp()
        return RecordView(
            message.topic(),
            message.partition(),
            message.offset(),
            ms if kind else None,
            text_of(key) if key is not None else None,
            value,
        )


def read_records(
    kafka: KafkaSettings,
    registry: RegistrySettings,
    topic: str,
    *,
    start: Start = Start("beginning"),
    patient: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
    follow: bool = False,
) -> Iterator[RecordView]:
    """The records of ``topic`` (a bus topic by its default name, or any topic) from
    ``start`` to its end, in time order; with ``follow``, then each new one as it comes.
    At most ``limit`` of those kept by ``patient`` and ``kind``."""
    name = topic_name(kafka, topic)
    decoding = Decoding(kafka, registry)
    record = decoding.record_type(name)
    shown = 0
    if limit is not None and limit <= 0:
        return
    with contextlib.closing(scan.read(kafka, name, start, follow=follow)) as messages:
        for message in messages:
            view = decoding.view(message)
            if matches(record, view, patient=patient, kind=kind):
                yield view
                shown += 1
                if limit is not None and shown >= limit:
                    return

"""What the bus stores for one received message: its raw record, then its events (none
for a well-formed message of a type without a mapper) — or, when it cannot be translated,
a dead-letter record with its bytes and why.

Pure: bytes in, records out.  The connectors put the records on Kafka and answer the
sender only once Kafka has them all.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hl7bus.avro.schemas import schema_text
from hl7bus.avro.writer import compile_writer
from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import ClinicalEvent
from hl7bus.events.records import encode as encode_event
from hl7bus.hl7.header import PREFIX_KEPT, Header
from hl7bus.mapping.context import MAPPING_VERSION, Receipt
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

if TYPE_CHECKING:
    from hl7bus.kafka.topics import Topics


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Stored:
    """Where Kafka put a record."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class SchemaIds:
    """Registry ids of the record schemas, looked up once at start."""

    raw: int
    events: int
    dlq: int


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it arrived: bytes, when, from where, through which connector."""

    raw: bytes
    received_at: str
    connector: str
    peer: str | None = None


@dataclass(slots=True)
class Translated:
    events: list[ClinicalEvent] = field(default_factory=list)
    error: MessageError | None = None
    without_events: str | None = None
    """The type (``QBP^Q22``) of a well-formed message hl7bus has no mapper for: stored on
    the raw topic, acknowledged, no event and no dead letter."""


_DEAD_LETTER_NAMESPACE = uuid.UUID("0b6c7d2e-58a4-4f0e-8a7d-3d1f6e9c2a51")


def dead_letter_id(sending_facility: str, control_id: str, raw: bytes) -> str:
    """The id of a dead letter: uuid5 of the sending facility, the control id and the
    SHA-256 of the bytes it holds.  A message resent (after a store timeout, say) gives the
    same id, so its duplicate dead letters are recognised, counted once and replayed once;
    other bytes under the same control id give another."""
    digest = hashlib.sha256(raw).hexdigest()
    return str(uuid.uuid5(_DEAD_LETTER_NAMESPACE, f"{sending_facility}|{control_id}|{digest}"))


def _record_writer(schema_name: str) -> Callable[[Any], bytes]:
    return compile_writer(json.loads(schema_text(schema_name)))


def _wire(schema_id: int, encode: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    header = struct.pack(">bI", 0, schema_id)  # Confluent wire format
    return lambda record: header + encode(record)


class Ingestor:
    """Builds the bus's records for received messages."""

    def __init__(self, topics: Topics, profiles: ProfileSet, ids: SchemaIds) -> None:
        self.topics = topics
        self.profiles = profiles
        self._raw = _wire(ids.raw, _record_writer("RawMessage"))
        self._event = _wire(ids.events, encode_event)
        self._dlq = _wire(ids.dlq, _record_writer("DeadLetter"))

    def raw_record(
        self, received: Received, header: Header, replay: dict[str, Any] | None = None
    ) -> OutRecord:
        """The raw record; ``replay`` (a ``Replay`` of ``raw_message.avsc``) for a message an
        operator puts back on the bus from the dead-letter topic."""
        value = self._raw(
            {
                "raw": received.raw,
                "received_at": received.received_at,
                "connector": received.connector,
                "peer": received.peer,
                "charset": header.charset or None,
                "sending_application": header.sending_application or None,
                "sending_facility": header.sending_facility or None,
                "message_control_id": header.control_id or None,
                "message_type": header.message_type or None,
                "trigger_event": header.trigger_event or None,
                "version": header.version or None,
                "replay": replay,
            }
        )
        return OutRecord(self.topics.raw, header.key, value)

    def translate(self, received: Received) -> Translated:
        receipt = Receipt(received.received_at, received.connector)
        try:
            translation = translate(received.raw, self.profiles, receipt)
        except MessageError as exc:
            return Translated(error=exc)
        if not translation.mapped:
            return Translated(without_events=translation.kind)
        return Translated(translation.events)

    def event_records(self, events: list[ClinicalEvent], raw: Stored | None) -> list[OutRecord]:
        """The events' records, each pointing at the raw record it came from."""
        out = []
        source = None
        for event in events:
            if raw is not None:
                if source is None:
                    source = replace(
                        event.source,
                        raw_topic=raw.topic,
                        raw_partition=raw.partition,
                        raw_offset=raw.offset,
                    )
                event = replace(event, source=source)
            out.append(
                OutRecord(self.topics.events, event.patient.key.encode(), self._event(event))
            )
        return out

    def dead_letter(
        self,
        received: Received,
        header: Header,
        error: MessageError,
        failed_at: str,
        raw: Stored | None,
    ) -> OutRecord:
        control_id = header.control_id or error.control_id
        value = self._dlq(
            {
                "dead_letter_id": dead_letter_id(
                    header.sending_facility, control_id or "", received.raw
                ),
                "raw": received.raw,
                "error_code": error.code.text,
                "hl7_condition": error.code.hl7_condition,
                "error_segment": error.segment,
                "error_field": error.field,
                "error_message": error.message,
                "failed_at": failed_at,
                "received_at": received.received_at,
                "connector": received.connector,
                "peer": received.peer,
                "mapping_version": MAPPING_VERSION,
                "sending_application": header.sending_application or None,
                "sending_facility": header.sending_facility or None,
                "message_control_id": control_id,
                "message_type": header.message_type or None,
                "trigger_event": header.trigger_event or None,
                "raw_topic": raw.topic if raw else None,
                "raw_partition": raw.partition if raw else None,
                "raw_offset": raw.offset if raw else None,
                "error_detail": error.detail,
            }
        )
        return OutRecord(self.topics.dlq, header.key, value)


def head_of(received: Received) -> Received:
    """The same message cut to its first :data:`PREFIX_KEPT` bytes."""
    return Received(
        received.raw[:PREFIX_KEPT], received.received_at, received.connector, received.peer
    )


def too_large(size: int, limit: int) -> MessageError:
    return MessageError(
        ErrorCode.MESSAGE_TOO_LARGE,
        f"The message is {size} bytes, more than the {limit} bytes this connector accepts.",
    )

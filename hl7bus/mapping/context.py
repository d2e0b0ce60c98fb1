"""What every mapper needs of one message: its profile, its receipt, its source, its
patient, and a way to make events with deterministic ids."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import ClinicalEvent, Encounter, EventType, Patient, Payload, Source
from hl7bus.hl7 import Message, Segment
from hl7bus.mapping import values
from hl7bus.mapping.profiles import SenderProfile

MAPPING_VERSION = "1"
_EVENT_NAMESPACE = uuid.UUID("6f1c2f0e-6b1d-4d55-9a43-3c3f0e6d7b21")


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where and when a message came in, and where its raw copy sits on Kafka."""

    received_at: str | None = None
    connector: str | None = None
    raw_topic: str | None = None
    raw_partition: int | None = None
    raw_offset: int | None = None


def event_id(sending_facility: str, control_id: str, index: int) -> str:
    """The same message always yields the same ids, so resends are harmless."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{sending_facility}|{control_id}|{index}"))


@dataclass(slots=True)
class MessageContext:
    message: Message
    profile: SenderProfile
    receipt: Receipt
    source: Source = field(init=False)
    _next_index: int = 0

    def __post_init__(self) -> None:
        m, r = self.message, self.receipt
        if not m.control_id:
            raise MessageError(
                ErrorCode.REQUIRED_FIELD_MISSING,
                "MSH-10 (message control id) is empty.",
                segment="MSH",
                field=10,
            )
        self.source = Source(
            message_control_id=m.control_id,
            message_type=m.message_type,
            sending_application=m.sending_application or None,
            sending_facility=m.sending_facility or None,
            receiving_application=m.receiving_application or None,
            receiving_facility=m.receiving_facility or None,
            trigger_event=m.trigger_event or None,
            version=m.version or None,
            received_at=r.received_at,
            connector=r.connector,
            profile=self.profile.name,
            charset=m.text.used,
            charset_note=m.text.note,
            mapping_version=MAPPING_VERSION,
            raw_topic=r.raw_topic,
            raw_partition=r.raw_partition,
            raw_offset=r.raw_offset,
        )

    @property
    def zone(self) -> str:
        return self.profile.timezone

    def ts(self, raw: str) -> str | None:
        return values.timestamp(raw, self.profile.timezone)

    @property
    def recorded_at(self) -> str | None:
        return self.ts(self.message.message_datetime)

    @property
    def event_time(self) -> str | None:
        """When the triggering event happened: EVN-6, else EVN-2, else MSH-7."""
        evn = self.message.segment("EVN")
        if evn is not None:
            found = self.ts(evn.get(6)) or self.ts(evn.get(2))
            if found:
                return found
        return self.recorded_at

    def require(self, name: str, *, why: str | None = None) -> Segment:
        seg = self.message.segment(name)
        if seg is None:
            raise MessageError(
                ErrorCode.SEGMENT_SEQUENCE,
                why
                or f"{self.message.message_type}^{self.message.trigger_event} needs a "
                f"{name} segment and has none.",
                segment=name,
            )
        return seg

    def event(
        self,
        event_type: EventType,
        patient: Patient,
        *,
        occurred_at: str | None,
        encounter: Encounter | None = None,
        payload: Payload = Payload(),
        planned_at: str | None = None,
    ) -> ClinicalEvent:
        index = self._next_index
        self._next_index += 1
        return ClinicalEvent(
            event_id=event_id(self.message.sending_facility, self.message.control_id, index),
            event_type=event_type,
            event_index=index,
            occurred_at=occurred_at,
            recorded_at=self.recorded_at,
            planned_at=planned_at,
            patient=patient,
            encounter=encounter,
            source=self.source,
            payload=payload,
            extensions=self.extensions(),
        )

    def extensions(self) -> dict[str, str]:
        """Z-segment fields named by the profile, as ``{name: value}``."""
        found: dict[str, str] = {}
        for where, name in self.profile.z_segments.items():
            parts = where.split(".")
            seg = self.message.segment(parts[0])
            if seg is None:
                continue
            component = int(parts[2]) if len(parts) > 2 else 1
            value = values.text(seg.get(int(parts[1]), component))
            if value is not None:
                found[name] = value
        return found

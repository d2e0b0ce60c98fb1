"""What the timeline tests share: the project's own HL7 messages as events, and events
built by hand in a few words."""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path

from hl7bus.errors import MessageError
from hl7bus.events.model import (
    ClinicalEvent,
    Encounter,
    EventType,
    Identifier,
    Location,
    Merge,
    Patient,
    Payload,
    PersonName,
    Source,
)
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

REPO = Path(__file__).resolve().parents[1]
MESSAGES = REPO / "tests" / "messages"
FEED = REPO / "hl7bus" / "samples" / "feed"


@cache
def events_of(path: Path) -> tuple[ClinicalEvent, ...]:
    """Every event of every message in one file (messages that are rejected are skipped)."""
    found: list[ClinicalEvent] = []
    for chunk in split_messages(path.read_bytes()):
        try:
            found.extend(translate(chunk, ProfileSet()).events)
        except MessageError:
            continue
    return tuple(found)


def message_events(name: str) -> tuple[ClinicalEvent, ...]:
    """The events of ``tests/messages/<name>.hl7``."""
    return events_of(MESSAGES / f"{name}.hl7")


def feed_events() -> tuple[ClinicalEvent, ...]:
    """The events of the sample hospital's feed, file by file."""
    return tuple(e for path in sorted(FEED.glob("*.hl7")) for e in events_of(path))


def own_events() -> tuple[ClinicalEvent, ...]:
    """The events of every own test message and of the sample feed."""
    paths = sorted(MESSAGES.glob("*.hl7")) + sorted(FEED.glob("*.hl7"))
    return tuple(e for path in paths for e in events_of(path))


def ident(key: str, type_: str = "MR") -> Identifier:
    authority, value = key.split("|")
    return Identifier(value=value, authority=authority, type=type_)


def event(
    event_type: EventType | str,
    key: str,
    occurred_at: str | None,
    *,
    event_id: str | None = None,
    recorded_at: str | None = None,
    identifiers: tuple[Identifier, ...] = (),
    name: PersonName | None = None,
    location: Location | None = None,
    encounter: Encounter | None = None,
    payload: Payload = Payload(),
    trigger: str | None = None,
    **patient: object,
) -> ClinicalEvent:
    """A hand-built event for patient ``key`` (``AUTHORITY|ID``)."""
    event_type = EventType(event_type)
    if location is not None and encounter is None:
        encounter = Encounter(visit_number="V1", patient_class="inpatient", location=location)
    return ClinicalEvent(
        event_id=event_id or str(uuid.uuid4()),
        event_type=event_type,
        occurred_at=occurred_at,
        recorded_at=recorded_at or occurred_at,
        patient=Patient(key=key, identifiers=(ident(key), *identifiers), name=name, **patient),
        encounter=encounter,
        source=Source(
            message_control_id=str(uuid.uuid4()),
            message_type="ADT",
            sending_facility="TEST",
            trigger_event=trigger,
        ),
        payload=payload,
    )


def merge(survivor: str, prior: str, occurred_at: str = "2026-01-01T00:00Z", **kw) -> ClinicalEvent:
    """An A40: ``prior`` is merged into ``survivor``."""
    return event(
        EventType.PATIENT_MERGED,
        survivor,
        occurred_at,
        trigger=kw.pop("trigger", "A40"),
        payload=Payload(merge=Merge(prior_patient_key=prior, prior_identifiers=(ident(prior),))),
        **kw,
    )


def link(key: str, other: str, occurred_at: str, *, unlink: bool = False) -> ClinicalEvent:
    """An A24 (or, with ``unlink``, an A37) between ``key`` and ``other``."""
    return event(
        EventType.PATIENT_UNLINKED if unlink else EventType.PATIENT_LINKED,
        key,
        occurred_at,
        trigger="A37" if unlink else "A24",
        payload=Payload(merge=Merge(prior_patient_key=other, prior_identifiers=(ident(other),))),
    )

"""Events for the timeline's store and service tests, built by hand in a few words, and
the store URLs the tests run against (SQLite in a temporary folder, a fresh schema on the
test PostgreSQL server)."""

from __future__ import annotations

import uuid
from pathlib import Path

from hl7bus.events.model import (
    ClinicalEvent,
    Encounter,
    EventType,
    Identifier,
    Location,
    Merge,
    Observation,
    Patient,
    Payload,
    PersonName,
    Source,
)
from hl7bus.events.records import to_record
from hl7bus.services.timeline.entries import Entry, event_entry

BACKENDS = ["sqlite", "postgresql"]


def store_url(backend: str, folder: Path, postgres_url: str | None) -> tuple[str, str | None]:
    """A URL of an empty store, and the PostgreSQL schema to drop afterwards (None for
    SQLite)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'timeline.db'}", None
    assert postgres_url is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{separator}schema={schema}", schema


def ident(key: str, type_: str = "MR") -> Identifier:
    authority, value = key.split("|")
    return Identifier(value=value, authority=authority, type=type_)


def event(
    event_type: EventType | str,
    key: str,
    occurred_at: str,
    *,
    event_id: str | None = None,
    identifiers: tuple[Identifier, ...] = (),
    family: str | None = None,
    given: str | None = None,
    location: str | None = None,
    payload: Payload = Payload(),
    trigger: str | None = None,
) -> ClinicalEvent:
    """A hand-built event for patient ``key`` (``AUTHORITY|ID``)."""
    name = PersonName(family=family, given=(given,) if given else ()) if family else None
    encounter = (
        Encounter(visit_number="V1", patient_class="I", location=Location(point_of_care=location))
        if location
        else None
    )
    return ClinicalEvent(
        event_id=event_id or str(uuid.uuid4()),
        event_type=EventType(event_type),
        occurred_at=occurred_at,
        recorded_at=occurred_at,
        patient=Patient(key=key, identifiers=(ident(key), *identifiers), name=name),
        encounter=encounter,
        source=Source(
            message_control_id=uuid.uuid4().hex[:12],
            message_type="ADT",
            sending_facility="TEST",
            trigger_event=trigger,
        ),
        payload=payload,
    )


def result(key: str, occurred_at: str, code: str, value: str, **kw) -> ClinicalEvent:
    """An ORU result of one observation."""
    observation = Observation(code=code, code_system="LN", value=value, value_type="NM")
    return event(
        EventType.OBSERVATIONS_REPORTED,
        key,
        occurred_at,
        payload=Payload(observations=(observation,)),
        **kw,
    )


def merge(survivor: str, prior: str, occurred_at: str, **kw) -> ClinicalEvent:
    """An A40: ``prior`` is merged into ``survivor``."""
    return event(
        EventType.PATIENT_MERGED,
        survivor,
        occurred_at,
        trigger="A40",
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


def entries(*events: ClinicalEvent) -> list[Entry]:
    return [event_entry(to_record(e)) for e in events]

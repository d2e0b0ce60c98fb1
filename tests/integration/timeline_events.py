"""Events for the timeline's store and service tests, built by hand in a few words, and
the store URLs the tests run against (SQLite in a temporary folder, a fresh schema on the
test PostgreSQL server)."""

from __future__ import annotations

import uuid
from pathlib import Path

import timeline_support as support
from timeline_support import ident, link, merge  # noqa: F401 - the tests' vocabulary

from hl7bus.events.model import (
    ClinicalEvent,
    EventType,
    Location,
    Observation,
    Payload,
    PersonName,
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


def event(
    event_type: EventType | str,
    key: str,
    occurred_at: str,
    *,
    family: str | None = None,
    given: str | None = None,
    location: str | None = None,
    **kw,
) -> ClinicalEvent:
    """A hand-built event for patient ``key`` (``AUTHORITY|ID``), with its name and ward
    given in words."""
    name = PersonName(family=family, given=(given,) if given else ()) if family else None
    where = Location(point_of_care=location) if location else None
    return support.event(event_type, key, occurred_at, name=name, location=where, **kw)


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


def entries(*events: ClinicalEvent) -> list[Entry]:
    return [event_entry(to_record(e)) for e in events]

"""What a rule finds in one event, before suppression makes it an alert; and the clinical
time of events and observations, which every rule reads the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from hl7bus.events.alerts import AlertSeverity
from hl7bus.events.model import ClinicalEvent, Observation
from hl7bus.services.timeline.order import instant

from .rules import Rule

SKIPPED_STATUSES: Final = frozenset({"D", "W", "X"})
"""OBX-11 results that carry no value to judge: deleted, wrong (replaced), not obtainable."""


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    subject: str  # what suppression counts per: a code, a list name, or "" (the patient)
    severity: AlertSeverity
    at: str | None  # the clinical time, ISO 8601 as sent
    event_ids: tuple[str, ...]
    fields: Mapping[str, str]  # the title's {fields}
    detail: str
    attributes: Mapping[str, str] = field(default_factory=dict)


def readable(*times: str | None) -> str | None:
    """The first of ``times`` that is a readable ISO 8601 time."""
    for time in times:
        if time and instant(time) is not None:
            return time
    return None


def latest_time(times: Iterable[str]) -> str:
    """The latest of some readable times."""
    return max(times, key=lambda time: instant(time) or 0)


def event_time(event: ClinicalEvent) -> str | None:
    """Clinical time of an event: ``occurred_at``, else ``recorded_at`` (MSH-7)."""
    return readable(event.occurred_at, event.recorded_at)


def observation_time(observation: Observation, event: ClinicalEvent) -> str | None:
    """Clinical time of an observation: OBX-14/OBR-7, else its event's."""
    return readable(observation.observed_at, event.occurred_at, event.recorded_at)


def quoted_unit(unit: str | None) -> str:
    """A unit for a log line: quoted, cut short (it is the sender's free text)."""
    text = (unit or "").strip()
    return f'"{text[:24]}"'


def not_measured(rule: str, code: str, unit: str | None, why: str) -> str:
    """The note of a value a rule could not use (no patient data: codes and units only)."""
    if why == "unit":
        if unit is None or not unit.strip():
            return f"{rule}: no unit for {code}; not compared"
        return f"{rule}: unit {quoted_unit(unit)} of {code} not comparable"
    if why == "comparator":
        return f"{rule}: the comparator of a {code} value leaves its limit undecided; not compared"
    return f"{rule}: a {code} value is not a number; not compared"


def value_text(value: str | None, unit: str | None) -> str:
    """``6.8 mmol/L``: a value and its unit as sent."""
    return " ".join(part.strip() for part in (value, unit) if part and part.strip())

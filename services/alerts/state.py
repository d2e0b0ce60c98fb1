"""What the alert rules remember of one patient (by patient key), between events.

- ``readings``: the observations the window rules (qsofa, sirs) read, each with its value
  and unit as sent, its clinical time and its event id; kept within the rule set's
  longest window before the patient's newest reading, at most ``READINGS_PER_CODE`` per code.
- ``last_discharge`` and ``last_admission`` (time, event id, visit number), for
  readmission-30d.
- ``suppression``: per rule and subject, the clinical time and severity of the last alert.
- ``alert_ids``: the last ``ALERT_IDS`` alert ids raised, so that an event seen again
  raises nothing again; ``recent_event_ids``: the last ``RECENT_EVENTS`` events that
  changed the state or raised an alert.
- ``merged_keys``: the patient keys merged into this one.
- ``scale2_mark``: the latest observation saying whether NEWS2's SpO2 scale 2 applies.

A state is a frozen value; the engine returns a new one.  ``to_json`` writes it as compact
JSON with ``"v": 1`` (readings as ``[code, value, unit, observed_at, event_id]``, visits as
``[at, event_id, visit_number]``, suppression entries as ``[rule, subject, at,
severity]``), and ``from_json`` reads exactly that back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final

from hl7bus.errors import Hl7BusError
from hl7bus.events.alerts import AlertSeverity
from hl7bus.services.timeline.order import instant

VERSION: Final = 1
READINGS_PER_CODE: Final = 8
ALERT_IDS: Final = 64
RECENT_EVENTS: Final = 64


class StateFormatError(Hl7BusError, ValueError):
    """A stored state that this version cannot read."""


@dataclass(frozen=True, slots=True)
class Reading:
    code: str
    value: str | None
    unit: str | None
    observed_at: str  # clinical time, ISO 8601 as sent
    event_id: str
    at: int | None = field(init=False, repr=False, compare=False)  # µs since the epoch (UTC)

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", instant(self.observed_at))


@dataclass(frozen=True, slots=True)
class Visit:
    at: str  # clinical time, ISO 8601 as sent
    event_id: str
    visit_number: str | None = None


@dataclass(frozen=True, slots=True)
class Raised:
    rule: str
    subject: str
    at: str  # the clinical time of the alert
    severity: AlertSeverity


def later_visit(a: Visit | None, b: Visit | None) -> Visit | None:
    if a is None or b is None:
        return a or b
    return b if (instant(b.at) or 0, b.event_id) > (instant(a.at) or 0, a.event_id) else a


def _later_reading(a: Reading | None, b: Reading | None) -> Reading | None:
    if a is None or b is None:
        return a or b
    return b if (b.at or 0, b.event_id) > (a.at or 0, a.event_id) else a


def _last(items: Iterable[str], bound: int) -> tuple[str, ...]:
    """Each item once, in order of last appearance, the last ``bound`` of them."""
    seen: dict[str, None] = {}
    for item in items:
        seen.pop(item, None)
        seen[item] = None
    return tuple(seen)[-bound:]


@dataclass(frozen=True, slots=True)
class PatientState:
    patient_key: str
    readings: tuple[Reading, ...] = ()
    last_discharge: Visit | None = None
    last_admission: Visit | None = None
    suppression: tuple[Raised, ...] = ()
    alert_ids: tuple[str, ...] = ()
    recent_event_ids: tuple[str, ...] = ()
    merged_keys: tuple[str, ...] = ()
    scale2_mark: Reading | None = None

    @classmethod
    def empty(cls, patient_key: str) -> PatientState:
        return cls(patient_key)

    def has_seen(self, event_id: str) -> bool:
        """Whether the event was evaluated before (a repeat)."""
        return event_id in self.recent_event_ids or any(
            r.event_id == event_id for r in self.readings
        )

    def with_readings(self, new: Iterable[Reading], horizon_us: int) -> PatientState:
        """The readings with ``new`` added, those older than ``horizon_us`` before the
        newest dropped, at most ``READINGS_PER_CODE`` per code."""
        readings = sorted({*self.readings, *new}, key=lambda r: (r.at or 0, r.event_id, r.code))
        if readings:
            oldest = (readings[-1].at or 0) - horizon_us
            readings = [r for r in readings if (r.at or 0) >= oldest]
        per_code: dict[str, int] = {}
        kept: list[Reading] = []
        for reading in reversed(readings):
            per_code[reading.code] = per_code.get(reading.code, 0) + 1
            if per_code[reading.code] <= READINGS_PER_CODE:
                kept.append(reading)
        return replace(self, readings=tuple(reversed(kept)))

    def raised(self, rule: str, subject: str) -> Raised | None:
        for entry in self.suppression:
            if entry.rule == rule and entry.subject == subject:
                return entry
        return None

    def with_raised(self, entry: Raised | None, alert_id: str) -> PatientState:
        """The state after an alert: its id kept, and its suppression entry (None when the
        alert has no clinical time to count a window from)."""
        suppression = self.suppression
        if entry is not None:
            key = (entry.rule, entry.subject)
            suppression = (*(e for e in suppression if (e.rule, e.subject) != key), entry)
        return replace(
            self,
            suppression=suppression,
            alert_ids=_last((*self.alert_ids, alert_id), ALERT_IDS),
        )

    def with_event(self, event_id: str) -> PatientState:
        return replace(
            self, recent_event_ids=_last((*self.recent_event_ids, event_id), RECENT_EVENTS)
        )

    # JSON.

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "v": VERSION,
            "patient_key": self.patient_key,
            "readings": [_reading_list(r) for r in self.readings],
            "last_discharge": _visit_list(self.last_discharge),
            "last_admission": _visit_list(self.last_admission),
            "suppression": [[e.rule, e.subject, e.at, e.severity.value] for e in self.suppression],
            "alert_ids": list(self.alert_ids),
            "recent_event_ids": list(self.recent_event_ids),
            "merged_keys": list(self.merged_keys),
            "scale2_mark": _reading_list(self.scale2_mark) if self.scale2_mark else None,
        }
        return json.dumps(data, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_json(cls, data: bytes) -> PatientState:
        try:
            found = json.loads(data)
            if found.get("v") != VERSION:
                raise StateFormatError(f"alert state version {found.get('v')!r} is not {VERSION}")
            mark = found.get("scale2_mark")
            return cls(
                patient_key=found["patient_key"],
                readings=tuple(Reading(*r) for r in found.get("readings", ())),
                last_discharge=_visit(found.get("last_discharge")),
                last_admission=_visit(found.get("last_admission")),
                suppression=tuple(
                    Raised(rule, subject, at, AlertSeverity(severity))
                    for rule, subject, at, severity in found.get("suppression", ())
                ),
                alert_ids=tuple(found.get("alert_ids", ())),
                recent_event_ids=tuple(found.get("recent_event_ids", ())),
                merged_keys=tuple(found.get("merged_keys", ())),
                scale2_mark=Reading(*mark) if mark else None,
            )
        except StateFormatError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StateFormatError(f"not an alert state ({type(exc).__name__})") from None


def _reading_list(r: Reading) -> list[str | None]:
    return [r.code, r.value, r.unit, r.observed_at, r.event_id]


def _visit_list(v: Visit | None) -> list[str | None] | None:
    return None if v is None else [v.at, v.event_id, v.visit_number]


def _visit(found: list[str | None] | None) -> Visit | None:
    return None if found is None else Visit(*found)


def absorb(survivor: PatientState, prior: PatientState) -> PatientState:
    """The survivor's state after ``prior``'s patient is merged into it: one patient, with
    both histories (readings, visits, suppression, alert ids, the scale 2 mark)."""
    suppression: dict[tuple[str, str], Raised] = {}
    for entry in (*prior.suppression, *survivor.suppression):
        key = (entry.rule, entry.subject)
        held = suppression.get(key)
        if held is None or (instant(entry.at) or 0) >= (instant(held.at) or 0):
            suppression[key] = entry
    readings = sorted(
        {*prior.readings, *survivor.readings}, key=lambda r: (r.at or 0, r.event_id, r.code)
    )
    merged = (*survivor.merged_keys, prior.patient_key, *prior.merged_keys)
    return replace(
        survivor,
        readings=tuple(readings),
        last_discharge=later_visit(survivor.last_discharge, prior.last_discharge),
        last_admission=later_visit(survivor.last_admission, prior.last_admission),
        suppression=tuple(suppression.values()),
        alert_ids=_last((*prior.alert_ids, *survivor.alert_ids), ALERT_IDS),
        recent_event_ids=_last(
            (*prior.recent_event_ids, *survivor.recent_event_ids), RECENT_EVENTS
        ),
        merged_keys=tuple(k for k in dict.fromkeys(merged) if k != survivor.patient_key),
        scale2_mark=_later_reading(survivor.scale2_mark, prior.scale2_mark),
    )

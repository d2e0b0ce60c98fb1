"""critical-value: a result that is critical by its abnormal flag (OBX-8) or beyond a
limit of its LOINC code, in the limit's unit."""

from __future__ import annotations

from hl7bus.events.model import ClinicalEvent, Observation

from . import units
from .findings import (
    SKIPPED_STATUSES,
    Finding,
    not_measured,
    observation_time,
    value_text,
)
from .numbers import beyond, describe_limit, in_unit, read_number
from .rules import CriticalValueRule, Limit
from .state import PatientState


def check(
    rule: CriticalValueRule, state: PatientState, event: ClinicalEvent, notes: list[str]
) -> list[Finding]:
    found = []
    for observation in event.payload.observations:
        if observation.status in SKIPPED_STATUSES:
            continue
        finding = _check_one(rule, observation, event, notes)
        if finding is not None:
            found.append(finding)
    return found


def _check_one(
    rule: CriticalValueRule, obs: Observation, event: ClinicalEvent, notes: list[str]
) -> Finding | None:
    flags = tuple(f for f in obs.abnormal_flags if f.strip().upper() in rule.flags)
    limit = rule.limits.get(obs.code) if obs.code else None
    crossed, converted = _crossed(rule, limit, obs, notes) if limit else ((), None)
    if not flags and not crossed:
        return None
    code = obs.code or obs.local_code or obs.display or "unknown"
    name = (limit.name if limit else None) or obs.display or code
    at = observation_time(obs, event)
    sent = value_text(obs.value, obs.units) or "no value"
    if converted is not None and limit:
        sent += f" ({converted:g} {limit.unit})"
    reasons = [f"beyond the critical limit {' and '.join(crossed)}"] if crossed else []
    if flags:
        reasons.append(f"flagged {', '.join(flags)}")
    when = f"observed {at}" if at else "observed at an unknown time"
    detail = f"{name} ({code}) {sent}, {when}: {' and '.join(reasons)}."
    attributes = {
        "code": code,
        "name": name,
        "value": obs.value or "",
        "unit": obs.units or "",
        "observed_at": at or "",
        "flags": ",".join(flags),
        "limit": ", ".join(crossed),
    }
    if converted is not None and limit:
        attributes["converted"] = f"{converted:g} {limit.unit}"
    fields = {
        "name": name,
        "code": code,
        "value": (obs.value or "").strip(),
        "unit": (obs.units or "").strip(),
        "limit": ", ".join(crossed),
        "flags": ",".join(flags),
    }
    return Finding(rule, code, rule.severity, at, (event.event_id,), fields, detail, attributes)


def _crossed(
    rule: CriticalValueRule, limit: Limit, obs: Observation, notes: list[str]
) -> tuple[tuple[str, ...], float | None]:
    """The limits of ``limit`` the value is beyond (``> 6.1 mmol/L``), and the value in the
    limit's unit when the sender used another."""
    if obs.value is None or not obs.value.strip():
        return (), None
    number = read_number(obs.value)
    if number is None:
        notes.append(not_measured(rule.id, limit.code, obs.units, "value"))
        return (), None
    if not (obs.units and obs.units.strip()) and not limit.unit_optional:
        notes.append(not_measured(rule.id, limit.code, obs.units, "unit"))
        return (), None
    value = in_unit(number, obs.units, limit.unit, limit.code)
    if value is None:
        notes.append(not_measured(rule.id, limit.code, obs.units, "unit"))
        return (), None
    crossed, undecided = [], False
    for kind, bound in limit.bounds:
        decided = beyond(value, kind, bound)
        if decided:
            crossed.append(describe_limit(kind, bound, limit.unit))
        undecided = undecided or decided is None
    if not crossed and undecided:
        notes.append(not_measured(rule.id, limit.code, obs.units, "comparator"))
    same = units.normalize_unit(obs.units) in (None, units.normalize_unit(limit.unit))
    return tuple(crossed), None if same else value.value

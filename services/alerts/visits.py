"""readmission-30d and adt-notify: rules over admissions, transfers and discharges."""

from __future__ import annotations

from dataclasses import asdict, replace

from hl7bus.events.model import ClinicalEvent, EventType, Location
from hl7bus.services.timeline.entries import place
from hl7bus.services.timeline.order import instant

from .findings import Finding, event_time, readable
from .rules import AdtNotifyRule, ReadmissionRule, WatchList
from .state import PatientState, Visit, later_visit

_DAY_US = 86_400_000_000
_EVENT_WORDS = {
    EventType.PATIENT_ADMITTED: "admitted",
    EventType.PATIENT_TRANSFERRED: "transferred",
    EventType.PATIENT_DISCHARGED: "discharged",
}


def is_admission(rule: ReadmissionRule, event: ClinicalEvent) -> bool:
    trigger = event.source.trigger_event
    return event.event_type is EventType.PATIENT_ADMITTED or trigger in rule.admission_triggers


def _counts(rule: ReadmissionRule, event: ClinicalEvent) -> bool:
    """Whether the event's patient class is one the rule counts (no class counts)."""
    patient_class = event.encounter.patient_class if event.encounter else None
    return not rule.patient_classes or not patient_class or patient_class in rule.patient_classes


def _visit_number(event: ClinicalEvent) -> str | None:
    return event.encounter.visit_number if event.encounter else None


def _admitted_at(event: ClinicalEvent) -> str | None:
    admitted = event.encounter.admitted_at if event.encounter else None
    return readable(admitted, event.occurred_at, event.recorded_at)


def _discharged_at(event: ClinicalEvent) -> str | None:
    discharged = event.encounter.discharged_at if event.encounter else None
    return readable(discharged, event.occurred_at, event.recorded_at)


def record(rule: ReadmissionRule | None, state: PatientState, event: ClinicalEvent) -> PatientState:
    """The state after the event's admission, discharge or cancelled discharge."""
    if rule is None or not _counts(rule, event):
        return state
    kind = event.event_type
    if kind is EventType.PATIENT_DISCHARGED:
        at = _discharged_at(event)
        if at is None:
            return state
        visit = Visit(at, event.event_id, _visit_number(event))
        return replace(state, last_discharge=later_visit(state.last_discharge, visit))
    if kind is EventType.DISCHARGE_CANCELLED:
        held, visit_number = state.last_discharge, _visit_number(event)
        if held and (
            not held.visit_number or not visit_number or held.visit_number == visit_number
        ):
            return replace(state, last_discharge=None)
        return state
    if is_admission(rule, event):
        at = _admitted_at(event)
        if at is not None:
            visit = Visit(at, event.event_id, _visit_number(event))
            return replace(state, last_admission=later_visit(state.last_admission, visit))
    return state


def check_readmission(
    rule: ReadmissionRule, state: PatientState, event: ClinicalEvent, notes: list[str]
) -> list[Finding]:
    discharge = state.last_discharge
    if discharge is None or not is_admission(rule, event) or not _counts(rule, event):
        return []
    admitted = _admitted_at(event)
    if admitted is None:
        notes.append(f"{rule.id}: an admission without a readable time; not compared")
        return []
    gap = (instant(admitted) or 0) - (instant(discharge.at) or 0)
    visit = _visit_number(event)
    if gap < 0 or gap > rule.days * _DAY_US or (visit and visit == discharge.visit_number):
        return []
    days = gap / _DAY_US
    detail = (
        f"Admitted {admitted}{_of_visit(visit)}, {days:.1f} days after the discharge of "
        f"{discharge.at}{_of_visit(discharge.visit_number)}, within {rule.days} days."
    )
    attributes = {
        "admitted_at": admitted,
        "discharged_at": discharge.at,
        "days": f"{days:.1f}",
        "days_limit": str(rule.days),
        "admission_event_id": event.event_id,
        "discharge_event_id": discharge.event_id,
        "admission_visit": visit or "",
        "discharge_visit": discharge.visit_number or "",
    }
    fields = {"days": str(int(days)), "discharged_at": discharge.at, "admitted_at": admitted}
    event_ids = tuple(sorted({discharge.event_id, event.event_id}))
    return [Finding(rule, "", rule.severity, admitted, event_ids, fields, detail, attributes)]


def _of_visit(visit: str | None) -> str:
    return f" (visit {visit})" if visit else ""


def check_adt_notify(
    rule: AdtNotifyRule, state: PatientState, event: ClinicalEvent, notes: list[str]
) -> list[Finding]:
    if event.event_type not in rule.events or not rule.lists:
        return []
    encounter = event.encounter
    here = encounter.location if encounter else None
    left = encounter.prior_location if encounter else None
    if event.event_type is not EventType.PATIENT_TRANSFERRED:
        left = None
    keys = {event.patient.key, state.patient_key, *state.merged_keys}
    at = event_time(event)
    found = []
    for watch in rule.lists:
        why = _why(watch, keys, here, left)
        if why is None:
            continue
        found.append(_notify(rule, watch, why, event, at, here, left))
    return found


def _why(
    watch: WatchList, keys: set[str], here: Location | None, left: Location | None
) -> str | None:
    """Why the patient is on the list: by key, by point of care or by facility."""
    if keys & watch.patients:
        return "patient key"
    for location, which in ((here, ""), (left, "prior ")):
        if location is None:
            continue
        if location.point_of_care and location.point_of_care in watch.points_of_care:
            return f"{which}point of care {location.point_of_care}"
        if location.facility and location.facility in watch.facilities:
            return f"{which}facility {location.facility}"
    return None


def _where(location: Location | None) -> str:
    if location is None:
        return ""
    words = place(asdict(location)) or ""
    if location.facility and location.facility != words:
        words = f"{words}, {location.facility}" if words else location.facility
    return words


def _notify(
    rule: AdtNotifyRule,
    watch: WatchList,
    why: str,
    event: ClinicalEvent,
    at: str | None,
    here: Location | None,
    left: Location | None,
) -> Finding:
    words = _EVENT_WORDS.get(event.event_type, event.event_type.value.lower().replace("_", " "))
    where, came_from = _where(here), _where(left)
    moved = f" from {came_from}" if came_from else ""
    detail = (
        f"Patient on list {watch.name} (by {why}) {words}{moved}"
        f"{f' at {where}' if where else ''}, {at or 'at an unknown time'}."
    )
    attributes = {
        "list": watch.name,
        "matched_by": why,
        "event_type": event.event_type.value,
        "occurred_at": at or "",
        "location": where,
    }
    if came_from:
        attributes["prior_location"] = came_from
    fields = {"list": watch.name, "event": words, "location": where or "unknown location"}
    return Finding(
        rule,
        watch.name,
        watch.severity or rule.severity,
        at,
        (event.event_id,),
        fields,
        detail,
        attributes,
    )

"""One event in, the patient's new rule state and the alerts it raises out: pure.

``evaluate`` first records what the rules remember of the event (readings for qsofa and
sirs, the NEWS2 scale 2 mark), runs each enabled rule, records admissions and discharges,
then lets suppression decide which findings become alerts.

- Time is clinical time: an observation's ``observed_at``, else the event's
  ``occurred_at``, else its ``recorded_at``.  Windows and suppression count it, never
  ``now``, which only fills ``raised_at``: the same events give the same alerts.
- An alert's id is a uuid5 of its rule, its subject and the sorted ids of the events that
  raised it: a resent message raises the same id, and an id already raised is not raised
  again.  An event already evaluated (its id among the state's recent readings or events)
  changes nothing.
- Suppression: one alert per rule, subject and patient within the rule's ``suppress``
  window of clinical time, unless it is more severe than the last one (a NEWS2 going
  from WARNING to CRITICAL is raised).
- Notes are log lines without patient data: the rule, the code and the unit of a value
  that could not be compared (``critical-value: unit "mg" of 2345-7 not comparable``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from hl7bus.events.alerts import AlertSeverity, ClinicalAlert
from hl7bus.events.model import ClinicalEvent
from hl7bus.services.timeline.order import instant

from . import labs, visits, vitals
from .findings import Finding, event_time
from .rules import News2Rule, ReadmissionRule, RuleSet
from .state import PatientState, Raised

__all__ = ["Evaluation", "alert_id", "evaluate"]

_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:hl7bus:alerts")
_RANK: Final = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}
_CHECKS: Final[dict[str, Callable[..., list[Finding]]]] = {
    "critical-value": labs.check,
    "news2": vitals.check_news2,
    "qsofa": vitals.check_window,
    "sirs": vitals.check_window,
    "readmission-30d": visits.check_readmission,
    "adt-notify": visits.check_adt_notify,
}


@dataclass(frozen=True, slots=True)
class Evaluation:
    state: PatientState
    alerts: tuple[ClinicalAlert, ...]
    notes: tuple[str, ...]


def alert_id(rule: str, subject: str, event_ids: tuple[str, ...] | list[str]) -> str:
    """The deterministic id of the alert a rule raises on a subject from these events."""
    return str(uuid.uuid5(_NAMESPACE, f"{rule}|{subject}|{','.join(sorted(event_ids))}"))


def evaluate(
    rules: RuleSet, state: PatientState, event: ClinicalEvent, *, now: datetime
) -> Evaluation:
    """The patient's state after ``event`` and the alerts it raises (``patient_key`` of the
    alerts is the state's: the surviving key after a merge)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if state.has_seen(event.event_id):
        return Evaluation(state, (), ())
    notes: list[str] = []
    before = state
    state = _remember(rules, state, event)
    findings: list[Finding] = []
    for rule in rules.rules:
        if rule.enabled:
            findings.extend(_CHECKS[rule.id](rule, state, event, notes))
    readmission = rules.get("readmission-30d")
    state = visits.record(
        readmission if isinstance(readmission, ReadmissionRule) else None, state, event
    )
    state = _forget_suppression(rules, state, event)
    raised_at = now.isoformat(timespec="milliseconds")
    alerts = []
    for finding in findings:
        state, alert = _raise(state, finding, raised_at)
        if alert is not None:
            alerts.append(alert)
    if state != before:
        state = state.with_event(event.event_id)
    return Evaluation(state, tuple(alerts), tuple(notes))


def _remember(rules: RuleSet, state: PatientState, event: ClinicalEvent) -> PatientState:
    """The state with the event's readings for the window rules and its scale 2 mark."""
    codes: set[str] = set()
    for rule_id, wanted in vitals.WINDOW_CODES.items():
        if rules.get(rule_id) is not None:
            codes.update(wanted.values())
    if codes:
        readings = vitals.readings_of(event, codes)
        if readings:
            horizon = int(rules.horizon.total_seconds() * 1_000_000)
            state = state.with_readings(readings, horizon)
    news2 = rules.get("news2")
    if isinstance(news2, News2Rule) and news2.scale2_codes:
        mark = vitals.scale2_mark(news2, event)
        if mark is not None and (
            state.scale2_mark is None or (mark.at or 0) >= (state.scale2_mark.at or 0)
        ):
            state = replace(state, scale2_mark=mark)
    return state


def _forget_suppression(rules: RuleSet, state: PatientState, event: ClinicalEvent) -> PatientState:
    """Drop suppression entries whose window ended before this event (or whose rule is gone)."""
    event_at = instant(event_time(event))
    if event_at is None or not state.suppression:
        return state
    kept = []
    for entry in state.suppression:
        rule = rules.get(entry.rule)
        at = instant(entry.at)
        if (
            rule is not None
            and at is not None
            and event_at - at < rule.suppress.total_seconds() * 1e6
        ):
            kept.append(entry)
    return state if len(kept) == len(state.suppression) else replace(state, suppression=tuple(kept))


def _raise(
    state: PatientState, finding: Finding, raised_at: str
) -> tuple[PatientState, ClinicalAlert | None]:
    rule = finding.rule
    event_ids = tuple(sorted(finding.event_ids))
    new_id = alert_id(rule.id, finding.subject, event_ids)
    if new_id in state.alert_ids:
        return state, None
    at = instant(finding.at) if finding.at else None
    held = state.raised(rule.id, finding.subject)
    if held is not None and at is not None and (last := instant(held.at)) is not None:
        within = abs(at - last) < rule.suppress.total_seconds() * 1_000_000
        if within and _RANK[finding.severity] <= _RANK[held.severity]:
            return state, None
    attributes: dict[str, Any] = dict(finding.attributes)
    attributes["event_ids"] = ",".join(event_ids)
    alert = ClinicalAlert(
        alert_id=new_id,
        rule=rule.id,
        severity=finding.severity,
        patient_key=state.patient_key,
        title=rule.title(finding.fields).strip(),
        detail=finding.detail,
        raised_at=raised_at,
        occurred_at=finding.at,
        event_ids=event_ids,
        attributes=attributes,
    )
    entry = (
        None if at is None else Raised(rule.id, finding.subject, finding.at or "", finding.severity)
    )
    return state.with_raised(entry, new_id), alert

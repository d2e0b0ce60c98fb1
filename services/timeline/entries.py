"""Timeline entries: one per clinical event, and one per change of an alert.

An :class:`Entry` carries what the store indexes (ids, type, times, the patient key as
sent, the clinical-order key), the event's whole record, and one short line for people
("Potassium 6.8 mmol/L (HH)", "Admitted to 4W room 401 bed B").  That line is shown to clinicians,
so it carries clinical values, and it is made from the one event alone.

Entries are built from records (the dicts read off Kafka, or stored as JSON) or from the
frozen values of :mod:`hl7bus.events`; both give the same entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hl7bus.events.alerts import ClinicalAlert, alert_to_record
from hl7bus.events.model import ClinicalEvent
from hl7bus.events.records import to_record
from hl7bus.services.timeline.order import OrderKey, order_key

ALERT_RAISED: Final = "ALERT_RAISED"
ALERT_ACKNOWLEDGED: Final = "ALERT_ACKNOWLEDGED"
ALERT_RESOLVED: Final = "ALERT_RESOLVED"
ALERT_TYPES: Final = {
    "RAISED": ALERT_RAISED,
    "ACKNOWLEDGED": ALERT_ACKNOWLEDGED,
    "RESOLVED": ALERT_RESOLVED,
}

LINE_LIMIT: Final = 200
"""The longest summary line, in characters (a longer one ends in "…")."""

_ALERT_NAMESPACE: Final = uuid.UUID("0b7e5a52-9a0c-4f53-8f0e-2f7c7a1d6c11")

Record = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a patient's timeline."""

    event_id: str  # the event's id; for an alert change, uuid5 of alert id and status
    event_type: str  # an EventType value, or ALERT_RAISED / _ACKNOWLEDGED / _RESOLVED
    occurred_at: str | None
    recorded_at: str | None
    patient_key: str  # as sent; resolve it through identity for the survivor
    summary: str  # one line for people
    event: Record = field(hash=False)  # the ClinicalEvent or ClinicalAlert record
    order: OrderKey  # the clinical-order key; entries sort by it

    @property
    def is_alert(self) -> bool:
        return self.event_type in _ALERT_TYPE_SET


_ALERT_TYPE_SET: Final = frozenset(ALERT_TYPES.values())


def event_entry(event: ClinicalEvent | Record) -> Entry:
    """The entry of one clinical event (a :class:`ClinicalEvent` or its record)."""
    record = to_record(event) if isinstance(event, ClinicalEvent) else event
    event_id = record["event_id"]
    occurred, recorded = record.get("occurred_at"), record.get("recorded_at")
    return Entry(
        event_id=event_id,
        event_type=record["event_type"],
        occurred_at=occurred,
        recorded_at=recorded,
        patient_key=record["patient"]["key"],
        summary=_cut(describe_event(record)),
        event=record,
        order=order_key(occurred, recorded, event_id),
    )


def alert_entry(alert: ClinicalAlert | Record) -> Entry:
    """The entry of one alert record: raised, acknowledged or resolved.

    A raised alert sits at the clinical time of the event that raised it (beside it on the
    timeline); an acknowledgement or resolution at the time it was made."""
    record = alert_to_record(alert) if isinstance(alert, ClinicalAlert) else alert
    status = record.get("status") or "RAISED"
    event_type = ALERT_TYPES[status]
    raised_at = record["raised_at"]
    if status == "RAISED":
        occurred, recorded = record.get("occurred_at") or raised_at, raised_at
    else:
        occurred = recorded = record.get("changed_at") or raised_at
    event_id = alert_event_id(record["alert_id"], status)
    return Entry(
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred,
        recorded_at=recorded,
        patient_key=record["patient_key"],
        summary=_cut(describe_alert(record)),
        event=record,
        order=order_key(occurred, recorded, event_id),
    )


def alert_event_id(alert_id: str, status: str) -> str:
    """The entry id of an alert's change to ``status`` (``RAISED``, ``ACKNOWLEDGED`` or
    ``RESOLVED``): one entry per alert and status."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{alert_id}|{status}"))


# The lines.


def describe_alert(record: Record) -> str:
    """The line of an alert record."""
    title = record.get("title") or record.get("rule") or "alert"
    status = record.get("status") or "RAISED"
    if status == "RAISED":
        return f"{record.get('severity') or 'WARNING'} alert: {title}"
    by = record.get("changed_by")
    verb = "acknowledged" if status == "ACKNOWLEDGED" else "resolved"
    return f"Alert {verb}{f' by {by}' if by else ''}: {title}"


def describe_event(record: Record) -> str:
    """The line of a clinical event record."""
    describe = _LINES.get(record["event_type"])
    line = describe(record) if describe is not None else None
    if line:
        return line
    source = record.get("source") or {}
    kind = "^".join(p for p in (source.get("message_type"), source.get("trigger_event")) if p)
    return f"{_words(record['event_type'])} ({kind})" if kind else _words(record["event_type"])


def _cut(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= LINE_LIMIT else line[: LINE_LIMIT - 1].rstrip() + "…"


def _words(event_type: str) -> str:
    return event_type.replace("_", " ").capitalize()


def _trigger(record: Record) -> str | None:
    return (record.get("source") or {}).get("trigger_event")


def place(location: Record | None) -> str | None:
    """A location as clinicians say it: ``4WEST room 412 bed B`` (else the facility)."""
    if not location:
        return None
    words = [
        (label + " " if label else "") + value
        for label, value in (
            ("", location.get("point_of_care")),
            ("room", location.get("room")),
            ("bed", location.get("bed")),
        )
        if value
    ]
    if words:
        return " ".join(words)
    return location.get("facility") or location.get("building")


def _location(record: Record, which: str = "location") -> str | None:
    encounter = record.get("encounter")
    return place(encounter.get(which)) if encounter else None


def _admitted(record: Record) -> str:
    where = _location(record)
    return f"Admitted to {where}" if where else "Admitted"


def _preadmitted(record: Record) -> str:
    where = _location(record)
    return f"Pre-admitted to {where}" if where else "Pre-admitted"


def _registered(record: Record) -> str:
    where = _location(record)
    return f"Registered at {where}" if where else "Registered"


def _transferred(record: Record) -> str:
    where, before = _location(record), _location(record, "prior_location")
    line = f"Transferred to {where}" if where else "Transferred"
    return f"{line} from {before}" if before else line


def _discharged(record: Record) -> str:
    where = _location(record)
    return f"Discharged from {where}" if where else "Discharged"


_UPDATES = {
    "A06": "Changed from outpatient to inpatient",
    "A07": "Changed from inpatient to outpatient",
    "A31": "Person information updated",
}


def _updated(record: Record) -> str:
    line = _UPDATES.get(_trigger(record) or "", "Patient information updated")
    if record["patient"].get("deceased"):
        line += " (deceased)"
    return line


def _admission_cancelled(record: Record) -> str:
    return "Pre-admission cancelled" if _trigger(record) == "A38" else "Admission cancelled"


def _merged(record: Record) -> str:
    merge = (record.get("payload") or {}).get("merge") or {}
    prior, key = merge.get("prior_patient_key"), record["patient"]["key"]
    if _trigger(record) == "A47":
        return f"Identifier {prior} changed to {key}"
    if prior == key and merge.get("prior_account_number"):
        return f"Account {merge['prior_account_number']} merged"
    return f"Record {prior} merged into {key}"


def _linked(record: Record) -> str:
    other = ((record.get("payload") or {}).get("merge") or {}).get("prior_patient_key")
    return f"Linked with record {other}"


def _unlinked(record: Record) -> str:
    other = ((record.get("payload") or {}).get("merge") or {}).get("prior_patient_key")
    return f"Unlinked from record {other}"


def _departed(record: Record) -> str:
    """A09: to a temporary location (PV1-11) or, in transit, the pending one (PV1-42), from
    the bed (or the prior temporary location); else, patient tracking, PV1-6 to PV1-3."""
    to = _location(record, "temporary_location") or _location(record, "pending_location")
    origin = _location(record, "prior_temporary_location") or _location(record)
    if to is None:
        to, origin = _location(record), _location(record, "prior_location")
    line = f"Departed for {to}" if to else "Departed"
    return f"{line} from {origin}" if origin and origin != to else line


def _arrived(record: Record) -> str:
    """A10: at a temporary location (PV1-11), else at the bed (PV1-3); from the prior
    temporary location (PV1-43), else the prior location (PV1-6)."""
    at = _location(record, "temporary_location") or _location(record)
    origin = _location(record, "prior_temporary_location") or _location(record, "prior_location")
    line = f"Arrived at {at}" if at else "Arrived"
    return f"{line} from {origin}" if origin and origin != at else line


def _planned(record: Record, line: str) -> str:
    planned = record.get("planned_at")
    return f"{line} for {planned}" if planned else line


def _admission_pending(record: Record) -> str:
    where = _location(record)
    return _planned(record, f"Admission planned to {where}" if where else "Admission planned")


def _transfer_pending(record: Record) -> str:
    where, to = _location(record), _location(record, "pending_location")
    line = "Transfer planned" + (f" from {where}" if where else "") + (f" to {to}" if to else "")
    return _planned(record, line)


def _discharge_pending(record: Record) -> str:
    where = _location(record)
    return _planned(record, f"Discharge planned from {where}" if where else "Discharge planned")


def _visit_moved(record: Record) -> str:
    merge = (record.get("payload") or {}).get("merge") or {}
    visit = merge.get("prior_visit_number") or (record.get("encounter") or {}).get("visit_number")
    line = f"Visit {visit} moved" if visit else "Visit moved"
    if merge.get("prior_patient_key"):
        return f"{line} from record {merge['prior_patient_key']}"
    if merge.get("prior_account_number"):
        return f"{line} from account {merge['prior_account_number']}"
    return line


_ALLERGY_ACTIONS: Final = {"A": "added", "U": "updated", "D": "removed", "X": "unchanged"}


def _allergies_updated(record: Record) -> str:
    allergies = (record.get("payload") or {}).get("allergies") or ()
    texts = []
    for allergy in allergies:
        name = allergy.get("display") or allergy.get("code") or "allergy"
        action = _ALLERGY_ACTIONS.get((allergy.get("action") or "").upper())
        texts.append(f"{name} {action}" if action else name)
    return f"Allergies updated: {'; '.join(texts)}" if texts else "Allergies updated"


def short_name(display: str | None) -> str | None:
    """A LOINC long name up to its first bracket ("Potassium [Moles/volume] in Serum or
    Plasma" → "Potassium"); other names whole."""
    if not display:
        return None
    head = display.split(" [", 1)[0].strip()
    return head or display


_CRITICAL_FLAGS = frozenset({"HH", "LL", "AA", ">", "<", "PANIC"})
_NORMAL_FLAGS = frozenset({"N", ""})


def _notable(observations: Sequence[Record]) -> Record:
    """The result a clinician should see first: the first critical one (HH, LL, AA, or a
    panic flag), else the first abnormal one, else the first."""
    abnormal = None
    for observation in observations:
        flags = observation.get("abnormal_flags")
        if not flags:
            continue
        for flag in flags:
            flag = flag.upper()
            if flag in _CRITICAL_FLAGS:
                return observation
            if abnormal is None and flag not in _NORMAL_FLAGS:
                abnormal = observation
    return abnormal or observations[0]


def result_text(observation: Record) -> str:
    """One result as read aloud: name, value, units, flags."""
    name = (
        short_name(observation.get("display"))
        or observation.get("code")
        or observation.get("local_code")
        or "Result"
    )
    if observation.get("value_type") == "ED":
        value = "(attachment)"
    else:
        value = " ".join((observation.get("value") or "").split())
    parts = [name, value, observation.get("units") or ""]
    flags = observation.get("abnormal_flags") or ()
    text = " ".join(p for p in parts if p)
    return f"{text} ({','.join(flags)})" if flags else text


def _results(record: Record) -> str | None:
    payload = record.get("payload") or {}
    observations: Sequence[Record] = payload.get("observations") or ()
    if not observations:
        orders = payload.get("orders") or ()
        names = [o.get("display") or o.get("code") for o in orders]
        names = [n for n in names if n]
        return f"Results: {', '.join(names)}" if names else "Results reported"
    line = result_text(_notable(observations))
    more = len(observations) - 1
    if more:
        line += f" and {more} more result{'s' if more > 1 else ''}"
    return line


def _order_name(record: Record) -> str:
    payload = record.get("payload") or {}
    for order in payload.get("orders") or ():
        name = order.get("display") or order.get("code")
        if name:
            return name
    for medication in payload.get("medications") or ():
        name = medication.get("display") or medication.get("code")
        if name:
            return name
    diet = [d.get("display") or d.get("code") for d in payload.get("diet") or ()]
    if any(diet):
        return ", ".join(d for d in diet if d)
    return "order"


# HL7 table 0038 (order status), as words.
ORDER_STATUS_WORDS: Final = {
    "A": "partly reported",
    "CA": "cancelled",
    "CM": "completed",
    "DC": "discontinued",
    "ER": "in error",
    "HD": "on hold",
    "IP": "in process",
    "RP": "replaced",
    "SC": "scheduled",
}


def _order_placed(record: Record) -> str:
    return f"Order placed: {_order_name(record)}"


def _order_cancelled(record: Record) -> str:
    return f"Order cancelled: {_order_name(record)}"


def _order_changed(record: Record) -> str:
    orders = (record.get("payload") or {}).get("orders") or ()
    status = next((o.get("status") for o in orders if o.get("status")), None)
    if status:
        return f"Order {ORDER_STATUS_WORDS.get(status, f'status {status}')}: {_order_name(record)}"
    return f"Order changed: {_order_name(record)}"


def medication_text(medication: Record, *, with_frequency: bool = True) -> str:
    parts = [
        medication.get("display") or medication.get("code") or "medication",
        medication.get("dose"),
        medication.get("dose_units"),
        medication.get("route"),
        medication.get("frequency") if with_frequency else None,
    ]
    return " ".join(p for p in parts if p)


def _medications(record: Record, verb: str, *, with_frequency: bool) -> str:
    medications = (record.get("payload") or {}).get("medications") or ()
    if not medications:
        return f"{verb}: {_order_name(record)}"
    texts = [medication_text(m, with_frequency=with_frequency) for m in medications]
    return f"{verb}: {'; '.join(texts)}"


def _medication_ordered(record: Record) -> str:
    return _medications(record, "Medication ordered", with_frequency=True)


def _medication_given(record: Record) -> str:
    return _medications(record, "Medication given", with_frequency=False)


def _medication_dispensed(record: Record) -> str:
    medications = (record.get("payload") or {}).get("medications") or ()
    texts = []
    for m in medications:
        parts = [
            m.get("display") or m.get("code") or "medication",
            m.get("dispense_amount"),
            m.get("dispense_units"),
        ]
        texts.append(" ".join(p for p in parts if p))
    if not texts:
        return f"Medication dispensed: {_order_name(record)}"
    return f"Medication dispensed: {'; '.join(texts)}"


_NOT_GIVEN = {"RE": "refused", "NA": "not given", "PA": "partly given"}


def _immunization(record: Record) -> str:
    medications = (record.get("payload") or {}).get("medications") or ()
    texts = []
    for m in medications:
        parts = [m.get("display") or m.get("code") or "vaccine", m.get("dose"), m.get("dose_units")]
        text = " ".join(p for p in parts if p)
        status = _NOT_GIVEN.get(m.get("completion_status") or "")
        texts.append(f"{text} ({status})" if status else text)
    return f"Immunization: {'; '.join(texts)}" if texts else "Immunization recorded"


def _appointment(verb: str, preposition: str):
    def line(record: Record) -> str:
        appointment = (record.get("payload") or {}).get("appointment") or {}
        start = appointment.get("start")
        text = f"Appointment {verb}"
        if start:
            text += f" {preposition} {start}"
        reason = appointment.get("reason") or appointment.get("type")
        return f"{text}: {reason}" if reason else text

    return line


def _problems(verb: str):
    def line(record: Record) -> str:
        problems = (record.get("payload") or {}).get("problems") or ()
        texts = []
        for p in problems:
            text = p.get("display") or p.get("code") or "problem"
            status = p.get("status") if verb == "updated" else None
            texts.append(f"{text} ({status.lower()})" if status else text)
        if not texts:
            return f"Problem list {verb}"
        noun = "Problems" if len(texts) > 1 else "Problem"
        return f"{noun} {verb}: {'; '.join(texts)}"

    return line


# HL7 tables 0280 (referral priority) and 0283 (referral status), as words.
REFERRAL_PRIORITY_WORDS: Final = {"S": "STAT", "A": "ASAP", "R": "routine"}
REFERRAL_STATUS_WORDS: Final = {
    "A": "accepted",
    "P": "pending",
    "R": "rejected",
    "E": "expired",
}


def provider_name(provider: Record | None) -> str | None:
    """A provider as people say it: ``Dr Femi Oyelaran`` (else the id)."""
    if not provider:
        return None
    words = [provider.get(p) for p in ("prefix", "given", "family")]
    return " ".join(w for w in words if w) or provider.get("id")


def _referral(verb: str):
    def line(record: Record) -> str:
        referral = (record.get("payload") or {}).get("referral") or {}
        to = ", ".join(
            w
            for w in (
                provider_name(referral.get("referred_to")),
                referral.get("referred_to_facility"),
            )
            if w
        )
        text = f"Referral {verb}: {to}" if to else f"Referral {verb}"
        if verb == "cancelled":
            return text
        notes = [REFERRAL_PRIORITY_WORDS.get(referral.get("priority") or "")]
        if verb == "updated":
            status = referral.get("status")
            notes.append(REFERRAL_STATUS_WORDS.get((status or "").upper(), status))
        notes = [n for n in notes if n]
        return f"{text} ({', '.join(notes)})" if notes else text

    return line


_CODED_VERBS: Final = {
    "P01": "Account opened",
    "P12": "Coding updated",
    "P03": "Charges posted",
    "P11": "Charges posted",
}


def _encounter_coded(record: Record) -> str:
    payload = record.get("payload") or {}
    line = _CODED_VERBS.get(_trigger(record) or "", "Encounter coded")
    for part in ("diagnoses", "procedures"):
        names = [i.get("display") or i.get("code") for i in payload.get(part) or ()]
        names = [n for n in names if n]
        if names:
            line += f" — {part}: {'; '.join(names)}"
    return line


def _account_purged(record: Record) -> str:
    visit = (record.get("encounter") or {}).get("visit_number")
    return f"Account purged (visit {visit})" if visit else "Account purged"


_DOCUMENT_VERBS = {
    "T03": "status changed",
    "T04": "status changed",
    "T05": "addendum",
    "T06": "addendum",
    "T07": "edited",
    "T08": "edited",
    "T09": "replaced",
    "T10": "replaced",
    "T11": "cancelled",
}


def _document(record: Record) -> str:
    document = (record.get("payload") or {}).get("document") or {}
    name = document.get("type") or "document"
    status = document.get("status")
    if record["event_type"] == "DOCUMENT_ADDED":
        text = f"Document added: {name}"
    else:
        text = f"Document {_DOCUMENT_VERBS.get(_trigger(record) or '', 'updated')}: {name}"
    return f"{text} ({status})" if status else text


_LINES = {
    "PATIENT_REGISTERED": _registered,
    "PATIENT_PREADMITTED": _preadmitted,
    "PATIENT_ADMITTED": _admitted,
    "PATIENT_TRANSFERRED": _transferred,
    "PATIENT_DISCHARGED": _discharged,
    "PATIENT_UPDATED": _updated,
    "PATIENT_MERGED": _merged,
    "PATIENT_LINKED": _linked,
    "PATIENT_UNLINKED": _unlinked,
    "ADMISSION_CANCELLED": _admission_cancelled,
    "TRANSFER_CANCELLED": lambda r: "Transfer cancelled",
    "DISCHARGE_CANCELLED": lambda r: "Discharge cancelled",
    "PATIENT_DEPARTED": _departed,
    "PATIENT_ARRIVED": _arrived,
    "ADMISSION_PENDING": _admission_pending,
    "TRANSFER_PENDING": _transfer_pending,
    "DISCHARGE_PENDING": _discharge_pending,
    "PENDING_ADMISSION_CANCELLED": lambda r: "Planned admission cancelled",
    "PENDING_TRANSFER_CANCELLED": lambda r: "Planned transfer cancelled",
    "PENDING_DISCHARGE_CANCELLED": lambda r: "Planned discharge cancelled",
    "PATIENT_DELETED": lambda r: "Person information deleted",
    "VISIT_MOVED": _visit_moved,
    "ALLERGIES_UPDATED": _allergies_updated,
    "OBSERVATIONS_REPORTED": _results,
    "ORDER_PLACED": _order_placed,
    "ORDER_CANCELLED": _order_cancelled,
    "ORDER_STATUS_CHANGED": _order_changed,
    "MEDICATION_ORDERED": _medication_ordered,
    "MEDICATION_ADMINISTERED": _medication_given,
    "MEDICATION_DISPENSED": _medication_dispensed,
    "PROBLEM_ADDED": _problems("added"),
    "PROBLEM_UPDATED": _problems("updated"),
    "PROBLEM_REMOVED": _problems("removed"),
    "REFERRAL_REQUESTED": _referral("requested"),
    "REFERRAL_UPDATED": _referral("updated"),
    "REFERRAL_CANCELLED": _referral("cancelled"),
    "ENCOUNTER_CODED": _encounter_coded,
    "ACCOUNT_PURGED": _account_purged,
    "IMMUNIZATION_RECORDED": _immunization,
    "APPOINTMENT_BOOKED": _appointment("booked", "for"),
    "APPOINTMENT_RESCHEDULED": _appointment("rescheduled", "to"),
    "APPOINTMENT_MODIFIED": _appointment("changed", "for"),
    "APPOINTMENT_CANCELLED": _appointment("cancelled", "for"),
    "APPOINTMENT_DELETED": _appointment("deleted", "for"),
    "APPOINTMENT_NO_SHOW": _appointment("missed", "for"),
    "DOCUMENT_ADDED": _document,
    "DOCUMENT_UPDATED": _document,
}

"""What one timeline entry changes in a patient's summary, part by part:
:func:`entry_changes` gives the fields of :class:`~.summary_model.PatientSummary` it changes
(:mod:`.summary` applies them, in clinical order).

What the summary holds, and how each part follows the events:

- demographics (name, birth date, sex, address, phones, deceased): the latest value an
  event carries (an event without one keeps what was known); identifiers: every
  identifier of every event, and of every record merged in (MRG-1);
- ``stay``: admit → admitted there, transfer → the new location, discharge → out
  (``location`` None, the encounter kept); pre-admit and registration with a visit;
  A06/A07 turn an outpatient into an inpatient and back.  A cancel undoes the most
  recent movement it names and everything after it: A11 the admission (or the
  registration), A38 the pre-admission, A12 the transfer, A13 the discharge;
  Patient tracking (A09/A10), pending movements (A14–A16) and their cancels (A25–A27)
  leave the stay as it is: they are on the timeline;
- allergies and problems: each one once (by code, else by name), its latest form; a
  problem message (PPR) adds and updates problems, and takes off the list those it
  deletes or says are resolved or inactive; an
  allergy deleted (IAM-6 D, A60) is removed;
- ``procedures``: each once (by PR1-19, else code and time), its latest form; one deleted
  (PR1-20 D) is removed;
- ``results``: per observation code its latest result and the last
  :data:`HISTORY_LIMIT` results (the whole history is the timeline filtered by code), from
  results and from what ADT and SIU messages carry (:data:`PATIENT_OBSERVATIONS`: vital
  signs, height, weight);
- ``orders`` and ``medications``: active orders, from placed until cancelled, completed
  (ORC-5 CM/CA/DC/ER/RP) or finally resulted (OBR-25 F/C/X); a medication order shows
  when it was last given and last dispensed (a dispense of an order never seen placed
  makes it active);
- ``immunizations`` (each vaccine and time once), ``appointments`` (by appointment id, with
  booked/rescheduled/modified/cancelled/no-show; a deleted one, S17, is removed),
  ``documents`` (by document id, without content);
- ``alerts``: raised and not resolved; an acknowledged alert stays open, marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, Final

from hl7bus.events.alerts import alert_from_record
from hl7bus.events.model import (
    Address,
    Allergy,
    Appointment,
    Diagnosis,
    Document,
    Encounter,
    Identifier,
    Medication,
    Order,
    PersonName,
    Procedure,
    Telecom,
)
from hl7bus.services.timeline.entries import Entry
from hl7bus.services.timeline.parts import builder, constructor
from hl7bus.services.timeline.summary_model import (
    HISTORY_LIMIT,
    MOVEMENT_LIMIT,
    ActiveOrder,
    BookedAppointment,
    FiledDocument,
    Movement,
    OpenAlert,
    PatientSummary,
    Record,
    Result,
    ResultSeries,
    Stay,
)


def entry_changes(summary: PatientSummary, entry: Entry) -> dict[str, Any]:
    """The fields of ``summary`` that ``entry`` changes, with their new values (its place
    in time aside)."""
    changes: dict[str, Any] = {
        "event_count": summary.event_count + 1,
        "event_ids": summary.event_ids.add(entry.event_id),
    }
    if entry.patient_key not in summary.keys:
        changes["keys"] = tuple(sorted((*summary.keys, entry.patient_key)))
    record = entry.event
    if entry.is_alert:
        _alert(summary, record, changes)
    else:
        patient_changes(summary, record, changes)
        payload = record.get("payload") or {}
        if payload.get("allergies"):
            changes["allergies"] = _allergies(summary.allergies, payload["allergies"])
        if payload.get("diagnoses"):
            changes["problems"] = _once(summary.problems, payload["diagnoses"], Diagnosis)
        if payload.get("problems"):
            _problem_list(summary, record, payload["problems"], changes)
        if payload.get("procedures"):
            changes["procedures"] = _procedures(summary.procedures, payload["procedures"])
        carried = carried_results(record)
        if carried:
            _fold_results(summary, entry, carried, changes)
        handler = _HANDLERS.get(record["event_type"])
        if handler is not None:
            handler(summary, entry, record, payload, changes)
    return changes


# Demographics.

_build_name = builder(PersonName)
_build_address = builder(Address)
_build_telecom = builder(Telecom)
_build_identifier = builder(Identifier)


def patient_changes(summary: PatientSummary, record: Record, changes: dict[str, Any]) -> None:
    """Into ``changes``: what the patient record of ``record`` changes (demographics,
    identifiers)."""
    patient = record["patient"]
    merge = None
    if record["event_type"] == "PATIENT_MERGED":
        merge = (record.get("payload") or {}).get("merge")
    if not merge and (patient is summary.seen_patient or patient == summary.seen_patient):
        return
    changes["seen_patient"] = patient
    seen_name, seen_address, seen_phones = summary.seen_parts
    name = patient.get("name")
    if name and name != seen_name and (name.get("family") or name.get("given")):
        seen_name = name
        built = _build_name(name)
        if built != summary.name:
            changes["name"] = built
    for part in ("birth_date", "sex", "deceased", "deceased_at"):
        value = patient.get(part)
        if value is not None and value != getattr(summary, part):
            changes[part] = value
    address = patient.get("address")
    if address and address != seen_address:
        seen_address = address
        built_address = tuple(map(_build_address, address))
        if built_address != summary.address:
            changes["address"] = built_address
    phones = patient.get("phones")
    if phones and phones != seen_phones:
        seen_phones = phones
        built_phones = tuple(map(_build_telecom, phones))
        if built_phones != summary.phones:
            changes["phones"] = built_phones
    changes["seen_parts"] = (seen_name, seen_address, seen_phones)
    identifiers = patient.get("identifiers") or ()
    if merge:
        identifiers = [*identifiers, *(merge.get("prior_identifiers") or ())]
    known = summary.identifiers
    have = {(i.value, i.authority, i.type) for i in known}
    new = []
    for raw in identifiers:
        triple = (raw.get("value"), raw.get("authority"), raw.get("type"))
        if triple not in have:
            have.add(triple)
            new.append(_build_identifier(raw))
    if new:
        changes["identifiers"] = tuple(sorted((*known, *new), key=_identifier_order))


def _identifier_order(identifier: Identifier) -> tuple[str, str, str]:
    return (identifier.authority or "", identifier.value, identifier.type or "")


def _key_of(item: Record) -> str | None:
    name = item.get("code") or item.get("display")
    return name.casefold() if name else None


def _once(known: tuple[Any, ...], found: Iterable[Record], cls: type) -> tuple[Any, ...]:
    """``known`` with each of ``found`` once: a new one at the end, a known one (same code,
    else the same name) replaced where it stands by its latest form."""
    items = list(known)
    index = {_key_of_value(v): i for i, v in enumerate(items)}
    build_one = builder(cls)
    for raw in found:
        value = build_one(raw)
        key = _key_of(raw)
        if key is not None and key in index:
            items[index[key]] = value
        else:
            index[key if key is not None else object()] = len(items)
            items.append(value)
    return tuple(items)


def _key_of_value(value: Any) -> Any:
    name = value.code or value.display
    return name.casefold() if name else object()


# PRB-14 life cycle statuses that take a problem off the list (FHIR condition-clinical's
# inactive ones); a resolution date (PRB-9) does too.
_INACTIVE_PROBLEM: Final = frozenset({"inactive", "remission", "resolved"})


def _problem_list(summary, record: Record, problems: Iterable[Record], changes) -> None:
    """The problems of a problem message (PPR): each added or updated one on the list (by
    code, else name, as a diagnosis: its onset the date), each deleted, resolved or
    inactive one off it."""
    known = changes.get("problems", summary.problems)
    removing = record["event_type"] == "PROBLEM_REMOVED"
    listed, dropped = [], set()
    for raw in problems:
        status = (raw.get("status") or "").casefold()
        off = raw.get("action") == "DE" or status in _INACTIVE_PROBLEM or raw.get("resolved_at")
        if removing or off:
            key = _key_of(raw)
            if key is not None:
                dropped.add(key)
            continue
        listed.append(
            {
                "code": raw.get("code"),
                "code_system": raw.get("code_system"),
                "display": raw.get("display"),
                "diagnosed_at": raw.get("onset_at") or raw.get("established_at"),
            }
        )
    items = tuple(v for v in known if _key_of_value(v) not in dropped)
    if listed:
        items = _once(items, listed, Diagnosis)
    if items != known:
        changes["problems"] = items


def _deleted(item: Record) -> bool:
    return (item.get("action") or "").upper() == "D"


def _allergies(known: tuple[Allergy, ...], found: Iterable[Record]) -> tuple[Allergy, ...]:
    """``known`` with ``found`` once each (:func:`_once`), those deleted (IAM-6 D) removed."""
    found = list(found)
    gone = {key for key in (_key_of(a) for a in found if _deleted(a)) if key is not None}
    kept = [a for a in found if not _deleted(a)]
    items = _once(known, kept, Allergy) if kept else known
    if gone:
        items = tuple(a for a in items if _key_of_value(a) not in gone)
    return items


_build_procedure = builder(Procedure)


def _procedure_key(procedure: Procedure) -> tuple[str, ...]:
    """One procedure: the sender's id of it (PR1-19), else its code (or description) and time."""
    if procedure.identifier:
        return ("id", procedure.identifier)
    name = procedure.code or procedure.description or procedure.display or ""
    return ("code", name.casefold(), procedure.performed_at or "")


def _procedures(known: tuple[Procedure, ...], found: Iterable[Record]) -> tuple[Procedure, ...]:
    """``known`` with each of ``found`` once, in its latest form; one deleted (PR1-20 D)
    removed."""
    items = list(known)
    for raw in found:
        procedure = _build_procedure(raw)
        key = _procedure_key(procedure)
        where = next((i for i, p in enumerate(items) if _procedure_key(p) == key), None)
        if _deleted(raw):
            if where is not None:
                del items[where]
        elif where is None:
            items.append(procedure)
        else:
            items[where] = procedure
    return tuple(items)


# The stay.

_build_encounter = builder(Encounter)

_CANCELS: Final = {
    "ADMISSION_CANCELLED": frozenset({"admit", "register"}),
    "TRANSFER_CANCELLED": frozenset({"transfer"}),
    "DISCHARGE_CANCELLED": frozenset({"discharge"}),
}


def _encounter(record: Record) -> Encounter | None:
    raw = record.get("encounter")
    return _build_encounter(raw) if raw else None


def _joined(old: Encounter | None, new: Encounter | None) -> Encounter | None:
    """The encounter ``new`` tells of, with what ``old`` knew that ``new`` leaves out (when
    they are the same visit)."""
    if old is None or new is None:
        return new or old
    if old.visit_number and new.visit_number and old.visit_number != new.visit_number:
        return new
    values = {
        f: getattr(new, f) if getattr(new, f) is not None else getattr(old, f)
        for f in _ENCOUNTER_FIELDS
    }
    return Encounter(**values)


_ENCOUNTER_FIELDS: Final = tuple(f.name for f in fields(Encounter))


def _move(
    summary: PatientSummary,
    kind: str,
    stay: Stay | None,
    changes: dict[str, Any],
) -> None:
    movement = Movement(kind, summary.stay, stay.event_id if stay else "")
    changes["movements"] = (*summary.movements[-(MOVEMENT_LIMIT - 1) :], movement)
    changes["stay"] = stay


def _stay_event(status: str, kind: str, *, location_from_event: bool = True):
    def handle(summary, entry, record, payload, changes) -> None:
        encounter = _encounter(record)
        if encounter is None and kind in ("register", "preadmit"):
            return  # a person added or registered without a visit
        old = summary.stay
        same = old is not None and old.status != "discharged"
        joined = _joined(old.encounter if same else None, encounter)
        if joined is not None and kind == "admit" and joined.admitted_at is None:
            joined = _with(joined, admitted_at=entry.occurred_at)
        location = (encounter.location if encounter else None) or (
            old.location if same and location_from_event else None
        )
        if kind == "discharge":
            if joined is not None and joined.discharged_at is None:
                joined = _with(joined, discharged_at=entry.occurred_at)
            location = None
        _move(
            summary,
            kind,
            Stay(status, joined, location, entry.occurred_at, entry.event_id),
            changes,
        )

    return handle


def _with(encounter: Encounter, **values: Any) -> Encounter:
    return Encounter(**{f: values.get(f, getattr(encounter, f)) for f in _ENCOUNTER_FIELDS})


_CLASS_CHANGES: Final = {"A06": "admitted", "A07": "registered"}


def _updated(summary, entry, record, payload, changes) -> None:
    """A06/A07 change the patient's class (a movement); A08 and the like update the visit
    of a stay that is still open."""
    trigger = (record.get("source") or {}).get("trigger_event")
    encounter = _encounter(record)
    if encounter is None:
        return
    status = _CLASS_CHANGES.get(trigger or "")
    old = summary.stay
    if status is not None:
        same = old is not None and old.status != "discharged"
        joined = _joined(old.encounter if same else None, encounter)
        location = encounter.location or (old.location if same else None)
        _move(
            summary,
            "class",
            Stay(status, joined, location, entry.occurred_at, entry.event_id),
            changes,
        )
        return
    if old is None or old.status == "discharged":
        return
    joined = _joined(old.encounter, encounter)
    location = encounter.location or old.location
    if joined != old.encounter or location != old.location:
        changes["stay"] = Stay(old.status, joined, location, old.since, old.event_id)


def _cancelled(summary, entry, record, payload, changes) -> None:
    kinds = _CANCELS[record["event_type"]]
    if (record.get("source") or {}).get("trigger_event") == "A38":
        kinds = frozenset({"preadmit"})
    movements = summary.movements
    for i in range(len(movements) - 1, -1, -1):
        if movements[i].kind in kinds:
            changes["movements"] = movements[:i]
            changes["stay"] = movements[i].before
            return


# Results.

_new_result = constructor(Result)
_new_series = constructor(ResultSeries)


PATIENT_OBSERVATIONS: Final = frozenset(
    {
        "PATIENT_REGISTERED",
        "PATIENT_PREADMITTED",
        "PATIENT_ADMITTED",
        "PATIENT_TRANSFERRED",
        "PATIENT_DISCHARGED",
        "PATIENT_UPDATED",
        "ADMISSION_CANCELLED",
        "TRANSFER_CANCELLED",
        "DISCHARGE_CANCELLED",
        "PATIENT_DEPARTED",
        "PATIENT_ARRIVED",
        "ADMISSION_PENDING",
        "TRANSFER_PENDING",
        "DISCHARGE_PENDING",
        "PENDING_ADMISSION_CANCELLED",
        "PENDING_TRANSFER_CANCELLED",
        "PENDING_DISCHARGE_CANCELLED",
        "ALLERGIES_UPDATED",
        "APPOINTMENT_BOOKED",
        "APPOINTMENT_RESCHEDULED",
        "APPOINTMENT_MODIFIED",
        "APPOINTMENT_CANCELLED",
        "APPOINTMENT_DELETED",
        "APPOINTMENT_NO_SHOW",
    }
)
"""Event types whose observations are the patient's own (an ADT's vital signs, height and
weight; an SIU's), results as a lab's are; those of orders, medications and immunizations
are not (questions at order entry, a vaccine's funding)."""


def carried_results(record: dict) -> list[dict]:
    """The results a message other than a result report carries about the patient: an ADT's
    or SIU's observations (vital signs, height, weight), and a VXU's patient-level ones
    (those of no vaccine: presumed immunity, weight) — not a vaccine's own, such as its
    funding eligibility."""
    observations = (record.get("payload") or {}).get("observations") or ()
    if record["event_type"] in PATIENT_OBSERVATIONS:
        return list(observations)
    if record["event_type"] == "IMMUNIZATION_RECORDED":
        return [o for o in observations if o.get("order_index") is None]
    return []


def _results(summary, entry, record, payload, changes) -> None:
    _fold_results(summary, entry, payload.get("observations") or (), changes)
    # Final results complete the order they answer.
    _close_orders(summary, payload, _RESULTED, changes)


def _fold_results(summary, entry, observations, changes) -> None:
    if observations:
        results = dict(summary.results)
        for obs in observations:
            code = obs.get("code") or obs.get("local_code") or obs.get("display")
            if not code:
                continue
            result = _new_result(
                obs.get("value"),
                obs.get("units"),
                tuple(obs.get("abnormal_flags") or ()),
                obs.get("observed_at"),
                entry.event_id,
                obs.get("status"),
                obs.get("reference_range"),
                obs.get("value_type"),
            )
            series = results.get(code)
            if series is None:
                results[code] = _new_series(
                    code, obs.get("code_system"), obs.get("display"), (result,), 1
                )
            else:
                results[code] = _new_series(
                    code,
                    obs.get("code_system") or series.code_system,
                    obs.get("display") or series.display,
                    (*series.history[-(HISTORY_LIMIT - 1) :], result),
                    series.count + 1,
                )
        changes["results"] = results


# Orders and medications.

_CLOSED: Final = frozenset({"CA", "CM", "DC", "ER", "RP"})  # ORC-5 (table 0038)
_RESULTED: Final = frozenset({"F", "C", "X", "CA", "CM", "DC"})  # OBR-25 (table 0123) too
_build_order = builder(Order)
_build_medication = builder(Medication)


def _order_id(order: Record) -> str | None:
    return order.get("placer_order_number") or order.get("filler_order_number")


def _find(active: Mapping[str, ActiveOrder], order: Record) -> str | None:
    """The id under which ``active`` holds ``order`` (by placer, else filler number)."""
    placer, filler = order.get("placer_order_number"), order.get("filler_order_number")
    if placer and placer in active:
        return placer
    if filler:
        if filler in active:
            return filler
        for order_id, known in active.items():
            if known.order.filler_order_number == filler:
                return order_id
    return None


def _close(summary, order: Record, changes) -> None:
    """``order`` is no longer active (an order or a medication order)."""
    for part in ("orders", "medications"):
        active = changes.get(part, getattr(summary, part))
        found = _find(active, order)
        if found is not None:
            active = dict(active)
            del active[found]
            changes[part] = active


def _close_orders(summary, payload, closing: frozenset[str], changes) -> None:
    for order in payload.get("orders") or ():
        if order.get("status") in closing:
            _close(summary, order, changes)


def _placed(summary, entry, record, payload, changes, *, part: str = "orders") -> None:
    active = dict(changes.get(part, getattr(summary, part)))
    medications = tuple(map(_build_medication, payload.get("medications") or ()))
    for index, order in enumerate(payload.get("orders") or ()):
        if order.get("status") in _CLOSED:
            continue
        order_id = _order_id(order) or f"{entry.event_id}#{index}"
        active[order_id] = ActiveOrder(
            order_id,
            _build_order(order),
            order.get("status"),
            order.get("ordered_at") or entry.occurred_at,
            entry.event_id,
            medications if part == "medications" else (),
        )
    changes[part] = active


def _medication_ordered(summary, entry, record, payload, changes) -> None:
    _placed(summary, entry, record, payload, changes, part="medications")


def _order_changed(summary, entry, record, payload, changes) -> None:
    _close_orders(summary, payload, _CLOSED, changes)
    for order in payload.get("orders") or ():
        if order.get("status") in _CLOSED:
            continue
        for part in ("orders", "medications"):
            active = changes.get(part, getattr(summary, part))
            found = _find(active, order)
            if found is not None:
                known = active[found]
                active = dict(active)
                active[found] = ActiveOrder(
                    known.order_id,
                    _build_order(order),
                    order.get("status") or known.status,
                    known.placed_at,
                    entry.event_id,
                    known.medications,
                    known.last_administered_at,
                    known.last_dispensed_at,
                )
                changes[part] = active
                break
        else:  # a change of an order never seen placed: it is active all the same
            _placed(summary, entry, record, {"orders": [order]}, changes)


def _order_cancelled(summary, entry, record, payload, changes) -> None:
    for order in payload.get("orders") or ():
        _close(summary, order, changes)


def _administered(summary, entry, record, payload, changes) -> None:
    given = [m.get("administered_at") for m in payload.get("medications") or ()]
    when = next((g for g in given if g), None) or entry.occurred_at
    active = summary.medications
    for order in payload.get("orders") or ():
        found = _find(active, order)
        if found is not None:
            known = active[found]
            active = dict(active)
            active[found] = ActiveOrder(
                known.order_id,
                known.order,
                known.status,
                known.placed_at,
                entry.event_id,
                known.medications,
                when,
                known.last_dispensed_at,
            )
    if active is not summary.medications:
        changes["medications"] = active


def _dispensed(summary, entry, record, payload, changes) -> None:
    """A dispense: its medication order was last dispensed then (an order never seen placed
    is active all the same, with the medications dispensed); one completed or cancelled
    (ORC-5) is no longer active."""
    given = [m.get("dispensed_at") for m in payload.get("medications") or ()]
    when = next((g for g in given if g), None) or entry.occurred_at
    _close_orders(summary, payload, _CLOSED, changes)
    dispensed = [o for o in payload.get("orders") or () if o.get("status") not in _CLOSED]
    known_before = changes.get("medications", summary.medications)
    unknown = [o for o in dispensed if _find(known_before, o) is None]
    if unknown:
        one = {**payload, "orders": unknown}
        _placed(summary, entry, record, one, changes, part="medications")
    active = dict(changes.get("medications", summary.medications))
    statuses: dict[str, str | None] = {}
    for order in dispensed:
        found = _find(active, order)
        if found is not None:
            statuses[found] = order.get("status")
    for order_id in active:  # those just placed without a number of their own
        if order_id.startswith(f"{entry.event_id}#"):
            statuses.setdefault(order_id, None)
    for order_id, status in statuses.items():
        known = active[order_id]
        active[order_id] = ActiveOrder(
            known.order_id,
            known.order,
            status or known.status,
            known.placed_at,
            entry.event_id,
            known.medications,
            known.last_administered_at,
            when,
        )
    if statuses:
        changes["medications"] = active


# Immunizations, appointments, documents.


def _immunized(summary, entry, record, payload, changes) -> None:
    items = list(summary.immunizations)
    where = {(v.code, v.code_system, v.administered_at): i for i, v in enumerate(items)}
    for raw in payload.get("medications") or ():
        vaccine = _build_medication(raw)
        key = (vaccine.code, vaccine.code_system, vaccine.administered_at)
        if key in where:
            items[where[key]] = vaccine
        else:
            where[key] = len(items)
            items.append(vaccine)
    changes["immunizations"] = tuple(items)


_APPOINTMENT_STATUS: Final = {
    "APPOINTMENT_BOOKED": "booked",
    "APPOINTMENT_RESCHEDULED": "rescheduled",
    "APPOINTMENT_MODIFIED": "modified",
    "APPOINTMENT_CANCELLED": "cancelled",
    "APPOINTMENT_NO_SHOW": "no-show",
}
_build_appointment = builder(Appointment)


def _appointment(summary, entry, record, payload, changes) -> None:
    raw = payload.get("appointment")
    if not raw:
        return
    key = raw.get("filler_id") or raw.get("placer_id") or entry.event_id
    appointments = dict(summary.appointments)
    if record["event_type"] == "APPOINTMENT_DELETED":  # booked in error: never was
        if appointments.pop(key, None) is not None:
            changes["appointments"] = appointments
        return
    appointments[key] = BookedAppointment(
        _build_appointment(raw), _APPOINTMENT_STATUS[record["event_type"]], entry.event_id
    )
    changes["appointments"] = appointments


_build_document = builder(Document)


def _document(summary, entry, record, payload, changes) -> None:
    raw = payload.get("document")
    if not raw:
        return
    key = raw.get("document_id") or entry.event_id
    documents = dict(summary.documents)
    documents[key] = FiledDocument(
        _build_document({**raw, "content": None}), raw.get("status"), entry.event_id
    )
    changes["documents"] = documents


# Alerts.


def _alert(summary: PatientSummary, record: Record, changes: dict[str, Any]) -> None:
    alert = alert_from_record(record)
    alerts = dict(summary.alerts)
    status = alert.status.value
    if status == "RESOLVED":
        alerts.pop(alert.alert_id, None)
    elif status == "ACKNOWLEDGED":
        known = alerts.get(alert.alert_id)
        alerts[alert.alert_id] = OpenAlert(
            known.alert if known else alert, True, alert.changed_by, alert.changed_at
        )
    else:
        known = alerts.get(alert.alert_id)
        alerts[alert.alert_id] = known if known and known.acknowledged else OpenAlert(alert)
    changes["alerts"] = alerts


_HANDLERS: Final = {
    "PATIENT_PREADMITTED": _stay_event("preadmitted", "preadmit"),
    "PATIENT_REGISTERED": _stay_event("registered", "register"),
    "PATIENT_ADMITTED": _stay_event("admitted", "admit", location_from_event=False),
    "PATIENT_TRANSFERRED": _stay_event("admitted", "transfer"),
    "PATIENT_DISCHARGED": _stay_event("discharged", "discharge"),
    "PATIENT_UPDATED": _updated,
    "ADMISSION_CANCELLED": _cancelled,
    "TRANSFER_CANCELLED": _cancelled,
    "DISCHARGE_CANCELLED": _cancelled,
    "OBSERVATIONS_REPORTED": _results,
    "ORDER_PLACED": _placed,
    "ORDER_STATUS_CHANGED": _order_changed,
    "ORDER_CANCELLED": _order_cancelled,
    "MEDICATION_ORDERED": _medication_ordered,
    "MEDICATION_ADMINISTERED": _administered,
    "MEDICATION_DISPENSED": _dispensed,
    "IMMUNIZATION_RECORDED": _immunized,
    "APPOINTMENT_BOOKED": _appointment,
    "APPOINTMENT_RESCHEDULED": _appointment,
    "APPOINTMENT_MODIFIED": _appointment,
    "APPOINTMENT_CANCELLED": _appointment,
    "APPOINTMENT_DELETED": _appointment,
    "APPOINTMENT_NO_SHOW": _appointment,
    "DOCUMENT_ADDED": _document,
    "DOCUMENT_UPDATED": _document,
}

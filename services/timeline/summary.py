"""The patient's current state, folded from the timeline's entries in clinical order.

``fold(entries)`` sorts the entries into clinical order and applies them one by one;
``apply(summary, entry)`` adds one more entry (the live case).  Both skip an entry whose
event id was folded already, so a resent message changes nothing, and both give exactly
the summary that folding all the entries gives.

Entries often arrive a little out of clinical order (a result reported an hour after the
specimen was taken, after the patient's transfer was recorded).  A summary remembers its
last :data:`REWIND_LIMIT` entries and the state before each, so :func:`apply` takes a
late entry too: in its place when it changes nothing that the later entries change (a late
potassium after a transfer), else by going back to the state before it and applying it and
the later ones again.  An entry older than all that (or any late entry for a summary
rebuilt from storage, which remembers nothing) makes :func:`apply` raise
:class:`EntryOutOfOrder`: the store then folds the patient's entries again, as it does
when a merge brings another record's entries.

What the summary holds, and how each part follows the events:

- demographics (name, birth date, sex, address, phones, deceased): the latest value an
  event carries (an event without one keeps what was known); identifiers: every
  identifier of every event, and of every record merged in (MRG-1);
- ``stay``: admit → admitted there, transfer → the new location, discharge → out
  (``location`` None, the encounter kept); pre-admit and registration with a visit;
  A06/A07 turn an outpatient into an inpatient and back.  A cancel undoes the most
  recent movement it names and everything after it: A11 the admission (or the
  registration), A38 the pre-admission, A12 the transfer, A13 the discharge;
- allergies and problems: each one once (by code, else by name), its latest form;
- ``results``: per observation code its latest result and the last
  :data:`HISTORY_LIMIT` results (the whole history is the timeline filtered by code);
- ``orders`` and ``medications``: active orders, from placed until cancelled, completed
  (ORC-5 CM/CA/DC/ER/RP) or finally resulted (OBR-25 F/C/X); a medication order shows
  when it was last given;
- ``immunizations`` (each vaccine and time once), ``appointments`` (by appointment id, with
  booked/rescheduled/modified/cancelled), ``documents`` (by document id, without content);
- ``alerts``: raised and not resolved; an acknowledged alert stays open, marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Final

from hl7bus.errors import Hl7BusError
from hl7bus.events.alerts import ClinicalAlert, alert_from_record
from hl7bus.events.model import (
    Address,
    Allergy,
    Appointment,
    Diagnosis,
    Document,
    Encounter,
    Identifier,
    Location,
    Medication,
    Order,
    PersonName,
    Telecom,
)
from hl7bus.services.timeline.entries import Entry
from hl7bus.services.timeline.order import OrderKey
from hl7bus.services.timeline.parts import builder, constructor
from hl7bus.services.timeline.persistent import IdSet

HISTORY_LIMIT: Final = 20
"""Results kept per observation code in the summary (the latest last)."""

REWIND_LIMIT: Final = 16
"""Entries a summary remembers (with the state before each) to take a late entry."""

MOVEMENT_LIMIT: Final = 16
"""Movements of the stay kept so that a cancel can undo them."""

Record = Mapping[str, Any]


class EntryOutOfOrder(Hl7BusError):
    """An entry older than everything the summary remembers: fold the patient's entries
    again."""


@dataclass(frozen=True, slots=True)
class Result:
    value: str | None
    units: str | None
    flags: tuple[str, ...]
    observed_at: str | None  # OBX-14 (else OBR-7), as sent
    event_id: str
    status: str | None = None  # OBX-11: F final, C corrected, P preliminary, …
    reference_range: str | None = None
    value_type: str | None = None


@dataclass(frozen=True, slots=True)
class ResultSeries:
    """The results of one observation code, oldest first."""

    code: str
    code_system: str | None
    display: str | None
    history: tuple[Result, ...]  # at most HISTORY_LIMIT, the latest last
    count: int  # every result of this code folded

    @property
    def latest(self) -> Result:
        return self.history[-1]


@dataclass(frozen=True, slots=True)
class Stay:
    """The patient's current (or last) encounter and where they are."""

    status: str  # "preadmitted", "registered", "admitted" or "discharged"
    encounter: Encounter | None
    location: Location | None  # where the patient is now: None once discharged
    since: str | None  # when the last movement happened
    event_id: str  # the event of the last movement


@dataclass(frozen=True, slots=True)
class Movement:
    """One admission, transfer, discharge… and the stay before it (so a cancel can undo
    it)."""

    kind: str  # "preadmit", "register", "admit", "transfer", "discharge", "class"
    before: Stay | None
    event_id: str


@dataclass(frozen=True, slots=True)
class ActiveOrder:
    order_id: str  # the placer order number, else the filler's
    order: Order
    status: str | None  # ORC-5 (or OBR-25) as last sent
    placed_at: str | None
    event_id: str  # the latest event about it
    medications: tuple[Medication, ...] = ()  # a medication order's encoded medications
    last_administered_at: str | None = None


@dataclass(frozen=True, slots=True)
class BookedAppointment:
    appointment: Appointment
    status: str  # "booked", "rescheduled", "modified" or "cancelled"
    event_id: str


@dataclass(frozen=True, slots=True)
class FiledDocument:
    document: Document  # without its content (the entry's event has it)
    status: str | None  # TXA-17 completion status
    event_id: str


@dataclass(frozen=True, slots=True)
class OpenAlert:
    alert: ClinicalAlert  # as raised
    acknowledged: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: str | None = None


@dataclass(frozen=True, slots=True)
class PatientSummary:
    """One patient's current state.  Build it with :func:`fold` or :func:`apply`."""

    keys: tuple[str, ...] = ()  # the patient keys of the entries folded, as sent; sorted
    name: PersonName | None = None
    birth_date: str | None = None
    sex: str | None = None
    address: tuple[Address, ...] = ()
    phones: tuple[Telecom, ...] = ()
    identifiers: tuple[Identifier, ...] = ()  # sorted by authority, value, type
    deceased: bool | None = None
    deceased_at: str | None = None
    stay: Stay | None = None
    movements: tuple[Movement, ...] = ()  # the last MOVEMENT_LIMIT, for cancels
    allergies: tuple[Allergy, ...] = ()
    problems: tuple[Diagnosis, ...] = ()
    results: Mapping[str, ResultSeries] = field(default_factory=dict)  # by code
    orders: Mapping[str, ActiveOrder] = field(default_factory=dict)  # by order id
    medications: Mapping[str, ActiveOrder] = field(default_factory=dict)  # by order id
    immunizations: tuple[Medication, ...] = ()
    appointments: Mapping[str, BookedAppointment] = field(default_factory=dict)
    documents: Mapping[str, FiledDocument] = field(default_factory=dict)
    alerts: Mapping[str, OpenAlert] = field(default_factory=dict)  # open, by alert id
    event_count: int = 0  # distinct entries folded
    last_event_at: str | None = None  # occurred_at (else recorded_at) of the latest entry
    last_order: OrderKey | None = None  # the clinical-order key of the latest entry
    event_ids: IdSet = field(default_factory=IdSet, compare=False, repr=False)
    # The patient record last applied, and the raw name, addresses and phones the values
    # above were built from: an event that repeats them builds nothing.
    seen_patient: Record | None = field(default=None, compare=False, repr=False)
    seen_parts: tuple[Any, Any, Any] = field(default=(None, None, None), compare=False, repr=False)
    # The last REWIND_LIMIT entries, each with the summary before it (without its own
    # memory; None once a late entry was inserted before it), and the order of the latest
    # entry no longer remembered.
    recent: tuple[tuple[Entry, PatientSummary | None], ...] = field(
        default=(), compare=False, repr=False
    )
    forgotten: OrderKey | None = field(default=None, compare=False, repr=False)


def fold(entries: Iterable[Entry]) -> PatientSummary:
    """The summary of a patient's entries, in any order (sorted into clinical order here);
    repeated event ids count once."""
    summary = PatientSummary()
    for entry in sorted(entries, key=_order):
        summary = apply(summary, entry)
    return summary


def can_apply(summary: PatientSummary, entry: Entry) -> bool:
    """Whether :func:`apply` takes ``entry`` (rather than raise :class:`EntryOutOfOrder`)."""
    return _plan(summary, entry) is not None


def apply(summary: PatientSummary, entry: Entry) -> PatientSummary:
    """``summary`` with one more entry: the summary of all its entries and this one.

    An entry already folded (same event id) gives ``summary`` itself; one older than
    everything the summary remembers raises :class:`EntryOutOfOrder`."""
    plan = _plan(summary, entry)
    if plan is _APPEND:
        return _append(summary, entry)
    if plan is _DUPLICATE:
        return summary
    if plan is None:
        raise EntryOutOfOrder(
            f"A {entry.event_type} entry sorts before the entries this summary remembers: "
            "fold the patient's entries again."
        )
    way, i, j = plan
    if way == "insert":
        return _insert(summary, entry, i)
    return _rewind(summary, entry, i, j)


_APPEND: Final = "append"
_DUPLICATE: Final = "duplicate"


def _plan(summary: PatientSummary, entry: Entry) -> Any:
    """How ``entry`` goes in: appended, a duplicate, inserted in its place (a late entry
    that touches nothing the later ones touch), by rewinding (to the last state remembered
    before it, then applying again), or not at all (None)."""
    if entry.event_id in summary.event_ids:
        return _DUPLICATE
    last = summary.last_order
    if last is None or entry.order > last:
        return _APPEND
    recent = summary.recent
    # The memory must hold every entry after this one: the newest, and none forgotten after.
    if not recent or recent[-1][0].order != last:
        return None
    if summary.forgotten is not None and entry.order < summary.forgotten:
        return None
    i = next(n for n, (later, _) in enumerate(recent) if later.order > entry.order)
    if _commutes(summary, entry, recent[i:]):
        return ("insert", i, None)
    for j in range(i, -1, -1):
        if recent[j][1] is not None:
            return ("rewind", i, j)
    return None


def _append(summary: PatientSummary, entry: Entry) -> PatientSummary:
    """``summary`` with ``entry``, which sorts after everything in it."""
    changes = _content(summary, entry)
    changes["last_event_at"] = entry.occurred_at or entry.recorded_at
    changes["last_order"] = entry.order
    _remember(summary, (*summary.recent, (entry, _forgetful(summary))), changes)
    return _evolve(summary, changes)


def _insert(summary: PatientSummary, entry: Entry, i: int) -> PatientSummary:
    """``summary`` with the late ``entry`` applied where it stands (it commutes with the
    entries after it): the states remembered before those no longer hold."""
    changes = _content(summary, entry)
    recent = summary.recent
    stale = tuple((later, None) for later, _ in recent[i:])
    _remember(summary, (*recent[:i], (entry, recent[i][1]), *stale), changes)
    return _evolve(summary, changes)


def _rewind(summary: PatientSummary, entry: Entry, i: int, j: int) -> PatientSummary:
    """Back to the state before ``recent[j]``, then ``recent[j:i]``, ``entry`` and the rest
    applied again in clinical order."""
    recent = summary.recent
    state = _evolve(recent[j][1], {"recent": recent[:j], "forgotten": summary.forgotten})
    for later, _ in recent[j:i]:
        state = _append(state, later)
    state = _append(state, entry)
    for later, _ in recent[i:]:
        state = _append(state, later)
    return state


def _remember(summary: PatientSummary, recent: tuple, changes: dict[str, Any]) -> None:
    if len(recent) > REWIND_LIMIT:
        changes["forgotten"] = recent[-REWIND_LIMIT - 1][0].order  # the newest one dropped
        recent = recent[-REWIND_LIMIT:]
    changes["recent"] = recent


def _content(summary: PatientSummary, entry: Entry) -> dict[str, Any]:
    """What ``entry`` changes in ``summary`` but its place in time."""
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
        _patient(summary, record, changes)
        payload = record.get("payload") or {}
        if payload.get("allergies"):
            changes["allergies"] = _once(summary.allergies, payload["allergies"], Allergy)
        if payload.get("diagnoses"):
            changes["problems"] = _once(summary.problems, payload["diagnoses"], Diagnosis)
        handler = _HANDLERS.get(record["event_type"])
        if handler is not None:
            handler(summary, entry, record, payload, changes)
    return changes


def _commutes(summary: PatientSummary, entry: Entry, later: tuple) -> bool:
    """Whether ``entry`` and the ``later`` entries change disjoint parts of the summary (and
    ``entry`` changes no demographics), so ``entry`` may be applied after them."""
    touched = _touches(entry)
    for other, _ in later:
        if not touched.isdisjoint(_touches(other)):
            return False
    if entry.is_alert:
        return True
    changes: dict[str, Any] = {}
    _patient(summary, entry.event, changes)
    return changes.keys() <= _CACHES


_CACHES: Final = frozenset({"seen_patient", "seen_parts"})

_STAY_TYPES: Final = frozenset(
    {
        "PATIENT_PREADMITTED",
        "PATIENT_REGISTERED",
        "PATIENT_ADMITTED",
        "PATIENT_TRANSFERRED",
        "PATIENT_DISCHARGED",
        "PATIENT_UPDATED",
        "ADMISSION_CANCELLED",
        "TRANSFER_CANCELLED",
        "DISCHARGE_CANCELLED",
    }
)
_ORDER_TYPES: Final = frozenset(
    {
        "OBSERVATIONS_REPORTED",
        "ORDER_PLACED",
        "ORDER_CANCELLED",
        "ORDER_STATUS_CHANGED",
        "MEDICATION_ORDERED",
        "MEDICATION_ADMINISTERED",
    }
)


@lru_cache(maxsize=4096)  # a late entry checks the same later entries again and again
def _touches(entry: Entry) -> frozenset[tuple[str, ...]]:
    """The parts of a summary that ``entry`` may change (demographics aside): two entries
    that touch none in common give the same summary in either order."""
    record = entry.event
    if entry.is_alert:
        return frozenset({("alert", record["alert_id"])})
    event_type = record["event_type"]
    payload = record.get("payload") or {}
    found: set[tuple[str, ...]] = set()
    if payload.get("allergies"):
        found.add(("allergies",))
    if payload.get("diagnoses"):
        found.add(("problems",))
    if event_type in _STAY_TYPES:
        found.add(("stay",))
    if event_type == "OBSERVATIONS_REPORTED":
        for obs in payload.get("observations") or ():
            found.add(("result", obs.get("code") or obs.get("local_code") or obs.get("display")))
    if event_type in _ORDER_TYPES:
        for order in payload.get("orders") or ():
            found.add(("order", order.get("placer_order_number")))
            found.add(("order", order.get("filler_order_number")))
        found.discard(("order", None))
    elif event_type == "IMMUNIZATION_RECORDED":
        found.add(("immunizations",))
    elif event_type.startswith("APPOINTMENT_"):
        raw = payload.get("appointment") or {}
        found.add(("appointment", raw.get("filler_id") or raw.get("placer_id") or entry.event_id))
    elif event_type.startswith("DOCUMENT_"):
        raw = payload.get("document") or {}
        found.add(("document", raw.get("document_id") or entry.event_id))
    return frozenset(found)


def _forgetful(summary: PatientSummary) -> PatientSummary:
    """``summary`` without its memory of recent entries (which would otherwise keep every
    earlier state alive)."""
    return _evolve(summary, {"recent": ()}) if summary.recent else summary


def _order(entry: Entry) -> OrderKey:
    return entry.order


_FIELDS: Final = tuple(f.name for f in fields(PatientSummary))


def _write_evolve() -> Any:
    """``_evolve(summary, changes)``: a copy of ``summary`` with ``changes``, written out
    once (a frozen dataclass's ``replace`` is several times slower, and it runs per event)."""
    setters = {name: getattr(PatientSummary, name).__set__ for name in _FIELDS}
    lines = ["def _evolve(s, c):", "    n = new(cls)"]
    lines += [f"    set_{name}(n, s.{name})" for name in _FIELDS]
    lines += [
        "    for name, value in c.items():",
        "        setters[name](n, value)",
        "    return n",
    ]
    namespace: dict[str, Any] = {
        "new": object.__new__,
        "cls": PatientSummary,
        "setters": setters,
        **{f"set_{name}": setter for name, setter in setters.items()},
    }
    exec(compile("\n".join(lines), "<PatientSummary evolve>", "exec"), namespace)
    return namespace["_evolve"]


_evolve = _write_evolve()


# Demographics.

_build_name = builder(PersonName)
_build_address = builder(Address)
_build_telecom = builder(Telecom)
_build_identifier = builder(Identifier)


def _patient(summary: PatientSummary, record: Record, changes: dict[str, Any]) -> None:
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


def _results(summary, entry, record, payload, changes) -> None:
    observations = payload.get("observations") or ()
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
    # Final results complete the order they answer.
    _close_orders(summary, payload, _RESULTED, changes)


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


def _close_orders(summary, payload, closing: frozenset[str], changes) -> None:
    for order in payload.get("orders") or ():
        if order.get("status") not in closing:
            continue
        for part in ("orders", "medications"):
            active = changes.get(part, getattr(summary, part))
            found = _find(active, order)
            if found is not None:
                active = dict(active)
                del active[found]
                changes[part] = active


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
                )
                changes[part] = active
                break
        else:  # a change of an order never seen placed: it is active all the same
            _placed(summary, entry, record, {"orders": [order]}, changes)


def _order_cancelled(summary, entry, record, payload, changes) -> None:
    for order in payload.get("orders") or ():
        for part in ("orders", "medications"):
            active = changes.get(part, getattr(summary, part))
            found = _find(active, order)
            if found is not None:
                active = dict(active)
                del active[found]
                changes[part] = active


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
            )
    if active is not summary.medications:
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
}
_build_appointment = builder(Appointment)


def _appointment(summary, entry, record, payload, changes) -> None:
    raw = payload.get("appointment")
    if not raw:
        return
    key = raw.get("filler_id") or raw.get("placer_id") or entry.event_id
    appointments = dict(summary.appointments)
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
    "IMMUNIZATION_RECORDED": _immunized,
    "APPOINTMENT_BOOKED": _appointment,
    "APPOINTMENT_RESCHEDULED": _appointment,
    "APPOINTMENT_MODIFIED": _appointment,
    "APPOINTMENT_CANCELLED": _appointment,
    "DOCUMENT_ADDED": _document,
    "DOCUMENT_UPDATED": _document,
}

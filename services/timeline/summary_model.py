"""The values of a patient's summary: :class:`PatientSummary` and its parts, frozen.

:mod:`.summary` builds a summary (``fold``, ``apply``) and :mod:`.summary_changes` says
what each entry changes in it.  Two summaries are equal when their values are: the fold's
working memory (the fields that do not compare) aside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hl7bus.events.alerts import ClinicalAlert
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
    Procedure,
    Telecom,
)
from hl7bus.services.timeline.entries import Entry
from hl7bus.services.timeline.order import OrderKey
from hl7bus.services.timeline.persistent import IdSet

HISTORY_LIMIT: Final = 20
"""Results kept per observation code in the summary (the latest last)."""

REWIND_LIMIT: Final = 16
"""Entries a summary remembers (with the state before each) to take a late entry."""

MOVEMENT_LIMIT: Final = 16
"""Movements of the stay kept so that a cancel can undo them."""

Record = Mapping[str, Any]


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
    last_dispensed_at: str | None = None  # RXD-3 of its latest dispense


@dataclass(frozen=True, slots=True)
class BookedAppointment:
    appointment: Appointment
    status: str  # "booked", "rescheduled", "modified", "cancelled" or "no-show"
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
    procedures: tuple[Procedure, ...] = ()  # PR1: each once, oldest first
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

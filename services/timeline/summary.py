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

What the summary holds, and how each part follows the events, is
:mod:`.summary_changes`; its values are :mod:`.summary_model`'s (and can be imported
from here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from functools import lru_cache
from typing import Any, Final

from hl7bus.errors import Hl7BusError
from hl7bus.services.timeline.entries import Entry
from hl7bus.services.timeline.order import OrderKey
from hl7bus.services.timeline.persistent import IdSet
from hl7bus.services.timeline.summary_changes import (
    carried_results,
    entry_changes,
    patient_changes,
)
from hl7bus.services.timeline.summary_model import (
    HISTORY_LIMIT,
    MOVEMENT_LIMIT,
    REWIND_LIMIT,
    ActiveOrder,
    BookedAppointment,
    FiledDocument,
    Movement,
    OpenAlert,
    PatientSummary,
    Result,
    ResultSeries,
    Stay,
)

__all__ = [
    "HISTORY_LIMIT",
    "MOVEMENT_LIMIT",
    "REWIND_LIMIT",
    "ActiveOrder",
    "BookedAppointment",
    "EntryOutOfOrder",
    "FiledDocument",
    "Movement",
    "OpenAlert",
    "PatientSummary",
    "Result",
    "ResultSeries",
    "Stay",
    "apply",
    "can_apply",
    "fold",
    "forget",
]


class EntryOutOfOrder(Hl7BusError):
    """An entry older than everything the summary remembers: fold the patient's entries
    again."""


def fold(entries: Iterable[Entry]) -> PatientSummary:
    """The summary of a patient's entries, in any order (sorted into clinical order here);
    repeated event ids count once."""
    summary = PatientSummary()
    for entry in sorted(entries, key=_order):
        summary = apply(summary, entry)
    return summary


def forget(summary: PatientSummary) -> PatientSummary:
    """``summary`` without the fold's memory, as the store reads one back: the same value;
    a later entry that sorts before its last makes :func:`apply` raise
    :class:`EntryOutOfOrder`."""
    return _evolve(summary, {**_FORGOTTEN, "forgotten": summary.last_order})


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


_FORGOTTEN: Final = {
    "event_ids": IdSet(),
    "seen_patient": None,
    "seen_parts": (None, None, None),
    "recent": (),
}
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
    changes = entry_changes(summary, entry)
    changes["last_event_at"] = entry.occurred_at or entry.recorded_at
    changes["last_order"] = entry.order
    _remember(summary, (*summary.recent, (entry, _forgetful(summary))), changes)
    return _evolve(summary, changes)


def _insert(summary: PatientSummary, entry: Entry, i: int) -> PatientSummary:
    """``summary`` with the late ``entry`` applied where it stands (it commutes with the
    entries after it): the states remembered before those no longer hold."""
    changes = entry_changes(summary, entry)
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
    patient_changes(summary, entry.event, changes)
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
        "MEDICATION_DISPENSED",
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
    if payload.get("diagnoses") or payload.get("problems"):
        found.add(("problems",))
    if payload.get("procedures"):
        found.add(("procedures",))
    if event_type in _STAY_TYPES:
        found.add(("stay",))
    reported = payload.get("observations") or () if event_type == "OBSERVATIONS_REPORTED" else ()
    for obs in (*reported, *carried_results(record)):
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

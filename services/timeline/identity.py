"""Identity as state, built from the stream: who is the same patient, who is shown together,
and which identifiers name whom.

- **Merge** (``PATIENT_MERGED``: A34–A36, A39–A41, A47; the prior key of MRG-1 into the key
  of PID-3): the prior record and everything merged into it now *resolve* to the survivor;
  a later event under a merged-away key lands on the survivor.  Merges join whole
  patients, so the patients (:func:`group`) are the connected records of all the merges,
  whatever order merges and events arrive in; for consistent merges (each record merged
  away once, no circle) every record's survivor is order-independent too.  A merge that
  would close a circle (MRG-1 = PID-3, or the same A40 again with PID and MRG swapped) or
  repeats one already made is refused with a reason; there is never a loop.
- **Link** (``PATIENT_LINKED``, A24) / **unlink** (``PATIENT_UNLINKED``, A37): two records
  stay distinct but are shown together (:func:`linked`), until unlinked.
- **Cross-reference**: every identifier an event carries for a patient (the PID-3
  repetitions, and MRG-1 for the record merged away) names that record, so a search by
  any of them finds the patient (:func:`find`).

:func:`apply` returns a new :class:`Identity` (sharing what did not change with the old
one) and a :class:`Decision` that says what changed or why nothing did.  Its ``reason``
holds no patient data, so it can be logged as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from hl7bus.events.model import ClinicalEvent
from hl7bus.services.timeline.entries import Entry, event_entry
from hl7bus.services.timeline.persistent import PMap


class Outcome(str, Enum):
    UNCHANGED = "UNCHANGED"  # nothing new about who is who
    CROSS_REFERENCED = "CROSS_REFERENCED"  # only new identifiers (see Decision.identifiers)
    MERGED = "MERGED"
    LINKED = "LINKED"
    UNLINKED = "UNLINKED"
    REFUSED = "REFUSED"  # a merge, link or unlink that was not made (see Decision.refusal)


class Refusal(str, Enum):
    CIRCULAR_MERGE = "CIRCULAR_MERGE"
    REPEATED_MERGE = "REPEATED_MERGE"
    NO_PRIOR_RECORD = "NO_PRIOR_RECORD"
    SELF_LINK = "SELF_LINK"
    REPEATED_LINK = "REPEATED_LINK"
    LINK_OF_ONE_PATIENT = "LINK_OF_ONE_PATIENT"
    NOT_LINKED = "NOT_LINKED"


@dataclass(frozen=True, slots=True)
class CrossReference:
    """An identifier that names a record (a patient key)."""

    authority: str | None
    value: str
    key: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What one event did to identity."""

    outcome: Outcome
    refusal: Refusal | None = None
    reason: str | None = None  # a sentence for the log (no patient data), or None
    prior: str | None = None  # merge: the key merged away, as sent; link: the other key
    survivor: str | None = None  # merge: the final survivor it now resolves to
    moved: tuple[str, ...] = ()  # merge: every key that now resolves to the survivor anew
    identifiers: tuple[CrossReference, ...] = ()  # identifiers newly naming a record


_Xref = frozenset[tuple[str | None, str]]  # (authority, key) pairs of one identifier value


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is who; build it with :func:`apply`, read it with the functions below."""

    merged_into: PMap[str, str] = field(default_factory=PMap)  # merged-away key -> key
    merged_from: PMap[str, frozenset[str]] = field(default_factory=PMap)  # the reverse
    links: PMap[str, frozenset[str]] = field(default_factory=PMap)  # both directions
    identifiers: PMap[str, _Xref] = field(default_factory=PMap)  # value -> (authority, key)


# Reading.


def resolve(identity: Identity, key: str) -> str:
    """The survivor that ``key`` resolves to (``key`` itself unless merged away)."""
    merged_into = identity.merged_into
    found = merged_into.get(key)
    while found is not None:
        key = found
        found = merged_into.get(key)
    return key


def group(identity: Identity, key: str) -> tuple[str, ...]:
    """Every key of the patient ``key`` belongs to: its survivor and all the keys merged
    into it, sorted."""
    survivor = resolve(identity, key)
    return tuple(sorted(_members(identity, survivor)))


def linked(identity: Identity, key: str) -> tuple[str, ...]:
    """The survivors shown together with ``key``'s patient (links, followed from link to
    link), without that patient itself, sorted."""
    start = resolve(identity, key)
    seen, todo = {start}, [start]
    while todo:
        for member in _members(identity, todo.pop()):
            for other in identity.links.get(member, ()):
                survivor = resolve(identity, other)
                if survivor not in seen:
                    seen.add(survivor)
                    todo.append(survivor)
    seen.discard(start)
    return tuple(sorted(seen))


def find(identity: Identity, authority: str | None, value: str) -> tuple[str, ...]:
    """The survivors of every record named by identifier ``value`` (of ``authority``, or of
    any authority when it is None), sorted."""
    found = identity.identifiers.get(value)
    if not found:
        return ()
    return tuple(
        sorted({resolve(identity, k) for a, k in found if authority is None or a == authority})
    )


def _members(identity: Identity, survivor: str) -> set[str]:
    members, todo = {survivor}, [survivor]
    merged_from = identity.merged_from
    while todo:
        for prior in merged_from.get(todo.pop(), ()):
            if prior not in members:
                members.add(prior)
                todo.append(prior)
    return members


# Changing.

UNCHANGED: Final = Decision(Outcome.UNCHANGED)

# Account merges: MRG-1 may name the same record as PID-3 (only the account moves).
ACCOUNT_MERGES: Final = frozenset({"A35", "A41", "A42", "A44"})

_REASONS: Final = {
    Refusal.NO_PRIOR_RECORD: "Merge refused: it names no prior record (MRG-1).",
    Refusal.CIRCULAR_MERGE: (
        "Circular merge refused: the record merged away (MRG-1) is the surviving record (PID-3)."
    ),
    Refusal.REPEATED_MERGE: "Repeated merge refused: the two records are already one patient.",
    Refusal.SELF_LINK: "Link refused: a record cannot be linked with itself.",
    Refusal.REPEATED_LINK: "Repeated link refused: the two records are already linked.",
    Refusal.LINK_OF_ONE_PATIENT: "Link refused: the two records are merged into one patient.",
    Refusal.NOT_LINKED: "Unlink refused: the two records are not linked.",
}
_REVERSED_MERGE: Final = (
    "Circular merge refused: the surviving record (PID-3) was itself merged into the "
    "record named as merged away (MRG-1)."
)
_ACCOUNT_ONLY: Final = "Account merge within one patient record: identity unchanged."
_TO_FINAL_SURVIVOR: Final = (
    "The surviving record had been merged away before: the merge goes to its final survivor."
)
_PRIOR_JOINS: Final = (
    "The record merged away had been merged into another record before: that whole patient "
    "joins the survivor."
)


def apply(identity: Identity, item: Entry | ClinicalEvent) -> tuple[Identity, Decision]:
    """Identity after one more entry (or event), and what it changed.

    Every clinical event cross-references its identifiers; a merge, link or unlink also
    changes who is who.  Alert entries change nothing."""
    entry = item if isinstance(item, Entry) else event_entry(item)
    if entry.is_alert:
        return identity, UNCHANGED
    record = entry.event
    patient = record["patient"]
    key = patient["key"]
    found: list[CrossReference] = []
    xrefs = _cross_reference(identity.identifiers, key, patient.get("identifiers") or (), found)
    event_type = record["event_type"]
    if event_type in _IDENTITY_EVENTS:
        merge = (record.get("payload") or {}).get("merge") or {}
        other = merge.get("prior_patient_key")
        if other:
            xrefs = _cross_reference(xrefs, other, merge.get("prior_identifiers") or (), found)
        if xrefs is not identity.identifiers:
            identity = Identity(identity.merged_into, identity.merged_from, identity.links, xrefs)
        identifiers = tuple(found)
        if event_type == "PATIENT_MERGED":
            trigger = (record.get("source") or {}).get("trigger_event")
            return _merge(identity, other, key, trigger, merge, identifiers)
        return _link(identity, key, other, event_type == "PATIENT_LINKED", identifiers)
    if not found:
        return identity, UNCHANGED
    identity = Identity(identity.merged_into, identity.merged_from, identity.links, xrefs)
    return identity, Decision(Outcome.CROSS_REFERENCED, identifiers=tuple(found))


_IDENTITY_EVENTS: Final = frozenset({"PATIENT_MERGED", "PATIENT_LINKED", "PATIENT_UNLINKED"})


def _cross_reference(
    xrefs: PMap[str, _Xref],
    key: str,
    identifiers: Iterable[Mapping[str, Any]],
    found: list[CrossReference],
) -> PMap[str, _Xref]:
    for identifier in identifiers:
        value = identifier.get("value")
        if not value:
            continue
        pair = (identifier.get("authority"), key)
        known = xrefs.get(value)
        if known is None:
            xrefs = xrefs.set(value, frozenset((pair,)))
        elif pair not in known:
            xrefs = xrefs.set(value, known | {pair})
        else:
            continue
        found.append(CrossReference(pair[0], value, key))
    return xrefs


def _refused(refusal: Refusal, identifiers: tuple[CrossReference, ...], **kw: Any) -> Decision:
    reason = kw.pop("reason", None) or _REASONS[refusal]
    return Decision(Outcome.REFUSED, refusal, reason, identifiers=identifiers, **kw)


def _merge(
    identity: Identity,
    prior: str | None,
    survivor: str,
    trigger: str | None,
    merge: Mapping[str, Any],
    identifiers: tuple[CrossReference, ...],
) -> tuple[Identity, Decision]:
    if not prior:
        return identity, _refused(Refusal.NO_PRIOR_RECORD, identifiers, survivor=survivor)
    if prior == survivor:
        if trigger in ACCOUNT_MERGES or (trigger is None and merge.get("prior_account_number")):
            outcome = Outcome.CROSS_REFERENCED if identifiers else Outcome.UNCHANGED
            return identity, Decision(outcome, reason=_ACCOUNT_ONLY, identifiers=identifiers)
        return identity, _refused(
            Refusal.CIRCULAR_MERGE, identifiers, prior=prior, survivor=survivor
        )
    prior_root, final = resolve(identity, prior), resolve(identity, survivor)
    if prior_root == final:
        reversed_ = prior in _path(identity, survivor)
        return identity, _refused(
            Refusal.CIRCULAR_MERGE if reversed_ else Refusal.REPEATED_MERGE,
            identifiers,
            reason=_REVERSED_MERGE if reversed_ else None,
            prior=prior,
            survivor=final,
        )
    moved = tuple(sorted(_members(identity, prior_root)))
    notes = []
    if final != survivor:
        notes.append(_TO_FINAL_SURVIVOR)
    if prior_root != prior:
        notes.append(_PRIOR_JOINS)
    changed = Identity(
        identity.merged_into.set(prior_root, final),
        identity.merged_from.set(
            final, identity.merged_from.get(final, frozenset()) | {prior_root}
        ),
        identity.links,
        identity.identifiers,
    )
    return changed, Decision(
        Outcome.MERGED,
        reason=" ".join(notes) or None,
        prior=prior,
        survivor=final,
        moved=moved,
        identifiers=identifiers,
    )


def _path(identity: Identity, key: str) -> list[str]:
    """``key`` and every key it was merged into, up to its survivor."""
    path = [key]
    found = identity.merged_into.get(key)
    while found is not None:
        path.append(found)
        found = identity.merged_into.get(found)
    return path


def _link(
    identity: Identity,
    key: str,
    other: str | None,
    link: bool,
    identifiers: tuple[CrossReference, ...],
) -> tuple[Identity, Decision]:
    if not other or other == key:
        return identity, _refused(Refusal.SELF_LINK, identifiers, prior=other)
    links = identity.links
    if link:
        if other in links.get(key, ()):
            return identity, _refused(Refusal.REPEATED_LINK, identifiers, prior=other)
        if resolve(identity, key) == resolve(identity, other):
            return identity, _refused(Refusal.LINK_OF_ONE_PATIENT, identifiers, prior=other)
        links = _add_link(_add_link(links, key, other), other, key)
        outcome = Outcome.LINKED
    else:
        # The link may have been made between records that have been merged since: every
        # link between the two patients goes.
        ours = _members(identity, resolve(identity, key))
        theirs = _members(identity, resolve(identity, other))
        pairs = [(a, b) for a in ours for b in links.get(a, ()) if b in theirs]
        if not pairs:
            return identity, _refused(Refusal.NOT_LINKED, identifiers, prior=other)
        for a, b in pairs:
            links = _drop_link(_drop_link(links, a, b), b, a)
        outcome = Outcome.UNLINKED
    changed = Identity(identity.merged_into, identity.merged_from, links, identity.identifiers)
    return changed, Decision(outcome, prior=other, identifiers=identifiers)


def _add_link(links: PMap[str, frozenset[str]], a: str, b: str) -> PMap[str, frozenset[str]]:
    return links.set(a, links.get(a, frozenset()) | {b})


def _drop_link(links: PMap[str, frozenset[str]], a: str, b: str) -> PMap[str, frozenset[str]]:
    rest = links.get(a, frozenset()) - {b}
    return links.set(a, rest) if rest else links.discard(a)

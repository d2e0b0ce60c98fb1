"""Referrals: REF^I12 (request for referral), I13 (modify) and I14 (cancel): the RF1 and the
providers (PRD) before the patient, the patient's diagnoses, allergies, procedures, coverage
and results that come with it."""

from __future__ import annotations

from hl7bus.events.model import ClinicalEvent, EventType, Payload, Provider, Referral
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, results, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.values import text

REFERRAL_EVENTS = {
    "I12": EventType.REFERRAL_REQUESTED,
    "I13": EventType.REFERRAL_UPDATED,
    "I14": EventType.REFERRAL_CANCELLED,
}


def _roles(prd: Segment) -> set[str]:
    """PRD-1 (table 0286), each repetition's code: RP referring, RT referred to, PP
    primary care, CP consulting."""
    found = set()
    for rep in range(len(prd.repetitions(1))):
        code = values.coded_code(prd, 1, rep)
        if code:
            found.add(code.upper())
    return found


def _provider(prd: Segment) -> Provider | None:
    """PRD-2 (a name, XPN) and PRD-7's first identifier (PLN-1)."""
    name = values.person_name(prd, 2)
    ident = text(prd.get(7))
    if name is None and ident is None:
        return None
    return Provider(
        id=ident,
        family=name.family if name else None,
        given=name.given[0] if name and name.given else None,
        prefix=name.prefix if name else None,
    )


def _facility(prd: Segment) -> str | None:
    location = values.location(prd, 4)
    return (location.facility if location else None) or text(prd.get(10))


def referral(ctx: MessageContext) -> Referral | None:
    m = ctx.message
    rf1 = m.segment("RF1")
    by_role: dict[str, Segment] = {}
    for prd in m.all("PRD"):
        for role in _roles(prd):
            by_role.setdefault(role, prd)
    referring, referred_to = by_role.get("RP"), by_role.get("RT")
    found = Referral(
        referral_id=text(rf1.get(6)) if rf1 else None,
        external_id=text(rf1.get(11)) if rf1 else None,
        status=values.coded_code(rf1, 1) if rf1 else None,
        priority=values.coded_code(rf1, 2) if rf1 else None,
        type=values.coded_code(rf1, 3) if rf1 else None,
        disposition=values.coded_code(rf1, 4) if rf1 else None,
        category=values.coded_code(rf1, 5) if rf1 else None,
        reason=values.coded_code(rf1, 10) if rf1 else None,
        effective_at=ctx.ts(rf1.get(7)) if rf1 else None,
        expires_at=ctx.ts(rf1.get(8)) if rf1 else None,
        referring=_provider(referring) if referring else None,
        referred_to=_provider(referred_to) if referred_to else None,
        referred_to_facility=_facility(referred_to) if referred_to else None,
    )
    return None if found == Referral() else found


def map_referral(ctx: MessageContext) -> list[ClinicalEvent]:
    """REF^I12, I13, I14: one event per patient (REFERRAL_REQUESTED, REFERRAL_UPDATED,
    REFERRAL_CANCELLED by the trigger) at EVN's time, else MSH-7.  The results (OBR, OBX)
    come before the visit (PV1); the NTEs after the visit are the message's."""
    kind = REFERRAL_EVENTS[ctx.message.trigger_event]
    about = referral(ctx)
    events = []
    for group in results.patient_groups(ctx):
        visit = next((i for i, s in enumerate(group) if s.name == "PV1"), len(group))
        found = results.walk(ctx, group[1:visit])
        orders = tuple(results.order(ctx, g) for g in found.orders)
        observations = tuple(
            [o for g in found.orders for o in g.observations] + found.loose_observations
        )
        later = [common.note_text(s) for s in group[visit:] if s.name == "NTE"]
        of = {name: [s for s in group if s.name == name] for name in ("DG1", "AL1", "PR1", "IN1")}
        events.append(
            ctx.event(
                kind,
                common.patient(ctx, group[0]),
                occurred_at=ctx.event_time,
                encounter=common.encounter(ctx, group[visit] if visit < len(group) else None),
                payload=Payload(
                    referral=about,
                    diagnoses=common.diagnoses(ctx, of["DG1"]),
                    allergies=common.allergies(ctx, of["AL1"]),
                    procedures=common.procedures(ctx, of["PR1"]),
                    insurance=common.insurance(of["IN1"]),
                    orders=orders,
                    observations=observations,
                    notes=(*found.notes, *(n for n in later if n is not None)),
                ),
            )
        )
    return events

"""The clinical content of billing messages: BAR^P01 (account added) and P12 (diagnoses and
procedures updated), DFT^P03 and P11 (charges posted), and BAR^P02 (account purged).

Billing codes each visit: its diagnoses (DG1) and procedures (PR1), and charges the services
given (FT1).  A charge line whose code is a procedure's (FT1-25, or FT1-7 in a procedure
coding system) is a procedure performed; a charge for a ward day, a drug or a supply is
not, and is left to billing."""

from __future__ import annotations

from hl7bus.events.model import ClinicalEvent, EventType, Payload, Procedure
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, results, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.values import text

# HL7 table 0396's procedure coding systems (CPT-4, CPT-5, HCPCS, ICD-10-PCS, ICD-9-CM
# procedures) and the names senders also give them.
PROCEDURE_SYSTEMS = frozenset(
    {"C4", "C5", "CPT", "CPT4", "CPT-4", "HCPCS", "HPC", "I10P", "ICD10PCS", "I9CP"}
)


def charged_procedure(ctx: MessageContext, ft1: Segment) -> Procedure | None:
    """An FT1 charge line as the procedure it charges for: FT1-25 (procedure code), else
    FT1-7 (transaction code) when it is in a procedure coding system; None for any other
    charge.  Performed at FT1-4 (the transaction date, its start), by FT1-20."""
    code, system, display = values.coded(ft1, 25)
    if not code and not display:
        code, system, display = values.coded(ft1, 7)
        if (system or "").upper() not in PROCEDURE_SYSTEMS:
            return None
    return Procedure(
        code=code,
        code_system=system,
        display=display,
        description=text(ft1.get(8)),
        performed_at=ctx.ts(ft1.get(4)),
        performer=values.provider(ft1, 20),
    )


def _procedures(ctx: MessageContext, segments: list[Segment]) -> tuple[Procedure, ...]:
    """The PR1 procedures, then each charged procedure (FT1) no PR1 names by its code."""
    found = list(common.procedures(ctx, [s for s in segments if s.name == "PR1"]))
    named = {p.code for p in found if p.code}
    for ft1 in (s for s in segments if s.name == "FT1"):
        charged = charged_procedure(ctx, ft1)
        if charged is not None and charged.code not in named:
            found.append(charged)
            if charged.code:
                named.add(charged.code)
    return tuple(found)


def _coded(ctx: MessageContext, segments: list[Segment]) -> Payload:
    def of(name: str) -> list[Segment]:
        return [s for s in segments if s.name == name]

    return Payload(
        diagnoses=common.diagnoses(ctx, of("DG1")),
        procedures=_procedures(ctx, segments),
        allergies=common.allergies(ctx, of("AL1")),
        insurance=common.insurance(of("IN1")),
    )


def _visits(group: list[Segment]) -> list[tuple[Segment | None, list[Segment]]]:
    """A patient's segments cut at each PV1: each visit with the segments up to the next
    (those before the first PV1 go with the first visit)."""
    visits: list[tuple[Segment | None, list[Segment]]] = []
    before: list[Segment] = []
    for seg in group[1:]:
        if seg.name == "PV1":
            visits.append((seg, [*before] if not visits else []))
            before = []
        elif visits:
            visits[-1][1].append(seg)
        else:
            before.append(seg)
    return visits or [(None, before)]


def map_account(ctx: MessageContext) -> list[ClinicalEvent]:
    """BAR^P01 and P12: one ENCOUNTER_CODED event per visit (PV1) of each patient, at EVN's
    time (else MSH-7)."""
    events = []
    for group in results.patient_groups(ctx):
        patient = common.patient(ctx, group[0])
        for pv1, segments in _visits(group):
            events.append(
                ctx.event(
                    EventType.ENCOUNTER_CODED,
                    patient,
                    occurred_at=ctx.event_time,
                    encounter=common.encounter(ctx, pv1),
                    payload=_coded(ctx, segments),
                )
            )
    return events


def map_charges(ctx: MessageContext) -> list[ClinicalEvent]:
    """DFT^P03 and P11: one ENCOUNTER_CODED event per patient, at EVN's time (else MSH-7):
    every DG1 of the message (P11 also sends them inside each charge's group) and the
    procedures performed."""
    events = []
    for group in results.patient_groups(ctx):
        pv1 = next((s for s in group if s.name == "PV1"), None)
        events.append(
            ctx.event(
                EventType.ENCOUNTER_CODED,
                common.patient(ctx, group[0]),
                occurred_at=ctx.event_time,
                encounter=common.encounter(ctx, pv1),
                payload=_coded(ctx, group[1:]),
            )
        )
    return events


def map_purge(ctx: MessageContext) -> list[ClinicalEvent]:
    """BAR^P02: one ACCOUNT_PURGED event per patient (PID-18 its account, PV1 its visit)."""
    return [
        ctx.event(
            EventType.ACCOUNT_PURGED,
            common.patient(ctx, group[0]),
            occurred_at=ctx.event_time,
            encounter=common.encounter(ctx, next((s for s in group if s.name == "PV1"), None)),
        )
        for group in results.patient_groups(ctx)
    ]

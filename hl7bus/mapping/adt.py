"""ADT: admissions, transfers, discharges, registrations, updates, cancels, merges; patient
tracking, pending movements and their cancels, deletions, visit moves, allergy updates."""

from __future__ import annotations

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import ClinicalEvent, EventType, Merge, Payload
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, results, values
from hl7bus.mapping.context import MessageContext

ADT_EVENTS: dict[str, EventType] = {
    "A01": EventType.PATIENT_ADMITTED,
    "A02": EventType.PATIENT_TRANSFERRED,
    "A03": EventType.PATIENT_DISCHARGED,
    "A04": EventType.PATIENT_REGISTERED,
    "A05": EventType.PATIENT_PREADMITTED,
    "A06": EventType.PATIENT_UPDATED,  # outpatient becomes inpatient
    "A07": EventType.PATIENT_UPDATED,  # inpatient becomes outpatient
    "A08": EventType.PATIENT_UPDATED,
    "A11": EventType.ADMISSION_CANCELLED,
    "A12": EventType.TRANSFER_CANCELLED,
    "A13": EventType.DISCHARGE_CANCELLED,
    "A28": EventType.PATIENT_REGISTERED,
    "A31": EventType.PATIENT_UPDATED,
    "A38": EventType.ADMISSION_CANCELLED,  # cancel pre-admit
    "A09": EventType.PATIENT_DEPARTED,  # tracking: the assigned bed stays
    "A10": EventType.PATIENT_ARRIVED,
    "A14": EventType.ADMISSION_PENDING,
    "A15": EventType.TRANSFER_PENDING,
    "A16": EventType.DISCHARGE_PENDING,
    "A25": EventType.PENDING_DISCHARGE_CANCELLED,
    "A26": EventType.PENDING_TRANSFER_CANCELLED,
    "A27": EventType.PENDING_ADMISSION_CANCELLED,
    "A29": EventType.PATIENT_DELETED,
    "A60": EventType.ALLERGIES_UPDATED,
}

MERGE_EVENTS = ("A34", "A35", "A36", "A39", "A40", "A41", "A47")


def map_patient_event(ctx: MessageContext) -> list[ClinicalEvent]:
    """A01–A16, A25–A29, A31, A38, A60: one event with the patient, the visit, and what
    came along (OBX vital signs, height and weight; AL1 and IAM, DG1, PR1, NK1, IN1; NTE),
    EVN-3 as the planned time of a pending movement."""
    m = ctx.message
    event_type = ADT_EVENTS[m.trigger_event]
    observations, notes = results.observations_outside_orders(ctx, m.segments)
    payload = Payload(
        observations=observations,
        allergies=common.allergies(ctx, m.all("AL1")) + common.adverse_reactions(ctx, m),
        diagnoses=common.diagnoses(ctx, m.all("DG1")),
        procedures=common.procedures(ctx, m.all("PR1")),
        next_of_kin=common.next_of_kin(m.all("NK1")),
        insurance=common.insurance(m.all("IN1")),
        notes=notes,
    )
    evn = m.segment("EVN")
    return [
        ctx.event(
            event_type,
            common.required_patient(ctx),
            occurred_at=ctx.event_time,
            encounter=common.encounter(ctx, m.segment("PV1")),
            payload=payload,
            planned_at=ctx.ts(evn.get(3)) if evn is not None else None,
        )
    ]


def map_merge(ctx: MessageContext) -> list[ClinicalEvent]:
    """A34–A36, A39, A40: each PID with its MRG (the identifiers that are merged away)."""
    pairs = common.pairs(ctx.message, "PID", "MRG")
    if not pairs:
        ctx.require("PID")
    events = []
    for pid, mrg in pairs:
        if mrg is None:
            raise MessageError(
                ErrorCode.SEGMENT_SEQUENCE,
                "A merge needs an MRG segment after each PID, naming the record merged away.",
                segment="MRG",
                control_id=ctx.message.control_id,
            )
        patient = common.patient(ctx, pid)
        merge = _prior_record(ctx, mrg)
        if not merge.prior_identifiers:
            raise MessageError(
                ErrorCode.REQUIRED_FIELD_MISSING,
                "MRG-1 (prior patient identifier list) is empty.",
                segment="MRG",
                field=1,
                control_id=ctx.message.control_id,
            )
        events.append(
            ctx.event(
                EventType.PATIENT_MERGED,
                patient,
                occurred_at=ctx.event_time,
                payload=Payload(merge=merge),
            )
        )
    return events


def _prior_record(ctx: MessageContext, mrg: Segment) -> Merge:
    """MRG: the record, account and visit something was merged or moved away from."""
    prior = values.identifiers(mrg, 1)
    facility = ctx.message.sending_facility
    return Merge(
        prior_patient_key=common.key_of(common.patient_key(prior, ctx.profile), facility)
        if prior
        else None,
        prior_identifiers=prior,
        prior_account_number=values.text(mrg.get(3)),
        prior_visit_number=values.text(mrg.get(5)),
    )


def map_visit_move(ctx: MessageContext) -> list[ClinicalEvent]:
    """A45 (move visit information): for each MRG, the visit (the PV1 after it) moved from
    the record and account MRG names to the PID's."""
    m = ctx.message
    patient = common.required_patient(ctx)
    moves = common.pairs(m, "MRG", "PV1")
    if not moves:
        raise MessageError(
            ErrorCode.SEGMENT_SEQUENCE,
            "A visit move needs an MRG segment naming the record the visit moves from.",
            segment="MRG",
            control_id=m.control_id,
        )
    return [
        ctx.event(
            EventType.VISIT_MOVED,
            patient,
            occurred_at=ctx.event_time,
            encounter=common.encounter(ctx, pv1),
            payload=Payload(merge=_prior_record(ctx, mrg)),
        )
        for mrg, pv1 in moves
    ]


def map_link(ctx: MessageContext) -> list[ClinicalEvent]:
    """A24 link / A37 unlink: two PIDs, the second one's identifiers as the linked record."""
    pids = ctx.message.all("PID")
    if len(pids) < 2:
        raise MessageError(
            ErrorCode.SEGMENT_SEQUENCE,
            "A link or unlink needs two PID segments.",
            segment="PID",
            control_id=ctx.message.control_id,
        )
    first, other = common.patient(ctx, pids[0]), common.patient(ctx, pids[1])
    kind = (
        EventType.PATIENT_LINKED
        if ctx.message.trigger_event == "A24"
        else EventType.PATIENT_UNLINKED
    )
    merge = Merge(prior_patient_key=other.key, prior_identifiers=other.identifiers)
    return [ctx.event(kind, first, occurred_at=ctx.event_time, payload=Payload(merge=merge))]

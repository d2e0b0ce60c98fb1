"""ADT: admissions, transfers, discharges, registrations, updates, cancels, merges."""

from __future__ import annotations

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import ClinicalEvent, EventType, Merge, Payload
from hl7bus.mapping import common, values
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
}

MERGE_EVENTS = ("A34", "A35", "A36", "A39", "A40", "A41", "A47")


def map_patient_event(ctx: MessageContext) -> list[ClinicalEvent]:
    """A01–A13, A28, A31, A38: one event with the patient, the visit, and what came along."""
    m = ctx.message
    event_type = ADT_EVENTS[m.trigger_event]
    payload = Payload(
        allergies=common.allergies(ctx, m.all("AL1")),
        diagnoses=common.diagnoses(ctx, m.all("DG1")),
        next_of_kin=common.next_of_kin(m.all("NK1")),
        insurance=common.insurance(m.all("IN1")),
        notes=tuple(n for n in (common.note_text(s) for s in m.all("NTE")) if n),
    )
    return [
        ctx.event(
            event_type,
            common.required_patient(ctx),
            occurred_at=ctx.event_time,
            encounter=common.encounter(ctx, m.segment("PV1")),
            payload=payload,
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
        prior = values.identifiers(mrg, 1)
        if not prior:
            raise MessageError(
                ErrorCode.REQUIRED_FIELD_MISSING,
                "MRG-1 (prior patient identifier list) is empty.",
                segment="MRG",
                field=1,
                control_id=ctx.message.control_id,
            )
        facility = ctx.message.sending_facility
        prior_key = common.key_of(common.patient_key(prior, ctx.profile), facility)
        merge = Merge(
            prior_patient_key=prior_key,
            prior_identifiers=prior,
            prior_account_number=values.text(mrg.get(3)),
            prior_visit_number=values.text(mrg.get(5)),
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

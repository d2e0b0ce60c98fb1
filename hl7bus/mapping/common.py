"""Segments that many message types share: PID, PV1, AL1, DG1, PR1, NK1, IN1, NTE."""

from __future__ import annotations

import dataclasses

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import (
    Allergy,
    Coverage,
    Diagnosis,
    Encounter,
    Identifier,
    Patient,
    Procedure,
    RelatedPerson,
)
from hl7bus.hl7 import Message, Segment
from hl7bus.mapping import values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.profiles import SenderProfile
from hl7bus.mapping.values import text

PATIENT_CLASSES = {
    "I": "inpatient",
    "O": "outpatient",
    "E": "emergency",
    "P": "preadmit",
    "R": "recurring",
    "B": "obstetrics",
    "C": "commercial",
    "N": "not applicable",
    "U": "unknown",
}


def patient_key(ids: tuple[Identifier, ...], profile: SenderProfile) -> Identifier:
    """The identifier that keys the patient: the profile's authority/type, else an MR,
    else the first."""
    rule = profile.patient_key
    if rule.authority or rule.type:
        for ident in ids:
            if rule.authority not in (None, ident.authority):
                continue
            if rule.type not in (None, ident.type):
                continue
            return ident
    for ident in ids:
        if ident.type == "MR":
            return ident
    return ids[0]


def key_of(ident: Identifier, facility: str) -> str:
    return f"{ident.authority or facility or '-'}|{ident.value}"


def patient_identifiers(pid: Segment) -> tuple[Identifier, ...]:
    ids = values.identifiers(pid, 3)
    if not ids:  # versions before 2.3 often carry the id in PID-2 or PID-4 only
        ids = values.identifiers(pid, 2) or values.identifiers(pid, 4)
    return ids


def patient(ctx: MessageContext, pid: Segment) -> Patient:
    ids = patient_identifiers(pid)
    if not ids:
        raise MessageError(
            ErrorCode.REQUIRED_FIELD_MISSING,
            "PID-3 (patient identifier list) is empty, so the patient cannot be keyed.",
            segment="PID",
            field=3,
            control_id=ctx.message.control_id,
        )
    facility = ctx.message.sending_facility
    key = key_of(patient_key(ids, ctx.profile), facility)
    death = indicator(pid.get(30))
    return Patient(
        key=key,
        identifiers=ids,
        name=values.person_name(pid, 5),
        birth_date=values.date(pid.get(7)),
        sex=text(pid.get(8)),
        address=values.addresses(pid, 11),
        phones=values.telecoms(pid, 13, "home") + values.telecoms(pid, 14, "work"),
        marital_status=text(pid.get(16)),
        race=values.coded_text(pid, 10),
        ethnic_group=values.coded_text(pid, 22),
        language=values.coded_text(pid, 15),
        account_number=text(pid.get(18)),
        deceased=death,
        deceased_at=ctx.ts(pid.get(29)),
    )


_YES = frozenset({"Y", "YES", "T", "TRUE", "1"})
_NO = frozenset({"N", "NO", "F", "FALSE", "0"})


def indicator(raw: str) -> bool | None:
    """A yes/no field (HL7 table 0136: Y/N; senders also write true/false): None when
    empty or unreadable."""
    value = (text(raw) or "").upper()
    if value in _YES:
        return True
    if value in _NO:
        return False
    return None


def required_patient(ctx: MessageContext) -> Patient:
    return patient(ctx, ctx.require("PID"))


_ENCOUNTER_FIELDS = tuple(f.name for f in dataclasses.fields(Encounter))


def encounter(ctx: MessageContext, pv1: Segment | None) -> Encounter | None:
    if pv1 is None:
        return None
    pv1_class = text(pv1.get(2))
    found = Encounter(
        visit_number=text(pv1.get(19)),
        patient_class=PATIENT_CLASSES.get(pv1_class or "", pv1_class),
        location=values.location(pv1, 3),
        prior_location=values.location(pv1, 6),
        temporary_location=values.location(pv1, 11),
        pending_location=values.location(pv1, 42),
        prior_temporary_location=values.location(pv1, 43),
        attending=values.provider(pv1, 7),
        referring=values.provider(pv1, 8),
        admitting=values.provider(pv1, 17),
        hospital_service=text(pv1.get(10)),
        admission_type=text(pv1.get(4)),
        discharge_disposition=text(pv1.get(36)),
        admitted_at=ctx.ts(pv1.get(44)),
        discharged_at=ctx.ts(pv1.get(45)),
    )
    return found if any(getattr(found, name) for name in _ENCOUNTER_FIELDS) else None


def allergies(ctx: MessageContext, segments: list[Segment]) -> tuple[Allergy, ...]:
    found = []
    for al1 in segments:
        code, system, display = values.coded(al1, 3)
        reactions = tuple(r for r in (text(rep) for rep in values.each_whole(al1, 5)) if r)
        found.append(
            Allergy(
                code=code,
                code_system=system,
                display=display,
                category=values.coded_code(al1, 2),  # table 0127: DA, FA, EA, ...
                severity=values.coded_text(al1, 4),
                reactions=reactions,
                identified_at=ctx.ts(al1.get(6)),
            )
        )
    return tuple(found)


def adverse_reactions(ctx: MessageContext, message: Message) -> tuple[Allergy, ...]:
    """IAM (A60, v2.4+): each allergy with its action (IAM-6: add, update, delete) and id."""
    groups: list[tuple[Segment, list[Segment]]] = []
    for seg in message.segments:
        if seg.name == "IAM":
            groups.append((seg, []))
        elif seg.name == "IAR" and groups:  # v2.7+: the reactions of the IAM before it
            groups[-1][1].append(seg)
    return tuple(_adverse_reaction(ctx, iam, iars) for iam, iars in groups)


def _adverse_reaction(ctx: MessageContext, iam: Segment, iars: list[Segment]) -> Allergy:
    code, system, display = values.coded(iam, 3)
    reactions = tuple(r for r in (text(rep) for rep in values.each_whole(iam, 5)) if r)
    if not reactions:
        reactions = tuple(r for r in (values.coded_text(iar, 1) for iar in iars) if r)
    return Allergy(
        code=code,
        code_system=system,
        display=display,
        category=values.coded_code(iam, 2),  # table 0127: DA, FA, EA, ...
        severity=values.coded_text(iam, 4),
        reactions=reactions,
        identified_at=ctx.ts(iam.get(11)),  # the onset date
        action=values.coded_code(iam, 6),
        identifier=text(iam.get(7)),
    )


def diagnoses(ctx: MessageContext, segments: list[Segment]) -> tuple[Diagnosis, ...]:
    found = []
    for dg1 in segments:
        code, system, display = values.coded(dg1, 3)
        if not code and not display:
            display = text(dg1.get(4))  # free-text description (older versions)
        found.append(
            Diagnosis(
                code=code,
                code_system=system or text(dg1.get(2)),
                display=display,
                type=text(dg1.get(6)),
                diagnosed_at=ctx.ts(dg1.get(5)),
            )
        )
    return tuple(found)


def procedures(ctx: MessageContext, segments: list[Segment]) -> tuple[Procedure, ...]:
    """PR1: each procedure, its performer the surgeon (PR1-11), else the first procedure
    practitioner (PR1-12, withdrawn in v2.7: ROL/PRT name them there)."""
    found = []
    for pr1 in segments:
        code, system, display = values.coded(pr1, 3)
        found.append(
            Procedure(
                code=code,
                code_system=system or text(pr1.get(2)),  # PR1-2, the coding method (v2.2)
                display=display,
                description=text(pr1.get(4)),
                performed_at=ctx.ts(pr1.get(5)),
                type=values.coded_code(pr1, 6),  # table 0230: A, P, I, D
                performer=values.provider(pr1, 11) or values.provider(pr1, 12),
                anesthesiologist=values.provider(pr1, 8),
                priority=text(pr1.get(14)),
                identifier=text(pr1.get(19)),
                action=text(pr1.get(20)),
            )
        )
    return tuple(found)


def next_of_kin(segments: list[Segment]) -> tuple[RelatedPerson, ...]:
    found = []
    for nk1 in segments:
        person = RelatedPerson(
            name=values.person_name(nk1, 2),
            relationship=values.coded_text(nk1, 3),
            phones=values.telecoms(nk1, 5, "home") + values.telecoms(nk1, 6, "work"),
        )
        if person != RelatedPerson():
            found.append(person)
    return tuple(found)


def insurance(segments: list[Segment]) -> tuple[Coverage, ...]:
    return tuple(
        Coverage(
            plan_id=values.coded_code(in1, 2),  # the Insurance Plan ID: its identifier
            company=text(in1.get(4)),
            group_number=text(in1.get(8)),
            policy_number=text(in1.get(36)),
        )
        for in1 in segments
    )


def note_text(nte: Segment) -> str | None:
    """NTE-3, its repetitions joined by newlines."""
    raw = nte.field(3)
    if not raw:
        return None
    if values.is_plain(raw, nte):
        return text(raw)
    return text("\n".join(values.each_whole(nte, 3)))


def pairs(message: Message, first: str, second: str) -> list[tuple[Segment, Segment | None]]:
    """Each ``first`` segment with the ``second`` that follows it before the next ``first``
    (PID with its MRG in merges)."""
    found: list[tuple[Segment, Segment | None]] = []
    for seg in message.segments:
        if seg.name == first:
            found.append((seg, None))
        elif seg.name == second and found and found[-1][1] is None:
            found[-1] = (found[-1][0], seg)
    return found

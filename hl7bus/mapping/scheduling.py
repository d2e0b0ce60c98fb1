"""Scheduling: SIU^S12–S15, S17, S26 (appointment booked, rescheduled, modified, cancelled,
deleted; the patient did not show up)."""

from __future__ import annotations

import re
from fractions import Fraction

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import Appointment, ClinicalEvent, EventType, Payload
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, results, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.values import text

SIU_EVENTS = {
    "S12": EventType.APPOINTMENT_BOOKED,
    "S13": EventType.APPOINTMENT_RESCHEDULED,
    "S14": EventType.APPOINTMENT_MODIFIED,
    "S15": EventType.APPOINTMENT_CANCELLED,
    "S17": EventType.APPOINTMENT_DELETED,
    "S26": EventType.APPOINTMENT_NO_SHOW,
}

# Minutes in one of each duration unit: SCH-10's code (ISO+/ANSI+ units, or HL7's TQ
# letters) and the letter of a TQ duration (SCH-11.3: S10, M45, H2, D1, W2).  Units of no
# fixed length (months, years) are not here.
_MINUTES = {
    **dict.fromkeys(("M", "MIN", "MINUTE", "MINUTES"), Fraction(1)),
    **dict.fromkeys(("S", "SEC", "SECOND", "SECONDS"), Fraction(1, 60)),
    **dict.fromkeys(("H", "HR", "HOUR", "HOURS"), Fraction(60)),
    **dict.fromkeys(("D", "DAY", "DAYS"), Fraction(1440)),
    **dict.fromkeys(("W", "WK", "WEEK", "WEEKS"), Fraction(10080)),
}
_TQ_DURATION = re.compile(r"([SMHDW])([-+.0-9]+)", re.IGNORECASE)


def map_appointment(ctx: MessageContext) -> list[ClinicalEvent]:
    m = ctx.message
    sch = ctx.require("SCH")
    tq1 = m.segment("TQ1")
    # TQ1 (v2.5+) first: SCH-11 is kept only for backward compatibility (withdrawn in v2.7).
    start = (ctx.ts(tq1.get(7)) if tq1 is not None else None) or ctx.ts(sch.get(11, 4))
    end = (ctx.ts(tq1.get(8)) if tq1 is not None else None) or ctx.ts(sch.get(11, 5))
    duration = _duration(sch)
    resources = []
    for seg in m.segments:  # in the message's order (the SIU resource group: AIS, AIG, AIL, AIP)
        if seg.name == "AIP":
            found = _person(seg)
        elif seg.name == "AIL":
            found = _place(seg)  # AIL-3 is a location (PL), not a coded value
        elif seg.name in ("AIS", "AIG"):
            found = values.coded_text(seg, 3)
        else:
            continue
        if found:
            resources.append(found)
    ail = m.segment("AIL")
    appointment = Appointment(
        placer_id=text(sch.get(1)),
        filler_id=text(sch.get(2)),
        start=start,
        end=end,
        duration_minutes=duration,
        reason=values.coded_text(sch, 7),
        type=values.coded_text(sch, 8),
        status=values.coded_text(sch, 25),
        resources=tuple(resources),
        location=_place(ail) if ail is not None else None,
    )
    pv1 = m.segment("PV1")
    # the patient's OBX (weight, height, ...), each with its NTEs; the other NTEs are notes
    observations, notes = results.observations_outside_orders(ctx, m.segments)
    return [
        ctx.event(
            SIU_EVENTS[m.trigger_event],
            common.required_patient(ctx),
            occurred_at=ctx.event_time,
            encounter=common.encounter(ctx, pv1),
            payload=Payload(
                appointment=appointment,
                observations=observations,
                diagnoses=common.diagnoses(ctx, m.all("DG1")),
                notes=notes,
            ),
        )
    ]


def _duration(sch: Segment) -> int | None:
    """The appointment's length in whole minutes: SCH-9 in the units of SCH-10 (minutes
    when empty), else SCH-11.3, the TQ duration (``M45``; a bare number is in SCH-10's
    units; free text such as ``2 hours`` gives none).  A number the event cannot carry as
    sent is a data type error naming the field (see :mod:`hl7bus.mapping.values`)."""
    field, raw = 9, text(sch.get(9))
    unit = text(sch.get(10)) or "MIN"
    if raw is None:
        field, raw = 11, text(sch.get(11, 3))
        if raw is None:
            return None
        tq = _TQ_DURATION.fullmatch(raw)
        if tq is not None:
            unit, raw = tq.groups()
        elif not values.is_number(raw):
            return None
    per_unit = _MINUTES.get(unit.upper())
    if per_unit is None:
        raise MessageError(
            ErrorCode.TABLE_VALUE,
            "SCH-10 (appointment duration units) is not a unit of time of fixed length "
            "(minutes, seconds, hours, days or weeks: MIN, S, H, D, WK).",
            segment="SCH",
            field=10,
        )
    what = "appointment duration"
    minutes = values.number(raw, "SCH", field, what) * per_unit
    return values.count(minutes, "SCH", field, what, "minutes")


def _person(aip) -> str | None:
    provider = values.provider(aip, 3)
    if provider is None:
        return None
    name = " ".join(p for p in (provider.given, provider.family) if p)
    return name or provider.id


def _place(ail) -> str | None:
    """AIL-3 (PL): its point of care, else its facility."""
    return text(ail.get(3, 1)) or text(ail.get(3, 4))

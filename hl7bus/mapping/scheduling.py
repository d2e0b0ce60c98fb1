"""Scheduling: SIU^S12–S15 (appointment booked, rescheduled, modified, cancelled)."""

from __future__ import annotations

from hl7bus.events.model import Appointment, ClinicalEvent, EventType, Payload
from hl7bus.mapping import common, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.values import text

SIU_EVENTS = {
    "S12": EventType.APPOINTMENT_BOOKED,
    "S13": EventType.APPOINTMENT_RESCHEDULED,
    "S14": EventType.APPOINTMENT_MODIFIED,
    "S15": EventType.APPOINTMENT_CANCELLED,
}

_MINUTES = {"MIN": 1, "M": 1, "S": 1 / 60, "H": 60, "HR": 60, "HOUR": 60, "D": 1440}


def map_appointment(ctx: MessageContext) -> list[ClinicalEvent]:
    m = ctx.message
    sch = ctx.require("SCH")
    tq1 = m.segment("TQ1")
    # TQ1 (v2.5+) first: SCH-11 is kept only for backward compatibility (withdrawn in v2.7).
    start = (ctx.ts(tq1.get(7)) if tq1 is not None else None) or ctx.ts(sch.get(11, 4))
    end = (ctx.ts(tq1.get(8)) if tq1 is not None else None) or ctx.ts(sch.get(11, 5))
    duration = None
    raw_duration = text(sch.get(9)) or text(sch.get(11, 3))
    if raw_duration:
        unit = (text(sch.get(10)) or "MIN").upper()
        try:
            duration = round(float(raw_duration.rstrip("Mm")) * _MINUTES.get(unit, 1))
        except ValueError:
            duration = None
    resources = []
    for name, n in (("AIS", 3), ("AIG", 3), ("AIP", 3), ("AIL", 3)):
        for seg in m.all(name):
            if name == "AIP":
                found = _person(seg)
            elif name == "AIL":
                found = _place(seg)  # AIL-3 is a location (PL), not a coded value
            else:
                found = values.coded_text(seg, n)
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
    return [
        ctx.event(
            SIU_EVENTS[m.trigger_event],
            common.required_patient(ctx),
            occurred_at=ctx.event_time,
            encounter=common.encounter(ctx, pv1),
            payload=Payload(
                appointment=appointment,
                notes=tuple(n for n in (common.note_text(s) for s in m.all("NTE")) if n),
            ),
        )
    ]


def _person(aip) -> str | None:
    provider = values.provider(aip, 3)
    if provider is None:
        return None
    name = " ".join(p for p in (provider.given, provider.family) if p)
    return name or provider.id


def _place(ail) -> str | None:
    """AIL-3 (PL): its point of care, else its facility."""
    return text(ail.get(3, 1)) or text(ail.get(3, 4))

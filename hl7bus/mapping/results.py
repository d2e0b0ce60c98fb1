"""Orders and their results: the ORC/OBR/OBX/NTE walk that ORU, ORM, OML and MDM share,
and the ORU^R01 mapper."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import ClinicalEvent, EventType, Observation, Order, Payload
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.values import text

CODED_VALUE_TYPES = frozenset({"CE", "CWE", "CNE", "CF", "CD"})
# Value types that are a date or a time (DTM is the TS of v2.6 and later): carried as ISO
# 8601 like every time of the event.
TIME_VALUE_TYPES = frozenset({"DT", "TS", "DTM"})


@dataclass(slots=True)
class OrderGroup:
    """One order (ORC and/or OBR) and everything that followed it."""

    orc: Segment | None = None
    obr: Segment | None = None
    details: list[Segment] = field(default_factory=list)  # RXO, RXE, RXA, RXR, TQ1, SPM, ...
    observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Walk:
    orders: list[OrderGroup] = field(default_factory=list)
    loose_observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def walk(
    ctx: MessageContext, segments: Iterable[Segment], *, starts_order: tuple[str, ...] = ()
) -> Walk:
    """Group segments into orders: ORC opens one; OBR (or a segment in ``starts_order``)
    joins the open ORC or opens its own; OBX and NTE attach to what precedes them."""
    out = Walk()
    current: OrderGroup | None = None
    last_obs: tuple[list[Observation], int] | None = None
    notes_of_last: list[str] = []

    def attach_notes() -> None:
        # NTEs after an OBX are its comments: set them once, when the OBX's run ends.
        if last_obs is not None and notes_of_last:
            target, i = last_obs
            target[i] = _with_notes(target[i], notes_of_last)
            notes_of_last.clear()

    for seg in segments:
        name = seg.name
        if name != "NTE":
            attach_notes()
        if name == "ORC":
            current = OrderGroup(orc=seg)
            out.orders.append(current)
            last_obs = None
        elif name == "OBR" or name in starts_order:
            if (
                current is None
                or (name == "OBR" and current.obr is not None)
                or (name != "OBR" and any(d.name == name for d in current.details))
            ):
                current = OrderGroup()
                out.orders.append(current)
            if name == "OBR":
                current.obr = seg
            else:
                current.details.append(seg)
            last_obs = None
        elif name == "OBX":
            target = current.observations if current is not None else out.loose_observations
            target.append(observation(ctx, seg, current, len(out.orders) - 1 if current else None))
            last_obs = (target, len(target) - 1)
        elif name == "NTE":
            note = common.note_text(seg)
            if note is None:
                continue
            if last_obs is not None:
                notes_of_last.append(note)
            elif current is not None:
                current.notes.append(note)
            else:
                out.notes.append(note)
        elif current is not None and name not in ("PID", "PV1", "PV2", "PD1", "NK1", "AL1"):
            current.details.append(seg)
    attach_notes()
    return out


def observations_outside_orders(
    ctx: MessageContext, segments: Iterable[Segment]
) -> tuple[tuple[Observation, ...], tuple[str, ...]]:
    """The OBX of a message without orders (an ADT's vital signs, height and weight; an
    SIU's), each with the NTEs right after it (its PRTs aside) as its comments; and the other
    NTEs, the message's notes."""
    observations: list[Observation] = []
    notes: list[str] = []
    after_obx = False
    for seg in segments:
        name = seg.name
        if name == "OBX":
            observations.append(observation(ctx, seg, None, None))
            after_obx = True
        elif name == "NTE":
            note = common.note_text(seg)
            if note is None:
                continue
            if after_obx:
                observations[-1] = _with_notes(observations[-1], [note])
            else:
                notes.append(note)
        elif name != "PRT":
            after_obx = False
    return tuple(observations), tuple(notes)


def _with_notes(obs: Observation, notes: list[str]) -> Observation:
    from dataclasses import replace

    return replace(obs, notes=(*obs.notes, *notes))


def observation(
    ctx: MessageContext, obx: Segment, group: OrderGroup | None, order_index: int | None
) -> Observation:
    plain = values.plain
    value_type = plain(obx, 2)
    code, system, display = values.coded(obx, 3)
    local_code = None
    if ctx.profile.codes:
        standard = ctx.profile.standard_code("observation", code)
        if standard is not None:
            local_code, code, system = code, standard.code, standard.system
            display = standard.display or display
    observed = ctx.ts(plain(obx, 14) or "")
    if observed is None and group is not None and group.obr is not None:
        observed = ctx.ts(plain(group.obr, 7) or "")
    units = None
    if obx.field(6):
        units_code, _unit_system, units_display = values.coded(obx, 6)
        units = units_code or units_display
    flags = _flags(obx) if obx.field(8) else ()
    value = _time_value(ctx, obx) if value_type in TIME_VALUE_TYPES else _value(obx, value_type)
    return Observation(
        code=code,
        code_system=system,
        display=display,
        local_code=local_code,
        value_type=value_type,
        value=value,
        units=units,
        reference_range=plain(obx, 7),
        abnormal_flags=flags,
        status=plain(obx, 11),
        observed_at=observed,
        sub_id=plain(obx, 4),
        order_index=order_index,
    )


def _flags(obx: Segment) -> tuple[str, ...]:
    """OBX-8, one flag per repetition: its code (``A`` of ``A^Abnormal^HL70078``, a CWE
    from v2.7 and often before), else its text; repetitions without either are dropped."""
    found = []
    for rep in range(len(obx.repetitions(8))):
        code, _system, display = values.coded(obx, 8, rep)
        if code or display:
            found.append(code or display)
    return tuple(found)


def _value(obx: Segment, value_type: str | None) -> str | None:
    raw = obx.field(5)
    if not raw:
        return None
    if value_type not in CODED_VALUE_TYPES and value_type != "SN":
        for char in obx.encoding.specials:
            if char in raw:
                break
        else:
            return text(raw)
    reps = range(len(obx.repetitions(5)))
    if value_type in CODED_VALUE_TYPES:
        # code^display^system of each repetition: the alternate triple when the first is
        # empty (^^^^S01^^^^Fulton), CWE-9 original text when there is no display.
        parts = []
        for rep in reps:
            code, system, display = values.coded(obx, 5, rep)
            display = display or text(obx.get(5, 9, 1, rep))
            triple = [code or "", display or "", system or ""]
            while triple and not triple[-1]:
                triple.pop()
            if triple:
                parts.append(obx.encoding.component.join(triple))
        return text("\n".join(parts))
    if value_type == "SN":
        return text("\n".join("".join(obx.components(5, rep)) for rep in reps))
    return text("\n".join(values.whole(obx, 5, rep) for rep in reps))


def _time_value(ctx: MessageContext, obx: Segment) -> str | None:
    """A DT, TS or DTM value: each repetition as ISO 8601, as precise as sent, a time without
    offset read in the sender's zone (TS-2, the degree of precision, is left out).  A
    repetition that is not a readable HL7 date or time is kept as sent."""
    if not obx.field(5):
        return None
    parts = []
    for rep in range(len(obx.repetitions(5))):
        parts.append(ctx.ts(obx.get(5, 1, 1, rep)) or values.whole(obx, 5, rep))
    return text("\n".join(parts))


def order(ctx: MessageContext, group: OrderGroup) -> Order:
    orc, obr = group.orc, group.obr

    plain = values.plain

    def pick(orc_field: int, obr_field: int) -> str | None:
        found = plain(orc, orc_field) if orc is not None else None
        if found is None and obr is not None:
            found = plain(obr, obr_field)
        return found

    code = system = display = None
    if obr is not None:
        code, system, display = values.coded(obr, 4)
    ordered_raw = (plain(orc, 9) or "") if orc is not None else ""
    provider = values.provider(orc, 12) if orc is not None else None
    if provider is None and obr is not None:
        provider = values.provider(obr, 16)
    priority = None
    if orc is not None:
        priority = text(orc.get(7, 6)) if orc.field(7) else None
    if priority is None and obr is not None:
        priority = plain(obr, 5) or (text(obr.get(27, 6)) if obr.field(27) else None)
    tq1 = next((d for d in group.details if d.name == "TQ1"), None)
    if priority is None and tq1 is not None:
        # TQ1-9 is coded (table 0485); its code, as ORC-7.6 and OBR-5 give one (table 0027)
        priority = values.coded_code(tq1, 9)
    spm = next((d for d in group.details if d.name == "SPM"), None)
    specimen = None
    if obr is not None and obr.field(15):
        specimen = _specimen_source(obr)
    if specimen is None and spm is not None:
        specimen = values.coded_text(spm, 4)
    return Order(
        placer_order_number=pick(2, 2),
        filler_order_number=pick(3, 3),
        placer_group_number=plain(orc, 4) if orc is not None else None,
        control=plain(orc, 1) if orc is not None else None,
        status=(plain(orc, 5) if orc is not None else None)
        or (plain(obr, 25) if obr is not None else None),
        code=code,
        code_system=system,
        display=display,
        priority=priority,
        ordered_at=ctx.ts(ordered_raw)
        or (ctx.ts(plain(obr, 6) or "") if obr is not None else None),
        observed_at=ctx.ts(plain(obr, 7) or "") if obr is not None else None,
        ordering_provider=provider,
        specimen_source=specimen,
        notes=tuple(group.notes),
    )


def _specimen_source(obr: Segment) -> str | None:
    """OBR-15 (SPS): its first component is a coded element written in subcomponents
    (``258412000&Oropharyngeal&SCT``): its text, else its code.  Many senders write a
    plain CE there instead (``Swab^Swab^HL70487``), read as one."""
    subs = obr.subcomponents(15, 1)
    if len(subs) > 1:
        return text(subs[1]) or text(subs[0])
    return values.coded_text(obr, 15)


def patient_groups(ctx: MessageContext) -> list[list[Segment]]:
    """The message cut at each PID: one list of segments per patient (header segments dropped)."""
    groups: list[list[Segment]] = []
    for seg in ctx.message.segments:
        if seg.name == "PID":
            groups.append([seg])
        elif groups:
            groups[-1].append(seg)
    if not groups:
        raise MessageError(
            ErrorCode.SEGMENT_SEQUENCE,
            f"{ctx.message.message_type}^{ctx.message.trigger_event} has no PID segment, so "
            "its content belongs to no patient.",
            segment="PID",
            control_id=ctx.message.control_id,
        )
    return groups


def map_results(ctx: MessageContext) -> list[ClinicalEvent]:
    """ORU^R01 (and R30–R32): one OBSERVATIONS_REPORTED event per patient in the message."""
    events = []
    for group in patient_groups(ctx):
        pid = group[0]
        pv1 = next((s for s in group if s.name == "PV1"), None)
        found = walk(ctx, group[1:])
        orders = tuple(order(ctx, g) for g in found.orders)
        observations = tuple(
            [o for g in found.orders for o in g.observations] + found.loose_observations
        )
        occurred = (
            next((o.observed_at for o in orders if o.observed_at), None)
            or next((o.observed_at for o in observations if o.observed_at), None)
            or ctx.recorded_at
        )
        events.append(
            ctx.event(
                EventType.OBSERVATIONS_REPORTED,
                common.patient(ctx, pid),
                occurred_at=occurred,
                encounter=common.encounter(ctx, pv1),
                payload=Payload(observations=observations, orders=orders, notes=tuple(found.notes)),
            )
        )
    return events

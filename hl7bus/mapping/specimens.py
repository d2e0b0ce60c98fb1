"""Laboratory results by specimen and container, as lab automation sends them: OUL^R22
(specimen first: SPM, its containers, then its orders), OUL^R23 (container first: SPM, then
each SAC with its orders) and OUL^R24 (order first: OBR, then its specimens and results)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hl7bus.events.model import ClinicalEvent, EventType, Observation, Payload, Specimen
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, results, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.values import text

# An OUL's order group: OBR, then its ORC (either may come first in what senders send).
_ORDER_DETAILS = frozenset({"TQ1", "TQ2"})


@dataclass(slots=True)
class _Specimen:
    spm: Segment
    containers: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Found:
    orders: list[results.OrderGroup] = field(default_factory=list)
    specimens: list[_Specimen] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _walk(ctx: MessageContext, segments: list[Segment], *, order_first: bool) -> _Found:
    """Group one patient's segments: each OBX with its order and its specimen.

    A specimen (SPM) is followed by its containers (SAC).  In a specimen-first message (R22,
    R23) an SPM starts a new specimen whose orders follow it; in an order-first one (R24) the
    SPMs after an OBR are that order's, and a new OBR starts without a specimen.  An order's
    SPM is also among its details, so that the order's ``specimen_source`` is the
    specimen's type."""
    out = _Found()
    order: results.OrderGroup | None = None
    specimen: int | None = None
    last_obx: int | None = None

    def open_order() -> results.OrderGroup:
        nonlocal specimen
        group = results.OrderGroup()
        out.orders.append(group)
        if order_first:
            specimen = None
        elif specimen is not None:
            group.details.append(out.specimens[specimen].spm)
        return group

    for seg in segments:
        name = seg.name
        if name != "NTE":
            last_obx = None
        if name == "SPM":
            out.specimens.append(_Specimen(seg))
            specimen = len(out.specimens) - 1
            if order_first and order is not None:
                order.details.append(seg)
            else:
                order = None
        elif name == "SAC":
            container = text(seg.get(3))
            if specimen is not None and container is not None:
                out.specimens[specimen].containers.append(container)
        elif name == "OBR":
            if order is None or order.obr is not None or order.orc is None:
                order = open_order()
            order.obr = seg
        elif name == "ORC":
            if order is None or order.orc is not None:
                order = open_order()
            order.orc = seg
        elif name == "OBX":
            index = len(out.orders) - 1 if order is not None else None
            found = results.observation(ctx, seg, order, index)
            if specimen is not None:
                observed = found.observed_at or _collected(ctx, out.specimens[specimen].spm)
                found = replace(found, specimen_index=specimen, observed_at=observed)
            out.observations.append(found)
            last_obx = len(out.observations) - 1
        elif name == "NTE":
            note = common.note_text(seg)
            if note is None:
                continue
            if last_obx is not None:
                obs = out.observations[last_obx]
                out.observations[last_obx] = replace(obs, notes=(*obs.notes, note))
            elif order is not None:
                order.notes.append(note)
            else:
                out.notes.append(note)
        elif order is not None and name in _ORDER_DETAILS:
            order.details.append(seg)
    return out


def _collected(ctx: MessageContext, spm: Segment) -> str | None:
    return ctx.ts(spm.get(17))  # SPM-17 is a range: its start


def _specimen_id(spm: Segment) -> str | None:
    """SPM-2 (EIP): the filler's id (its second component) else the placer's, each an EI
    whose first subcomponent is the identifier."""
    return text(spm.get(2, 2)) or text(spm.get(2, 1))


def _rejection(spm: Segment) -> str | None:
    reasons = [values.coded_text(spm, 21, rep) for rep in range(len(spm.repetitions(21)))]
    return "; ".join(r for r in reasons if r) or None


def specimen(ctx: MessageContext, found: _Specimen) -> Specimen:
    spm = found.spm
    code, system, display = values.coded(spm, 4)
    return Specimen(
        specimen_id=_specimen_id(spm),
        type=code or display,
        type_system=system,
        type_display=display,
        source_site=values.coded_text(spm, 8),
        collected_at=_collected(ctx, spm),
        received_at=ctx.ts(spm.get(18)),
        rejection_reason=_rejection(spm),
        container_ids=tuple(found.containers),
    )


def map_specimen_results(ctx: MessageContext) -> list[ClinicalEvent]:
    """OUL^R22, R23 and R24: one OBSERVATIONS_REPORTED event per patient, its results each
    pointing at their order (``order_index``) and specimen (``specimen_index``).  The event
    happened when the first specimen was collected (SPM-17), else at the first OBR-7, else
    the first OBX-14, else at MSH-7."""
    order_first = ctx.message.trigger_event == "R24"
    events = []
    for group in results.patient_groups(ctx):
        pv1 = next((s for s in group if s.name == "PV1"), None)
        found = _walk(ctx, group[1:], order_first=order_first)
        specimens = tuple(specimen(ctx, s) for s in found.specimens)
        orders = tuple(results.order(ctx, g) for g in found.orders)
        observations = tuple(found.observations)
        occurred = (
            next((s.collected_at for s in specimens if s.collected_at), None)
            or next((o.observed_at for o in orders if o.observed_at), None)
            or next((o.observed_at for o in observations if o.observed_at), None)
            or ctx.recorded_at
        )
        events.append(
            ctx.event(
                EventType.OBSERVATIONS_REPORTED,
                common.patient(ctx, group[0]),
                occurred_at=occurred,
                encounter=common.encounter(ctx, pv1),
                payload=Payload(
                    observations=observations,
                    orders=orders,
                    specimens=specimens,
                    notes=tuple(found.notes),
                ),
            )
        )
    return events

"""Pharmacy and immunization: RDE^O11 (encoded order), RAS^O17 (administration),
VXU^V04 (vaccination record)."""

from __future__ import annotations

from dataclasses import replace

from hl7bus.events.model import ClinicalEvent, EventType, Medication, Payload
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, results, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.orders import no_order, order_event_type
from hl7bus.mapping.values import text


def _detail(group: results.OrderGroup, name: str, after: Segment | None) -> Segment | None:
    """The first ``name`` segment that follows ``after`` in the order (the RXR and TQ1 of an
    RXE are its encoded route and timing, those before it the order's), else the first."""
    details = group.details
    for i, seg in enumerate(details):
        if seg is after:
            found = next((d for d in details[i + 1 :] if d.name == name), None)
            if found is not None:
                return found
            break
    return next((d for d in details if d.name == name), None)


def _route(group: results.OrderGroup, after: Segment | None = None) -> str | None:
    rxr = _detail(group, "RXR", after)
    return values.coded_text(rxr, 1) if rxr is not None else None


def _encoded(rxe: Segment, group: results.OrderGroup, index: int) -> Medication:
    code, system, display = values.coded(rxe, 2)
    frequency = text(rxe.get(1, 2))
    tq1 = _detail(group, "TQ1", rxe)
    if frequency is None and tq1 is not None:
        frequency = text(tq1.get(3))
    return Medication(
        code=code,
        code_system=system,
        display=display,
        dose=text(rxe.get(3)),
        dose_units=values.coded_code(rxe, 5),
        route=_route(group, rxe),
        frequency=frequency,
        dispense_amount=text(rxe.get(10)),
        order_index=index,
    )


def _administered(
    ctx: MessageContext, rxa: Segment, group: results.OrderGroup, index: int | None
) -> Medication:
    code, system, display = values.coded(rxa, 5)
    return Medication(
        code=code,
        code_system=system,
        display=display,
        dose=text(rxa.get(6)),
        dose_units=values.coded_code(rxa, 7),
        route=_route(group, rxa),
        administered_at=ctx.ts(rxa.get(3)),
        completion_status=text(rxa.get(20)),
        lot_number=text(rxa.get(15)),
        manufacturer=values.coded_text(rxa, 17),
        order_index=index,
    )


def map_pharmacy_order(ctx: MessageContext) -> list[ClinicalEvent]:
    """RDE^O11: one MEDICATION_ORDERED event per new order (ORDER_CANCELLED or
    ORDER_STATUS_CHANGED per ORC-1, as for any order)."""
    events = []
    for group in results.patient_groups(ctx):
        patient = common.patient(ctx, group[0])
        encounter = common.encounter(ctx, next((s for s in group if s.name == "PV1"), None))
        found = results.walk(ctx, group[1:], starts_order=("RXE",))
        # the patient's AL1 (before the first order) go with the first order, as in ORM
        allergies = common.allergies(ctx, [s for s in group if s.name == "AL1"])
        for group_index, order_group in enumerate(found.orders):
            order = results.order(ctx, order_group)
            meds = tuple(
                _encoded(d, order_group, 0) for d in order_group.details if d.name == "RXE"
            )
            events.append(
                ctx.event(
                    order_event_type(order.control, placed=EventType.MEDICATION_ORDERED),
                    patient,
                    occurred_at=order.ordered_at or ctx.recorded_at,
                    encounter=encounter,
                    payload=Payload(
                        orders=(order,),
                        medications=meds,
                        observations=tuple(order_group.observations),
                        allergies=allergies if group_index == 0 else (),
                    ),
                )
            )
    if not events:
        raise no_order(ctx, "ORC or RXE")
    return events


def _administrations(ctx: MessageContext, kind: EventType) -> list[ClinicalEvent]:
    events = []
    for group in results.patient_groups(ctx):
        patient = common.patient(ctx, group[0])
        encounter = common.encounter(ctx, next((s for s in group if s.name == "PV1"), None))
        found = results.walk(ctx, group[1:], starts_order=("RXA",))
        first = True
        for order_group in found.orders:
            rxas = [d for d in order_group.details if d.name == "RXA"]
            if not rxas:
                continue
            order = results.order(ctx, order_group)
            meds = tuple(_administered(ctx, rxa, order_group, 0) for rxa in rxas)
            # an NTE of the order is the order's (results.order keeps it); payload.notes
            # holds those of no order or observation, and the observations before the
            # first order are the patient's (VXU v2.6+): both once per patient
            notes = tuple(found.notes) if first else ()
            observations = tuple(found.loose_observations) if first else ()
            first = False
            events.append(
                ctx.event(
                    kind,
                    patient,
                    occurred_at=meds[0].administered_at or ctx.recorded_at,
                    encounter=encounter,
                    payload=Payload(
                        orders=(order,),
                        medications=meds,
                        # each event holds one order: its observations point at it (0)
                        observations=(
                            *observations,
                            *(replace(o, order_index=0) for o in order_group.observations),
                        ),
                        notes=notes,
                    ),
                )
            )
    return events


def map_administration(ctx: MessageContext) -> list[ClinicalEvent]:
    """RAS^O17: one MEDICATION_ADMINISTERED event per order's administrations."""
    events = _administrations(ctx, EventType.MEDICATION_ADMINISTERED)
    if not events:
        raise no_order(ctx, "RXA")
    return events


def map_vaccination(ctx: MessageContext) -> list[ClinicalEvent]:
    """VXU^V04: one IMMUNIZATION_RECORDED event per vaccine given (RXA); a VXU without any
    RXA records nothing and is refused, as an RAS without one is."""
    events = _administrations(ctx, EventType.IMMUNIZATION_RECORDED)
    if not events:
        raise no_order(ctx, "RXA")
    return events

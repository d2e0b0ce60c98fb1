"""Pharmacy dispense: RDS^O13, what the pharmacy gave out for each order (RXD)."""

from __future__ import annotations

from dataclasses import replace

from hl7bus.events.model import ClinicalEvent, EventType, Medication, Payload
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, pharmacy, results, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.orders import no_order
from hl7bus.mapping.values import text


def _dispensed(ctx: MessageContext, rxd: Segment, group: results.OrderGroup) -> Medication:
    """One RXD: the medication, amount and time it was dispensed, its lot; the dose, its
    unit and frequency are the order's encoded ones (its RXE), the route the RXR after the
    RXD (else the order's)."""
    code, system, display = values.coded(rxd, 2)
    rxe = next((d for d in group.details if d.name == "RXE"), None)
    encoded = pharmacy._encoded(rxe, group, 0) if rxe is not None else Medication()
    return Medication(
        code=code,
        code_system=system,
        display=display,
        dose=encoded.dose,
        dose_units=encoded.dose_units,
        route=pharmacy._route(group, rxd),
        frequency=encoded.frequency,
        dispense_amount=text(rxd.get(4)),
        dispense_units=values.coded_code(rxd, 5),
        dispensed_at=ctx.ts(rxd.get(3)),
        prescription_number=text(rxd.get(7)),
        lot_number=text(rxd.get(18)),
        manufacturer=values.coded_text(rxd, 20),
        order_index=0,
    )


def map_dispense(ctx: MessageContext) -> list[ClinicalEvent]:
    """RDS^O13: one MEDICATION_DISPENSED event per order (ORC) with its dispenses (RXD), at
    the time of the first (RXD-3, else MSH-7); the patient's AL1 go with the first."""
    events = []
    for group in results.patient_groups(ctx):
        patient = common.patient(ctx, group[0])
        encounter = common.encounter(ctx, next((s for s in group if s.name == "PV1"), None))
        allergies = common.allergies(ctx, [s for s in group if s.name == "AL1"])
        found = results.walk(ctx, group[1:], starts_order=("RXD",))
        first = True
        for order_group in found.orders:
            rxds = [d for d in order_group.details if d.name == "RXD"]
            if not rxds:
                continue
            meds = tuple(_dispensed(ctx, rxd, order_group) for rxd in rxds)
            events.append(
                ctx.event(
                    EventType.MEDICATION_DISPENSED,
                    patient,
                    occurred_at=meds[0].dispensed_at or ctx.recorded_at,
                    encounter=encounter,
                    payload=Payload(
                        orders=(results.order(ctx, order_group),),
                        medications=meds,
                        observations=tuple(
                            replace(o, order_index=0) for o in order_group.observations
                        ),
                        allergies=allergies if first else (),
                        notes=tuple(found.notes) if first else (),
                    ),
                )
            )
            first = False
    if not events:
        raise no_order(ctx, "RXD")
    return events

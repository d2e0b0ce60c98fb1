"""Orders: ORM^O01, OML^O21 and O33 (laboratory and general orders) and OMG^O19 (general
clinical orders)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import ClinicalEvent, EventType, Payload
from hl7bus.hl7 import Segment
from hl7bus.mapping import common, results
from hl7bus.mapping.context import MessageContext

# HL7 table 0119: cancel or discontinue requests and their answers.
CANCEL_CONTROLS = frozenset({"CA", "OC", "CR", "DC", "OD", "DR"})
# A new order: new, send order number, replacement, parent and child orders.  Every other
# control (XO change request, XX/XR changed, SC status changed, HD hold, ...) concerns an
# order already placed.
NEW_ORDER_CONTROLS = frozenset({"NW", "SN", "RO", "PA", "CH"})


def order_event_type(control: str | None, placed: EventType = EventType.ORDER_PLACED) -> EventType:
    """ORC-1 (order control, table 0119) as an event type; ``placed`` is what a new order
    is (a pharmacy order: ``MEDICATION_ORDERED``)."""
    if control in CANCEL_CONTROLS:
        return EventType.ORDER_CANCELLED
    if control is None or control in NEW_ORDER_CONTROLS:
        return placed
    return EventType.ORDER_STATUS_CHANGED


def map_orders(ctx: MessageContext) -> list[ClinicalEvent]:
    """One event per order (ORC group), for each patient of the message."""
    return order_events(ctx, results.patient_groups(ctx))


def map_specimen_orders(ctx: MessageContext) -> list[ClinicalEvent]:
    """OML^O33: the orders grouped under the specimen they are for (an SPM, then its ORC and
    OBR groups): one event per order, as OML^O21, each with its own specimen."""
    return order_events(ctx, [_specimen_with_each_order(g) for g in results.patient_groups(ctx)])


def _specimen_with_each_order(group: list[Segment]) -> list[Segment]:
    """A patient's segments with each SPM moved into every order that follows it (up to the
    next SPM), where the order's reading finds its specimen."""
    out: list[Segment] = []
    specimen: Segment | None = None
    for seg in group:
        if seg.name == "SPM":
            specimen = seg
            continue
        out.append(seg)
        if seg.name == "ORC" and specimen is not None:
            out.append(specimen)
    return out


def map_general_order(ctx: MessageContext) -> list[ClinicalEvent]:
    """OMG^O19 (a general clinical order: a consult, an echo, therapy): one event per order,
    as ORM/OML.  Its PRIOR_RESULT groups (a PID, PV1 or AL1 after the orders, then earlier
    orders and their results) are context for the filler: neither orders nor new results,
    so they are left out."""
    return order_events(ctx, [_before_prior_results(results.patient_groups(ctx))])


_PRIOR_RESULT_STARTS = frozenset({"PID", "PD1", "PV1", "PV2", "AL1"})


def _before_prior_results(groups: list[list[Segment]]) -> list[Segment]:
    """OMG's one patient, cut where its first PRIOR_RESULT group starts."""
    segments = [s for group in groups for s in group]
    ordered = False
    for i, seg in enumerate(segments):
        if seg.name in ("ORC", "OBR"):
            ordered = True
        elif ordered and seg.name in _PRIOR_RESULT_STARTS:
            return segments[:i]
    return segments


def order_events(
    ctx: MessageContext,
    groups: list[list[Segment]],
    details: Callable[[results.OrderGroup], dict[str, Any]] | None = None,
    required: str = "ORC or OBR",
) -> list[ClinicalEvent]:
    """One event per order (ORC group) of each patient's segments (PID first), by ORC-1;
    ``details`` adds payload parts read from the order group's other segments (a diet
    order's ODS); without any order, the message is refused for want of ``required``."""
    events = []
    for group in groups:
        pid = group[0]
        pv1 = next((s for s in group if s.name == "PV1"), None)
        patient = common.patient(ctx, pid)
        encounter = common.encounter(ctx, pv1)
        found = results.walk(ctx, group[1:])
        allergies = common.allergies(ctx, [s for s in group if s.name == "AL1"])
        # DG1 before the first order (Epic sends them there) goes with the first event.
        in_orders = {id(d) for g in found.orders for d in g.details}
        loose_dg1 = [s for s in group if s.name == "DG1" and id(s) not in in_orders]
        for group_index, order_group in enumerate(found.orders):
            order = results.order(ctx, order_group)
            observations = tuple(replace(o, order_index=0) for o in order_group.observations)
            diagnoses = common.diagnoses(
                ctx,
                (loose_dg1 if group_index == 0 else [])
                + [d for d in order_group.details if d.name == "DG1"],
            )
            events.append(
                ctx.event(
                    order_event_type(order.control),
                    patient,
                    occurred_at=order.ordered_at or ctx.recorded_at,
                    encounter=encounter,
                    payload=Payload(
                        orders=(order,),
                        observations=observations,
                        diagnoses=diagnoses,
                        allergies=allergies if group_index == 0 else (),
                        notes=tuple(found.notes) if group_index == 0 else (),
                        **(details(order_group) if details is not None else {}),
                    ),
                )
            )
    if not events:
        raise no_order(ctx, required)
    return events


def no_order(ctx: MessageContext, segments: str) -> MessageError:
    """The error for an order message that holds no order (its ORDER group is required)."""
    m = ctx.message
    return MessageError(
        ErrorCode.SEGMENT_SEQUENCE,
        f"{m.message_type}^{m.trigger_event} holds no order (no {segments} segment after "
        "the PID), so it has nothing to report.",
        segment=segments.split()[0],
        control_id=m.control_id or None,
    )

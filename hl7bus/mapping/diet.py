"""Diet orders: OMD^O03, the diets, supplements, food preferences (ODS) and trays (ODT) the
kitchen is to serve."""

from __future__ import annotations

from typing import Any

from hl7bus.events.model import ClinicalEvent, DietItem
from hl7bus.hl7 import Segment
from hl7bus.mapping import results, values
from hl7bus.mapping.context import MessageContext
from hl7bus.mapping.orders import order_events
from hl7bus.mapping.values import text

# ODS-1, table 0159.
DIET_KINDS = {"D": "diet", "S": "supplement", "P": "preference"}


def _codes(seg: Segment, n: int) -> list[tuple[str | None, str | None, str | None]]:
    found = []
    for rep in range(len(seg.repetitions(n))):
        code, system, display = values.coded(seg, n, rep)
        if code or display:
            found.append((code or display, system, display))
    return found


def _periods(seg: Segment, n: int) -> tuple[str, ...]:
    return tuple(code for code, _system, _display in _codes(seg, n) if code)


def _instructions(seg: Segment, n: int) -> str | None:
    return text("\n".join(t for t in (text(r) or "" for r in values.each_whole(seg, n)) if t))


def _diet(ods: Segment) -> list[DietItem]:
    """One ODS: an item per ODS-3 code (a diet of several codes is each of them), each with
    the segment's service periods and instructions; one item without a code when ODS-3 is
    empty but instructions are given."""
    raw_kind = text(ods.get(1))
    kind = DIET_KINDS.get((raw_kind or "").upper(), raw_kind)
    periods, instructions = _periods(ods, 2), _instructions(ods, 4)
    codes = _codes(ods, 3) or ([(None, None, None)] if instructions else [])
    return [
        DietItem(kind, code, system, display, periods, instructions)
        for code, system, display in codes
    ]


def _tray(odt: Segment) -> DietItem:
    code, system, display = values.coded(odt, 1)
    return DietItem(
        "tray", code or display, system, display, _periods(odt, 2), _instructions(odt, 3)
    )


def _diet_items(group: results.OrderGroup) -> dict[str, Any]:
    items: list[DietItem] = []
    for seg in group.details:
        if seg.name == "ODS":
            items.extend(_diet(seg))
        elif seg.name == "ODT":
            items.append(_tray(seg))
    return {"diet": tuple(items)}


def map_diet_order(ctx: MessageContext) -> list[ClinicalEvent]:
    """OMD^O03: one order event per ORC, by ORC-1 as for any order (NW: ORDER_PLACED),
    with what it orders in ``payload.diet``."""
    return order_events(ctx, results.patient_groups(ctx), _diet_items, required="ORC")

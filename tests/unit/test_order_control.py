"""ORC-1, the order control code (HL7 table 0119), says what happened to an order; a general
order (ORM, OML) and a pharmacy order (RDE) read it the same way."""

from __future__ import annotations

import pytest

from hl7bus.events.model import EventType
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

# Per message type: MSH-9, and the segment that follows the ORC (the order itself).
ORDERS = {
    "ORM": ("ORM^O01", "OBR|1|RX-44120^ADMITWISE|PP-44120^PILLPATH|71046^Chest X-ray^CPT4"),
    "RDE": ("RDE^O11", "RXE|^BID|197361^Amlodipine 5 MG Oral Tablet^RXNORM|5||mg"),
}


def _order(kind: str, control: str) -> str:
    """A one-order message of ``kind`` whose ORC-1 is ``control``."""
    message_type, order = ORDERS[kind]
    return "\r".join(
        [
            f"MSH|^~\\&|ADMITWISE|RBGH|HL7BUS|RBGH|20250118103500-0600||{message_type}|C-1|P|2.5.1",
            "PID|1||RB004417^^^RBGH^MR||Brannigan^Thaddeus||19610922|M",
            f"ORC|{control}|RX-44120^ADMITWISE|PP-44120^PILLPATH||||||20250118103000-0600",
            order,
        ]
    )


def _event_type(message: str) -> EventType:
    (event,) = translate(message, ProfileSet()).events
    return event.event_type


def test_a_changed_order_is_a_status_change_in_an_orm_and_an_rde():
    """XO, "change order/service request", changes an order already placed."""
    assert _event_type(_order("ORM", "XO")) == EventType.ORDER_STATUS_CHANGED
    assert _event_type(_order("RDE", "XO")) == EventType.ORDER_STATUS_CHANGED


@pytest.mark.parametrize("control", ["XO", "XX", "XR", "SC", "HD", "RL", "CA", "OC", "DC"])
def test_an_orm_and_an_rde_read_an_order_control_alike(control: str):
    assert _event_type(_order("ORM", control)) == _event_type(_order("RDE", control))


@pytest.mark.parametrize(
    ("control", "orm", "rde"),
    [
        ("NW", EventType.ORDER_PLACED, EventType.MEDICATION_ORDERED),
        ("", EventType.ORDER_PLACED, EventType.MEDICATION_ORDERED),
        ("CA", EventType.ORDER_CANCELLED, EventType.ORDER_CANCELLED),
        ("DC", EventType.ORDER_CANCELLED, EventType.ORDER_CANCELLED),
    ],
)
def test_a_new_order_is_placed_and_a_cancelled_one_cancelled(control, orm, rde):
    assert (_event_type(_order("ORM", control)), _event_type(_order("RDE", control))) == (orm, rde)

"""An administration message (RAS^O17, VXU^V04) says what was given in its RXA segments: one
without any RXA reports nothing, and is rejected naming RXA (a segment sequence error, as
for any required segment that is missing), never accepted with no event."""

from __future__ import annotations

import pytest

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import EventType
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

HEADERS = {
    "VXU": "MSH|^~\\&|JABREG|RBGH-PEDS|HL7BUS|RBGH|20250301103000-0600||VXU^V04|VX-1|P|2.5.1",
    "RAS": "MSH|^~\\&|PILLPATH|RBGH-RX|HL7BUS|RBGH|20250119091000-0600||RAS^O17|RX-1|P|2.5.1",
}
PID = "PID|1||RB020480^^^RBGH^MR||Marchetti-Osei^Nico||20231104|M"
RXA = "RXA|0|1|20250301101500-0600||141^Influenza, seasonal, injectable^CVX|0.5|mL|||||||||||||CP"


def _message(kind: str, *segments: str) -> str:
    return "\r".join([HEADERS[kind], PID, *segments, ""])


@pytest.mark.parametrize("kind", ["VXU", "RAS"])
@pytest.mark.parametrize(
    "segments",
    [
        (),
        ("ORC|RE||VX-9001^JABREG",),
        ("ORC|RE||VX-9001^JABREG", "RXR|C28161^Intramuscular^NCIT"),
        ("NK1|1|Osei^Adwoa|MTH^Mother^HL70063", "ORC|RE||VX-9001^JABREG"),
    ],
)
def test_an_administration_without_rxa_is_rejected_naming_rxa(kind, segments):
    with pytest.raises(MessageError) as caught:
        translate(_message(kind, *segments), ProfileSet())
    error = caught.value
    assert (error.code, error.segment, error.field) == (ErrorCode.SEGMENT_SEQUENCE, "RXA", None)
    assert "RXA" in error.message
    assert error.control_id == f"{'VX' if kind == 'VXU' else 'RX'}-1"


@pytest.mark.parametrize(
    ("kind", "event_type"),
    [("VXU", EventType.IMMUNIZATION_RECORDED), ("RAS", EventType.MEDICATION_ADMINISTERED)],
)
def test_an_administration_with_an_rxa_gives_its_event(kind, event_type):
    (event,) = translate(_message(kind, "ORC|RE||VX-9001^JABREG", RXA), ProfileSet()).events
    assert event.event_type == event_type
    assert [m.code for m in event.payload.medications] == ["141"]

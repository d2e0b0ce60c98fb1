"""A coded HL7 field whose event field holds a code (an allergy's category, a plan's id, an
order's priority, a dose's units) gives its code however the sender writes it: as a plain
code or as a full coded element (code^text^system).  Only a sender that gives the text alone
gets its text."""

from __future__ import annotations

import pytest

from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

MSH = "MSH|^~\\&|ADMITWISE|RBGH|HL7BUS|RBGH|20250114083012-0600||{}|C-1|P|2.5.1"
PID = "PID|1||RB004417^^^RBGH^MR||Brannigan^Thaddeus||19610922|M"


def _event(message_type: str, *segments: str):
    message = "\r".join([MSH.format(message_type), PID, *segments, ""])
    (event,) = translate(message, ProfileSet()).events
    return event


WRITTEN = [
    ("{code}", "code"),
    ("{code}^{text}^{system}", "code"),
    ("{code}^{text}", "code"),
    ("^{text}^{system}", "text"),
]


@pytest.mark.parametrize(("written", "gives"), WRITTEN)
def test_the_allergy_category_is_the_table_0127_code(written, gives):
    value = written.format(code="FA", text="Food allergy", system="HL70127")
    event = _event("ADT^A01", "PV1|1|I", f"AL1|1|{value}|256349002^Peanut^SCT")
    (allergy,) = event.payload.allergies
    assert allergy.category == {"code": "FA", "text": "Food allergy"}[gives]


@pytest.mark.parametrize(("written", "gives"), WRITTEN)
def test_the_insurance_plan_id_is_the_in1_2_identifier(written, gives):
    value = written.format(code="PPO-330", text="Prairie Shield PPO", system="L")
    event = _event("ADT^A01", "PV1|1|I", f"IN1|1|{value}|PSM01|Prairie Shield Mutual")
    (coverage,) = event.payload.insurance
    assert coverage.plan_id == {"code": "PPO-330", "text": "Prairie Shield PPO"}[gives]


@pytest.mark.parametrize(("written", "gives"), WRITTEN)
def test_the_tq1_9_priority_is_the_table_0485_code(written, gives):
    value = written.format(code="S", text="Stat", system="HL70485")
    event = _event(
        "OML^O21",
        "ORC|NW|LO-5002^ADMITWISE",
        f"TQ1|1||||||||{value}",
        "OBR|1|LO-5002^ADMITWISE||4548-4^Hemoglobin A1c^LN",
    )
    (order,) = event.payload.orders
    assert order.priority == {"code": "S", "text": "Stat"}[gives]


@pytest.mark.parametrize(("written", "gives"), WRITTEN)
@pytest.mark.parametrize(
    ("message_type", "segment"),
    [
        ("RDE^O11", "RXE|^BID|197361^Amlodipine 5 MG Oral Tablet^RXNORM|5||{units}"),
        ("RAS^O17", "RXA|0|1|20250119090200-0600||197361^Amlodipine^RXNORM|5|{units}"),
    ],
)
def test_the_dose_units_are_the_unit_code(message_type, segment, written, gives):
    units = written.format(code="mg", text="milligram", system="UCUM")
    event = _event(message_type, "ORC|NW|RX-44120^ADMITWISE", segment.format(units=units))
    (medication,) = event.payload.medications
    assert medication.dose_units == {"code": "mg", "text": "milligram"}[gives]

"""HL7 numbers keep their meaning on the way to Avro.

A numeric HL7 field that becomes an Avro number (SCH-9, the appointment's duration, into
the event's 32-bit ``duration_minutes``) is either carried exactly or the message is
refused with a data type error naming the segment and field: never wrapped (the issue:
SCH-9 ``99999999999999999999`` came out of Kafka as 7766279631452241925), rounded, or read
as infinity.  Numbers the event carries as text (OBX-5 of an NM observation) stay the text
that was sent, whatever its size.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.records import decode, encode
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

PROFILES = ProfileSet()


def _siu(sch9: str = "", sch10: str = "", sch11: str = "") -> str:
    return "\r".join(
        [
            "MSH|^~\\&|SLOTBOOK|RBGH-OPD|HL7BUS|RBGH|20250520101500||SIU^S12|SB-1|P|2.5.1",
            "SCH|APT-1^SLOTBOOK|APT-1^SLOTBOOK|||||FOLLOWUP^Follow-up^L|NEW^New^L|"
            f"{sch9}|{sch10}|{sch11}||||||||||||||Booked",
            "PID|1||RB004417^^^RBGH^MR||Brannigan^Thaddeus",
            "",
        ]
    )


def _duration(message: str) -> int | None:
    """The duration as a consumer reads it: the event's Avro bytes, decoded by fastavro."""
    (event,) = translate(message, PROFILES).events
    assert event.payload.appointment is not None
    return decode(encode(event)).payload.appointment.duration_minutes


def _refusal(message: str) -> MessageError:
    with pytest.raises(MessageError) as caught:
        translate(message, PROFILES)
    return caught.value


@pytest.mark.parametrize(
    ("sch9", "sch10", "minutes"),
    [
        ("30", "MIN", 30),
        ("30", "", 30),
        ("+30", "min^minutes^ISO+", 30),
        ("030", "MIN", 30),
        ("30.0", "MIN", 30),
        (" 30 ", "MIN", 30),
        ("1.5", "H", 90),
        ("60", "s", 1),
        ("2", "D", 2880),
        ("0", "MIN", 0),
        ("2147483647", "MIN", 2147483647),
    ],
)
def test_a_duration_that_fits_is_carried_exactly(sch9, sch10, minutes):
    assert _duration(_siu(sch9, sch10)) == minutes


@pytest.mark.parametrize(
    ("sch9", "sch10", "why"),
    [
        ("99999999999999999999", "MIN", "more minutes than"),
        ("2147483648", "MIN", "more minutes than"),
        ("1491309", "D", "more minutes than"),
        ("1e400", "MIN", "not a number"),
        ("NaN", "MIN", "not a number"),
        ("inf", "MIN", "not a number"),
        ("-5", "MIN", "negative"),
        ("12.5", "MIN", "whole number of minutes"),
        ("90", "S", "whole number of minutes"),
        ("0x1E", "MIN", "not a number"),
        ("1_000", "MIN", "not a number"),
        ("\u0663\u0660", "MIN", "not a number"),  # Arabic-Indic digits: int() reads them
        ("thirty", "MIN", "not a number"),
    ],
)
def test_a_duration_the_event_cannot_carry_is_a_data_type_error_at_sch_9(sch9, sch10, why):
    error = _refusal(_siu(sch9, sch10))
    assert (error.code, error.segment, error.field) == (ErrorCode.DATA_TYPE, "SCH", 9)
    assert why in error.message
    assert "SCH-9" in error.message


def test_a_duration_in_units_of_no_fixed_length_is_a_table_value_error_at_sch_10():
    error = _refusal(_siu("3", "MO^months"))
    assert (error.code, error.segment, error.field) == (ErrorCode.TABLE_VALUE, "SCH", 10)


@pytest.mark.parametrize(
    ("sch11", "minutes"),
    [
        ("^^M45", 45),
        ("^^H2", 120),
        ("^^S120", 2),
        ("^^D1", 1440),
        ("^^60", 60),  # a bare number: SCH-10's units, minutes when empty
        ("^^2 hours", None),  # free text (TQ-3 is a string): no duration
        ("^^INDEF", None),
    ],
)
def test_the_tq_duration_of_sch_11_when_sch_9_is_empty(sch11, minutes):
    assert _duration(_siu(sch11=sch11)) == minutes


@pytest.mark.parametrize("duration", ["M99999999999999999999", "S90", "M-5", "99999999999"])
def test_a_tq_duration_the_event_cannot_carry_is_a_data_type_error_at_sch_11(duration):
    error = _refusal(_siu(sch11=f"^^{duration}"))
    assert (error.code, error.segment, error.field) == (ErrorCode.DATA_TYPE, "SCH", 11)


# Units and what one of each is in minutes, from HL7's TQ and the ISO+/ANSI+ unit codes.
UNITS = {"": 1, "MIN": 1, "min": 1, "M": 1, "S": Fraction(1, 60), "s": Fraction(1, 60)}
UNITS |= {"H": 60, "HR": 60, "h": 60, "D": 1440, "d": 1440, "WK": 10080}


NM = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # HL7 NM: no exponent, no NaN


def _expected_minutes(number: str, unit: str) -> int | None:
    """What SCH-9 ``number`` in ``unit`` must give: its whole, non-negative number of
    minutes that fits an Avro int; None when it must be refused."""
    if not NM.fullmatch(number.strip()):
        return None
    minutes = Fraction(number.strip()) * UNITS[unit]
    if minutes.denominator != 1 or not 0 <= minutes <= 2**31 - 1:
        return None
    return int(minutes)


@settings(max_examples=300, deadline=None)
@given(
    number=st.one_of(
        st.integers(-(10**12), 10**12).map(str),
        st.integers(2**31 - 3, 2**31 + 3).map(str),
        st.decimals(-(10**12), 10**12, places=2).map(str),
        st.floats().map(repr),
        st.text(alphabet="0123456789+-.eEinfNa _x\u0663", min_size=1, max_size=12),
    ),
    unit=st.sampled_from(sorted(UNITS)),
)
def test_a_translated_duration_is_the_number_that_was_sent(number, unit):
    """Whatever SCH-9 holds: an event whose Avro duration is the text's number in minutes,
    or a data type error at SCH-9; never another number, never another error."""
    if not number.strip():
        assert _duration(_siu(number, unit)) is None
        return
    expected = _expected_minutes(number, unit)
    if expected is None:
        error = _refusal(_siu(number, unit))
        assert (error.code, error.segment, error.field) == (ErrorCode.DATA_TYPE, "SCH", 9)
    else:
        assert _duration(_siu(number, unit)) == expected


@pytest.mark.parametrize(
    "value",
    ["99999999999999999999", "1e400", "NaN", "-inf", "1.7976931348623157e309", "-0.000", "12.5"],
)
def test_a_numeric_observation_value_is_kept_as_the_text_that_was_sent(value):
    message = "\r".join(
        [
            "MSH|^~\\&|BENCHLAB|RBGH-LAB|HL7BUS|RBGH|20250909120000-0500||ORU^R01|BL-1|P|2.5.1",
            "PID|1||RB009921^^^RBGH^MR||Quillfeather^Ottilie",
            "OBR|1||FO-6001^BENCHLAB|MISC^Assorted^L",
            f"OBX|1|NM|718-7^Hemoglobin^LN||{value}|g/dL|||||F",
            "",
        ]
    )
    (event,) = translate(message, PROFILES).events
    (observation,) = decode(encode(event)).payload.observations
    assert observation.value == value

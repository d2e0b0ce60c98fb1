"""An observation whose value is a date or a time (OBX-2 DT, TS or DTM) carries it as every
other time of the event: ISO 8601, as precise as sent, with its offset, and a time of day
sent without one read in the sender profile's timezone (a consumer cannot know it).  A value
that is not a readable HL7 date or time is kept as sent."""

from __future__ import annotations

import pytest

from hl7bus.events.records import decode, encode
from hl7bus.mapping.profiles import ProfileSet, SenderProfile
from hl7bus.mapping.router import translate

BERLIN = ProfileSet(default=SenderProfile(name="berlin", timezone="Europe/Berlin"))


def _value(value_type: str, value: str, profiles: ProfileSet = BERLIN) -> str | None:
    """OBX-5 of type ``value_type`` as a consumer reads it: from the event's Avro bytes."""
    message = "\r".join(
        [
            "MSH|^~\\&|BENCHLAB|CHB-LAB|HL7BUS|CHB|20250909120000+0200||ORU^R01|BL-1|P|2.8",
            "PID|1||CB000117^^^CHB^MR||Lindqvist^Aurelia",
            "OBR|1||FO-6001^BENCHLAB|OBPANEL^Obstetric dates^L",
            f"OBX|1|{value_type}|X-1^Some date^L||{value}||||||F",
            "",
        ]
    )
    (event,) = translate(message, profiles).events
    (observation,) = decode(encode(event)).payload.observations
    return observation.value


@pytest.mark.parametrize(
    ("value_type", "value", "expected"),
    [
        ("DT", "20260214", "2026-02-14"),
        ("DT", "202602", "2026-02"),
        ("DT", "2026", "2026"),
        ("TS", "20250110", "2025-01-10"),
        ("TS", "202501101800", "2025-01-10T18:00+01:00"),  # winter in Berlin
        ("TS", "202507101800", "2025-07-10T18:00+02:00"),  # summer in Berlin
        ("TS", "20250710180005.25", "2025-07-10T18:00:05.25+02:00"),
        ("TS", "20250710180000-0500", "2025-07-10T18:00:00-05:00"),  # its own offset wins
        ("TS", "202507101800^M", "2025-07-10T18:00+02:00"),  # TS-2, degree of precision
        ("DTM", "202507101800", "2025-07-10T18:00+02:00"),  # the TS of v2.6 and later
        ("TS", "20250110~20250111", "2025-01-10\n2025-01-11"),  # each repetition
    ],
)
def test_a_date_or_time_value_is_iso_8601(value_type, value, expected):
    assert _value(value_type, value) == expected


def test_a_time_without_offset_is_read_in_the_senders_zone_not_utc():
    assert _value("TS", "202507101800", ProfileSet()) == "2025-07-10T18:00+00:00"
    assert _value("TS", "202507101800") == "2025-07-10T18:00+02:00"


@pytest.mark.parametrize(
    ("value_type", "value"),
    [("DT", "next Tuesday"), ("DT", "20251340"), ("TS", "2025-07-10 18:00"), ("TS", "UNK")],
)
def test_a_value_that_is_not_a_readable_date_or_time_is_kept_as_sent(value_type, value):
    assert _value(value_type, value) == value


@pytest.mark.parametrize(("value_type", "value"), [("ST", "20260214"), ("NM", "20260214")])
def test_other_value_types_are_not_read_as_dates(value_type, value):
    assert _value(value_type, value) == value

"""The times and topic positions an operator types (``--since``, ``--until``, ``--from``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hl7bus.errors import UsageError
from hl7bus.operators.times import Start, epoch_ms, iso, parse_start, parse_time

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T10:15+01:00", datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("2026-11-28T10:15:30.250-06:00", datetime(2026, 11, 28, 16, 15, 30, 250000, tzinfo=UTC)),
        ("2026-11-28T09:00Z", datetime(2026, 11, 28, 9, 0, tzinfo=UTC)),
        ("2026-11-28 09:00:00+00:00", datetime(2026, 11, 28, 9, 0, tzinfo=UTC)),
        ("90s", NOW - timedelta(seconds=90)),
        ("30m", NOW - timedelta(minutes=30)),
        ("6h", NOW - timedelta(hours=6)),
        ("2d", NOW - timedelta(days=2)),
        ("now", NOW),
    ],
)
def test_a_time_is_iso_8601_with_its_offset_or_a_time_ago(text: str, expected: datetime) -> None:
    found = parse_time(text, now=NOW)
    assert found == expected
    assert found.tzinfo is not None


@pytest.mark.parametrize(
    "text", ["2026-11-28T10:15", "2026-11-28", "yesterday", "", "5w", "-3h", "2026-13-01T00:00Z"]
)
def test_anything_else_is_one_sentence_with_examples(text: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_time(text, option="--until", now=NOW)
    sentence = str(refused.value)
    assert sentence.startswith(f"--until {text!r} is not a time")
    assert "2026-11-28T10:00+01:00" in sentence and "30m" in sentence
    assert "\n" not in sentence


def test_a_time_without_offset_is_not_read_in_the_machines_zone() -> None:
    with pytest.raises(UsageError, match="offset"):
        parse_time("2026-11-28T10:15", now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("beginning", Start("beginning")),
        ("end", Start("end")),
        ("0", Start("offset", 0)),
        ("1234", Start("offset", 1234)),
        ("2026-11-28T09:00Z", Start("time", epoch_ms(datetime(2026, 11, 28, 9, tzinfo=UTC)))),
        ("1h", Start("time", epoch_ms(NOW - timedelta(hours=1)))),
    ],
)
def test_a_start_is_beginning_end_an_offset_or_a_time(text: str, expected: Start) -> None:
    assert parse_start(text, now=NOW) == expected


def test_a_negative_offset_is_refused() -> None:
    with pytest.raises(UsageError, match="--from '-5'"):
        parse_start("-5", now=NOW)


def test_iso_is_utc_with_milliseconds() -> None:
    ms = epoch_ms(datetime(2026, 11, 28, 10, 15, 30, 123000, tzinfo=timezone(timedelta(hours=1))))
    assert iso(ms) == "2026-11-28T09:15:30.123+00:00"
    assert iso(None) is None

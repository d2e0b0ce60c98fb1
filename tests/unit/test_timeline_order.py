"""Clinical order: every time the bus writes (any precision, with or without an offset)
is an instant at the start of its period, and entries sort by (occurred, recorded, id)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hl7bus.mapping.values import timestamp
from hl7bus.services.timeline.order import UNKNOWN_TIME, OrderKey, instant, order_key

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("2026-11-28T10:15:30.25-06:00", datetime(2026, 11, 28, 16, 15, 30, 250000, UTC)),
        ("2026-11-28T10:15:30-06:00", datetime(2026, 11, 28, 16, 15, 30, tzinfo=UTC)),
        ("2026-11-28T10:15-06:00", datetime(2026, 11, 28, 16, 15, tzinfo=UTC)),
        ("2026-11-28T10:15+0530", datetime(2026, 11, 28, 4, 45, tzinfo=UTC)),
        ("2026-11-28T10:15:00Z", datetime(2026, 11, 28, 10, 15, tzinfo=UTC)),
        ("2026-11-28T10:15:00", datetime(2026, 11, 28, 10, 15, tzinfo=UTC)),
        ("2026-11-28T10-06:00", datetime(2026, 11, 28, 16, tzinfo=UTC)),
        ("2026-11-28", datetime(2026, 11, 28, tzinfo=UTC)),
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC)),
        ("1980", datetime(1980, 1, 1, tzinfo=UTC)),
        ("1960-04-01", datetime(1960, 4, 1, tzinfo=UTC)),
        ("2026-11-28T10:15:30.1234567+00:00", datetime(2026, 11, 28, 10, 15, 30, 123456, UTC)),
    ],
)
def test_each_precision_is_the_start_of_its_period(text: str, start: datetime) -> None:
    assert instant(text) == _us(start)


@pytest.mark.parametrize(
    "text", [None, "", "soon", "2026-13", "2026-02-30", "2026-11-28T25:00Z", "20261128", "2026-1"]
)
def test_a_time_that_cannot_be_read_has_no_instant(text: str | None) -> None:
    assert instant(text) is None


def test_events_without_a_clinical_time_sort_by_their_recorded_time() -> None:
    admitted = order_key("2026-11-28T09:25-06:00", "2026-11-28T09:30-06:00", "b")
    untimed = order_key(None, "2026-11-28T09:27-06:00", "a")
    unreadable = order_key("yesterday", "2026-11-28T09:28-06:00", "c")
    timeless = order_key(None, None, "0")
    assert sorted([timeless, unreadable, admitted, untimed]) == [
        admitted,
        untimed,
        unreadable,
        timeless,
    ]
    assert timeless == OrderKey(UNKNOWN_TIME, UNKNOWN_TIME, "0")


def test_the_same_clinical_time_sorts_by_recorded_time_then_event_id() -> None:
    keys = [
        order_key("2026-11-28T09:45Z", "2026-11-28T10:15Z", "z"),
        order_key("2026-11-28T03:45-06:00", "2026-11-28T10:00Z", "y"),  # the same instant
        order_key("2026-11-28T09:45:00+00:00", "2026-11-28T10:00Z", "x"),
    ]
    assert [k.event_id for k in sorted(keys)] == ["x", "y", "z"]


def test_the_hl7_writer_and_the_order_agree_on_a_sample_of_times() -> None:
    """The strings the mappers write (HL7 TS read in a sender's zone) give the instant the
    HL7 text meant."""
    assert instant(timestamp("20250309015000", "America/Chicago")) == _us(
        datetime(2025, 3, 9, 7, 50, tzinfo=UTC)
    )
    assert instant(timestamp("20250309030500", "America/Chicago")) == _us(
        datetime(2025, 3, 9, 8, 5, tzinfo=UTC)
    )
    assert instant(timestamp("202611", "UTC")) == _us(datetime(2026, 11, 1, tzinfo=UTC))


# Property tests: any aware moment, written at any precision the bus writes.

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
moments = st.datetimes(
    min_value=datetime(1900, 1, 2),  # noqa: DTZ001 - hypothesis attaches the zone
    max_value=datetime(2199, 12, 30),  # noqa: DTZ001
    timezones=offsets,
)
PRECISIONS = ("year", "month", "day", "hour", "minute", "second", "fraction", "floating")


def _write(moment: datetime, precision: str) -> str:
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    return {
        "year": f"{moment:%Y}",
        "month": f"{moment:%Y-%m}",
        "day": f"{moment:%Y-%m-%d}",
        "hour": f"{moment:%Y-%m-%dT%H}{offset}",
        "minute": f"{moment:%Y-%m-%dT%H:%M}{offset}",
        "second": f"{moment:%Y-%m-%dT%H:%M:%S}{offset}",
        "fraction": f"{moment:%Y-%m-%dT%H:%M:%S.%f}{offset}",
        "floating": f"{moment:%Y-%m-%dT%H:%M:%S}",
    }[precision]


def _start(moment: datetime, precision: str) -> datetime:
    """The start of the period a written time names (times without offset read as UTC)."""
    if precision in ("year", "month", "day", "floating"):
        moment = moment.replace(tzinfo=UTC)
    cut = {
        "year": dict(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
        "month": dict(day=1, hour=0, minute=0, second=0, microsecond=0),
        "day": dict(hour=0, minute=0, second=0, microsecond=0),
        "hour": dict(minute=0, second=0, microsecond=0),
        "minute": dict(second=0, microsecond=0),
        "second": dict(microsecond=0),
        "fraction": {},
        "floating": dict(microsecond=0),
    }[precision]
    return moment.replace(**cut)


@given(moments, st.sampled_from(PRECISIONS))
def test_every_precision_sorts_at_the_start_of_its_period(moment: datetime, precision: str):
    written = _write(moment, precision)
    assert instant(written) == _us(_start(moment, precision))


@given(moments, moments)
def test_full_precision_keeps_the_order_of_the_moments(a: datetime, b: datetime) -> None:
    ia, ib = instant(_write(a, "fraction")), instant(_write(b, "fraction"))
    assert (ia < ib) == (a < b)
    assert (ia == ib) == (a == b)


@given(moments, st.sampled_from(PRECISIONS[:6]))
def test_a_coarser_time_never_sorts_after_the_finer_one(moment: datetime, precision: str):
    coarse = instant(_write(moment, precision))
    fine = instant(_write(moment, "fraction"))
    if precision in ("year", "month", "day"):  # read as UTC: compare within that reading
        fine = instant(_write(moment.replace(tzinfo=UTC), "fraction"))
    assert coarse <= fine


entries = st.lists(
    st.tuples(
        st.one_of(st.none(), moments.map(lambda m: _write(m, "second")), st.just("2026-11")),
        st.one_of(st.none(), moments.map(lambda m: _write(m, "minute"))),
        st.uuids().map(str),
    ),
    max_size=30,
    unique_by=lambda e: e[2],
)


@given(entries, st.randoms(use_true_random=False))
def test_clinical_order_is_total_and_independent_of_arrival(found, rnd: random.Random) -> None:
    keys = [order_key(*e) for e in found]
    shuffled = list(keys)
    rnd.shuffle(shuffled)
    assert sorted(shuffled) == sorted(keys)
    ordered = sorted(keys)
    for first, second in itertools.pairwise(ordered):
        assert first < second  # ids are unique: no two entries tie

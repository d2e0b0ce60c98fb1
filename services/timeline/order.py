"""Clinical order: the one sort key of timeline entries.

Entries sort by when things happened to the patient (``occurred_at``), then by when the
sending system recorded them (``recorded_at``, MSH-7), then by ``event_id``, so no two
distinct entries ever tie and every arrival order gives the same timeline.

Times are the bus's ISO 8601 strings, as precise as sent: ``2026-11-28T10:15:30.25-06:00``
down to ``2026-11`` or ``1980``.  A partial time sorts at the start of its period; a time
without an offset (a date, or a sender that sent none) is read as UTC.  An entry without a
readable ``occurred_at`` sorts by its ``recorded_at``; one without either sorts last.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Final, NamedTuple

UNKNOWN_TIME: Final = 2**63 - 1
"""The instant of an entry with no readable time: after every real one (and a BIGINT)."""

_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_read_iso = datetime.fromisoformat
_US_PER_MINUTE: Final = 60_000_000

_ISO = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?)?)?"
)


class OrderKey(NamedTuple):
    """Where an entry sits in clinical order; compare keys with ``<``.

    ``occurred`` and ``recorded`` are microseconds since 1970-01-01T00:00Z (the store can
    keep them as BIGINT columns and sort or page on ``(occurred, recorded, event_id)``)."""

    occurred: int
    recorded: int
    event_id: str


def instant(value: str | None) -> int | None:
    """Microseconds since the epoch (UTC) at the start of the period ``value`` names, or
    ``None`` when there is no value or it is not an ISO 8601 time the bus writes."""
    if not value:
        return None
    if len(value) >= 16 and value[10] == "T" and value[13] == ":":
        # A time of day to the minute or finer, the common case: the standard library's
        # reader is quicker than the one below.
        try:
            moment = _read_iso(value)
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return (moment - _EPOCH) // _MICROSECOND
    match = _ISO.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        days = date(int(year), int(month or 1), int(day or 1)).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    h = int(hour) if hour else 0
    m = int(minute) if minute else 0
    s = int(second) if second else 0
    if h > 23 or m > 59 or s > 59:
        return None
    minutes = (days * 24 + h) * 60 + m
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        shift = int(digits[:2]) * 60 + int(digits[2:])
        if int(digits[2:]) > 59:
            return None
        minutes -= shift if offset[0] == "+" else -shift
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    return minutes * _US_PER_MINUTE + s * 1_000_000 + micros


def order_key(occurred_at: str | None, recorded_at: str | None, event_id: str) -> OrderKey:
    """The clinical-order key of one entry."""
    recorded = instant(recorded_at)
    if recorded is None:
        recorded = UNKNOWN_TIME
    occurred = instant(occurred_at)
    return OrderKey(recorded if occurred is None else occurred, recorded, event_id)

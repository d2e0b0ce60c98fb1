"""The times and topic positions an operator types: ``--since``, ``--until`` and ``--from``.

A time is ISO 8601 with its offset (``2026-11-28T10:00+01:00``, ``2026-11-28T09:00Z``) or a
time ago (``90s``, ``30m``, ``6h``, ``2d``, ``now``).  A time without an offset is refused,
never read in the machine's zone.  Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from hl7bus.errors import UsageError

_AGO = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
EXAMPLES = "2026-11-28T10:00+01:00, 2026-11-28T09:00Z, or a time ago: 90s, 30m, 6h, 2d"


def parse_time(text: str, *, option: str = "--since", now: datetime | None = None) -> datetime:
    """``text`` as a timezone-aware time; :class:`UsageError` (one sentence) when it is none."""
    now = now or datetime.now(UTC)
    text = text.strip()
    if text == "now":
        return now
    ago = _AGO.fullmatch(text)
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a time; give {EXAMPLES}") from None
    if found.tzinfo is None:
        raise UsageError(
            f"{option} {text!r} is not a time hl7bus can place: it has no offset; give {EXAMPLES}"
        )
    return found


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def iso(ms: int | None) -> str | None:
    """A Kafka timestamp (ms since the epoch) as ISO 8601 in UTC, to the millisecond."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Start:
    """Where reading a topic starts, in each of its partitions: its first record, its end
    (only what comes next), an offset, or the first record at or after a time (ms)."""

    kind: Literal["beginning", "end", "offset", "time"]
    value: int | None = None


def parse_start(text: str, *, now: datetime | None = None) -> Start:
    """``beginning``, ``end``, an offset (``1234``) or a time, as :func:`parse_time` reads it."""
    text = text.strip()
    if text in ("beginning", "end"):
        return Start(text)  # type: ignore[arg-type]
    if text.isdigit():
        return Start("offset", int(text))
    if text.lstrip("-").isdigit():
        raise UsageError(
            f"--from {text!r} is not an offset: offsets start at 0; give beginning, end, an "
            f"offset or {EXAMPLES}"
        )
    return Start("time", epoch_ms(parse_time(text, option="--from", now=now)))

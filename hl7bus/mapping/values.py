"""Readers of HL7 v2 data types (TS/DTM, XPN, CX, XAD, XTN, XCN, PL, CE/CWE) into event values.

Pure functions over a parsed segment; empty HL7 values become ``None``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from hl7bus.events.model import Address, Identifier, Location, PersonName, Provider, Telecom
from hl7bus.hl7 import Segment

_DTM = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?\s*([+-]\d{2}:?\d{2})?$"
)


def text(value: str) -> str | None:
    """An HL7 value as an event value: stripped, ``None`` when empty or the null ``""``."""
    value = value.strip()
    if not value or value == '""':
        return None
    return value


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def timestamp(raw: str, zone: str) -> str | None:
    """An HL7 TS/DTM as ISO 8601, as precise as sent.

    A time of day always carries an offset: the message's own, else the offset of the
    sender's timezone ``zone`` at that moment (never the machine's).  Unreadable values
    give ``None``.
    """
    raw = raw.strip()
    if not raw or raw == '""':
        return None
    match = _DTM.match(raw)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        if hour is None:
            date = datetime(int(year), int(month or 1), int(day or 1))  # noqa: DTZ001 - a date
            if day:
                return date.strftime("%Y-%m-%d")
            return f"{year}-{month}" if month else year
        local = datetime(  # noqa: DTZ001 - the zone is attached just below
            int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0)
        )
    except (TypeError, ValueError):
        return None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        minutes = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        if abs(minutes) > 18 * 60:
            return None
        delta = timedelta(minutes=minutes)
    else:
        delta = local.replace(tzinfo=_zone(zone)).utcoffset() or timedelta(0)
    total = int(delta.total_seconds() // 60)
    tz = f"{'+' if total >= 0 else '-'}{abs(total) // 60:02d}:{abs(total) % 60:02d}"
    clock = f"{local:%H:%M}"
    if second is not None:
        clock += f":{second}{fraction or ''}"
    return f"{local:%Y-%m-%d}T{clock}{tz}"


def date(raw: str) -> str | None:
    """An HL7 DT (or the date part of a TS) as YYYY, YYYY-MM or YYYY-MM-DD."""
    raw = raw.strip()
    if len(raw) < 4 or not raw[:4].isdigit():
        return None
    digits = raw[:8]
    try:
        if len(digits) >= 8:
            return datetime.strptime(digits, "%Y%m%d").strftime("%Y-%m-%d")  # noqa: DTZ007
        if len(digits) >= 6:
            datetime.strptime(digits[:6], "%Y%m")  # noqa: DTZ007 - validation only
            return f"{digits[:4]}-{digits[4:6]}"
    except ValueError:
        return None
    return digits[:4]


def person_name(seg: Segment, n: int, rep: int = 0) -> PersonName | None:
    """XPN (PID-5, NK1-2, ...): family^given^middle^suffix^prefix."""
    family = text(seg.get(n, 1, 1, rep))
    given = tuple(g for g in (text(seg.get(n, 2, 1, rep)), text(seg.get(n, 3, 1, rep))) if g)
    suffix = text(seg.get(n, 4, 1, rep))
    prefix = text(seg.get(n, 5, 1, rep))
    if not (family or given or prefix or suffix):
        return None
    return PersonName(family=family, given=given, prefix=prefix, suffix=suffix)


def hd(seg: Segment, n: int, component: int, rep: int = 0) -> str | None:
    """An HD inside a component (e.g. CX-4): its namespace id, else its universal id."""
    return text(seg.get(n, component, 1, rep)) or text(seg.get(n, component, 2, rep))


def identifiers(seg: Segment, n: int) -> tuple[Identifier, ...]:
    """Every CX repetition of a field (PID-3, MRG-1): value, assigning authority, type."""
    found = []
    for rep in range(len(seg.repetitions(n))):
        value = text(seg.get(n, 1, 1, rep))
        if value:
            found.append(Identifier(value, hd(seg, n, 4, rep), text(seg.get(n, 5, 1, rep))))
    return tuple(found)


def addresses(seg: Segment, n: int) -> tuple[Address, ...]:
    """XAD repetitions: street^other^city^state^zip^country^type."""
    found = []
    for rep in range(len(seg.repetitions(n))):
        lines = tuple(v for v in (text(seg.get(n, 1, 1, rep)), text(seg.get(n, 2, 1, rep))) if v)
        address = Address(
            lines=lines,
            city=text(seg.get(n, 3, 1, rep)),
            state=text(seg.get(n, 4, 1, rep)),
            postal_code=text(seg.get(n, 5, 1, rep)),
            country=text(seg.get(n, 6, 1, rep)),
            use=text(seg.get(n, 7, 1, rep)),
        )
        if address != Address(use=address.use):
            found.append(address)
    return tuple(found)


def telecoms(seg: Segment, n: int, default_use: str | None = None) -> tuple[Telecom, ...]:
    """XTN repetitions: the number (or its parts, or the e-mail), its use and equipment."""
    found = []
    for rep in range(len(seg.repetitions(n))):
        value = text(seg.get(n, 1, 1, rep))
        if not value:
            parts = [seg.get(n, i, 1, rep).strip() for i in (5, 6, 7)]
            email = text(seg.get(n, 4, 1, rep))
            value = email or text(" ".join(p for p in parts if p))
        if value:
            found.append(
                Telecom(value, text(seg.get(n, 2, 1, rep)) or default_use,
                        text(seg.get(n, 3, 1, rep)))
            )
    return tuple(found)


def provider(seg: Segment, n: int, rep: int = 0) -> Provider | None:
    """XCN (PV1-7, ORC-12, OBR-16, TXA-5): id^family^given^middle^suffix^prefix^...^authority."""
    found = Provider(
        id=text(seg.get(n, 1, 1, rep)),
        family=text(seg.get(n, 2, 1, rep)),
        given=text(seg.get(n, 3, 1, rep)),
        prefix=text(seg.get(n, 6, 1, rep)),
        authority=text(seg.get(n, 9, 1, rep)) or text(seg.get(n, 9, 2, rep)),
    )
    return None if found == Provider() else found


def location(seg: Segment, n: int) -> Location | None:
    """PL (PV1-3): point of care^room^bed^facility^status^type^building^floor."""
    found = Location(
        point_of_care=text(seg.get(n, 1)),
        room=text(seg.get(n, 2)),
        bed=text(seg.get(n, 3)),
        facility=text(seg.get(n, 4)) or text(seg.get(n, 4, 2)),
        building=text(seg.get(n, 7)),
        floor=text(seg.get(n, 8)),
    )
    return None if found == Location() else found


def coded(seg: Segment, n: int, rep: int = 0) -> tuple[str | None, str | None, str | None]:
    """CE/CWE/CNE: (code, coding system, display); the alternate triple when the first is empty."""
    code, display, system = (text(seg.get(n, i, 1, rep)) for i in (1, 2, 3))
    if not code and not display:
        code, display, system = (text(seg.get(n, i, 1, rep)) for i in (4, 5, 6))
    return code, system, display


def coded_text(seg: Segment, n: int, rep: int = 0) -> str | None:
    """A coded value in one string: its display, else its code."""
    code, _system, display = coded(seg, n, rep)
    return display or code


def first_text(seg: Segment, n: int) -> str | None:
    return text(seg.get(n))


def whole(seg: Segment, n: int, rep: int = 0) -> str:
    """A repetition of a text field (TX, FT, ST) unescaped, any components kept as written."""
    return seg.encoding.component.join(seg.components(n, rep))


def each_whole(seg: Segment, n: int) -> list[str]:
    """Every repetition of a text field, unescaped."""
    return [whole(seg, n, rep) for rep in range(len(seg.repetitions(n)))]

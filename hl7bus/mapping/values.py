"""Readers of HL7 v2 data types (TS/DTM, NM, XPN, CX, XAD, XTN, XCN, PL, CE/CWE) into event
values.

Pure functions over a parsed segment; empty HL7 values become ``None``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.model import Address, Identifier, Location, PersonName, Provider, Telecom
from hl7bus.hl7 import Segment

# Fractions of a second follow a dot; some senders (Mirth among them) leave the dot
# out after full seconds (``20110613122406637``), which cannot mean anything else.
_DTM = re.compile(
    r"^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(\.\d{1,4}|\d{1,4})?)?)?)?)?)?"
    r"\s*([+-]\d{2}:?\d{2})?$"
)


def text(value: str) -> str | None:
    """An HL7 value as an event value: stripped, ``None`` when empty or the null ``""``."""
    if value.isalnum():
        return value
    value = value.strip()
    if not value or value == '""':
        return None
    return value


# Numbers.  An HL7 number becomes an event number only through the two readers below, and
# only as sent: the text is read exactly (a Fraction: no float rounding, no infinity, no
# NaN), and a number the event's Avro field cannot hold as it is (too large for its int, a
# fraction where the event counts whole units, negative where only a size makes sense) is a
# data type error (HL7 condition 102) naming the segment and field.  The message goes to
# the dead-letter topic and is answered AE, to be fixed and resent; it is never wrapped,
# rounded or cut to fit.  Leaving the field out instead would lose the sender's value
# without a trace, since no event field keeps the text beside its number.  Numbers that the
# event carries as text, such as OBX-5 of an NM observation, are not read here at all: they
# stay the text that was sent, whatever their size.

# HL7 v2 NM: an optional sign, ASCII digits, an optional decimal point; no exponent.
_NM = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")

INT_MAX = 2**31 - 1  # the largest Avro int


def is_number(raw: str) -> bool:
    """Whether ``raw`` (stripped) is an HL7 number (NM)."""
    return _NM.fullmatch(raw) is not None


def number(raw: str, segment: str, field: int, what: str) -> Fraction:
    """The HL7 number (NM) ``raw`` (stripped, not empty), exactly; a data type error at
    ``segment``-``field`` (``what`` it holds, for the message) when it is not one."""
    if _NM.fullmatch(raw) is None:
        raise MessageError(
            ErrorCode.DATA_TYPE,
            f"{segment}-{field} ({what}) is not a number: an HL7 number (NM) is digits with "
            "an optional sign and decimal point.",
            segment=segment,
            field=field,
        )
    return Fraction(raw)


def count(value: Fraction, segment: str, field: int, what: str, unit: str) -> int:
    """``value``, a number of ``unit`` read from ``segment``-``field``, as the event's whole,
    non-negative Avro int; a data type error when it is not one."""
    problem = None
    if value.denominator != 1:
        problem = f"is not a whole number of {unit}, as the event counts them"
    elif value < 0:
        problem = "is negative"
    elif value > INT_MAX:
        problem = f"is more {unit} than the event can carry (at most {INT_MAX})"
    if problem is not None:
        raise MessageError(
            ErrorCode.DATA_TYPE,
            f"{segment}-{field} ({what}) {problem}.",
            segment=segment,
            field=field,
        )
    return int(value)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=8192)
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
        if fraction and not fraction.startswith("."):
            fraction = f".{fraction}"
        clock += f":{second}{fraction or ''}"
    return f"{local:%Y-%m-%d}T{clock}{tz}"


def date(raw: str) -> str | None:
    """An HL7 DT (or the date part of a TS) as YYYY, YYYY-MM or YYYY-MM-DD."""
    raw = raw.strip()
    if len(raw) < 4 or not raw[:4].isdigit():
        return None
    digits = raw[:8]
    if len(digits) >= 6 and not digits[4:].isdigit():
        return None
    try:
        if len(digits) >= 8:
            datetime(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))  # noqa: DTZ001 - checks the day
            return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
        if len(digits) >= 6:
            if not 1 <= int(digits[4:6]) <= 12:
                return None
            return f"{digits[:4]}-{digits[4:6]}"
    except ValueError:
        return None
    return digits[:4]


def _raw(seg: Segment, n: int, rep: int) -> list[str]:
    """The components of one repetition as written (still escaped), so that an escaped
    separator (``\\T\\``, ``\\S\\``) never splits a value."""
    reps = seg.repetitions(n)
    if rep >= len(reps):
        return []
    return reps[rep].split(seg.encoding.component)


def _part(seg: Segment, comps: list[str], i: int) -> str | None:
    """Component ``i`` (from 1), its first subcomponent, unescaped, as an event value."""
    if i > len(comps):
        return None
    value = comps[i - 1]
    if value.isalnum():  # most values: no separator, escape, space or null to handle
        return value
    if not value:
        return None
    encoding = seg.encoding
    sub = encoding.subcomponent
    if sub and sub in value:
        value = value.split(sub, 1)[0]
    esc = encoding.escape
    if esc and esc in value:
        value = seg.unescape(value)
    value = value.strip()
    if not value or value == '""':
        return None
    return value


def _sub(seg: Segment, comps: list[str], i: int, j: int) -> str | None:
    """Subcomponent ``j`` of component ``i`` (e.g. the universal id of an HD)."""
    if i > len(comps):
        return None
    sub = seg.encoding.subcomponent
    parts = comps[i - 1].split(sub) if sub else [comps[i - 1]]
    return text(seg.unescape(parts[j - 1])) if j <= len(parts) else None


def person_name(seg: Segment, n: int, rep: int = 0) -> PersonName | None:
    """XPN (PID-5, NK1-2, ...): family^given^middle^suffix^prefix."""
    c = _raw(seg, n, rep)
    if not c:
        return None
    family = _part(seg, c, 1)  # XPN-1 is an FN: surname&own surname prefix&...
    given = tuple(g for g in (_part(seg, c, 2), _part(seg, c, 3)) if g)
    suffix, prefix = _part(seg, c, 4), _part(seg, c, 5)
    if not (family or given or prefix or suffix):
        return None
    return PersonName(family=family, given=given, prefix=prefix, suffix=suffix)


def _hd(seg: Segment, comps: list[str], i: int) -> str | None:
    return _part(seg, comps, i) or _sub(seg, comps, i, 2)


def identifiers(seg: Segment, n: int) -> tuple[Identifier, ...]:
    """Every CX repetition of a field (PID-3, MRG-1): value, assigning authority, type."""
    found = []
    for rep in range(len(seg.repetitions(n))):
        c = _raw(seg, n, rep)
        value = _part(seg, c, 1)
        if value:
            found.append(Identifier(value, _hd(seg, c, 4), _part(seg, c, 5)))
    return tuple(found)


def addresses(seg: Segment, n: int) -> tuple[Address, ...]:
    """XAD repetitions: street^other^city^state^zip^country^type."""
    found = []
    for rep in range(len(seg.repetitions(n))):
        c = _raw(seg, n, rep)
        lines = tuple(v for v in (_part(seg, c, 1), _part(seg, c, 2)) if v)
        address = Address(
            lines=lines,
            city=_part(seg, c, 3),
            state=_part(seg, c, 4),
            postal_code=_part(seg, c, 5),
            country=_part(seg, c, 6),
            use=_part(seg, c, 7),
        )
        if lines or address.city or address.state or address.postal_code or address.country:
            found.append(address)
    return tuple(found)


def telecoms(seg: Segment, n: int, default_use: str | None = None) -> tuple[Telecom, ...]:
    """XTN repetitions: the number (or its parts, or the e-mail), its use and equipment."""
    found = []
    for rep in range(len(seg.repetitions(n))):
        c = _raw(seg, n, rep)
        value = _part(seg, c, 1)
        if not value:
            parts = [_part(seg, c, i) for i in (5, 6, 7)]
            value = _part(seg, c, 4) or text(" ".join(p for p in parts if p))
        if value:
            found.append(Telecom(value, _part(seg, c, 2) or default_use, _part(seg, c, 3)))
    return tuple(found)


def provider(seg: Segment, n: int, rep: int = 0) -> Provider | None:
    """XCN (PV1-7, ORC-12, OBR-16, TXA-9): id^family^given^middle^suffix^prefix^...^authority."""
    c = _raw(seg, n, rep)
    if not c:
        return None
    parts = (_part(seg, c, 1), _part(seg, c, 2), _part(seg, c, 3), _part(seg, c, 6), _hd(seg, c, 9))
    if not any(parts):
        return None
    return Provider(*parts)


def location(seg: Segment, n: int) -> Location | None:
    """PL (PV1-3): point of care^room^bed^facility^status^type^building^floor."""
    c = _raw(seg, n, 0)
    if not c:
        return None
    parts = (
        _hd(seg, c, 4),
        _part(seg, c, 1),
        _part(seg, c, 2),
        _part(seg, c, 3),
        _part(seg, c, 7),
        _part(seg, c, 8),
    )
    if not any(parts):
        return None
    facility, point_of_care, room, bed, building, floor = parts
    return Location(
        facility=facility,
        point_of_care=point_of_care,
        room=room,
        bed=bed,
        building=building,
        floor=floor,
    )


_NOTHING = (None, None, None)


def coded(seg: Segment, n: int, rep: int = 0) -> tuple[str | None, str | None, str | None]:
    """CE/CWE/CNE: (code, coding system, display); the alternate triple when the first is empty."""
    raw = seg.field(n)
    if not raw:
        return _NOTHING
    encoding = seg.encoding
    if rep or encoding.repetition in raw:
        reps = raw.split(encoding.repetition)
        if rep >= len(reps):
            return _NOTHING
        raw = reps[rep]
    c = raw.split(encoding.component)
    code, display, system = _part(seg, c, 1), _part(seg, c, 2), _part(seg, c, 3)
    if not code and not display:
        code, display, system = _part(seg, c, 4), _part(seg, c, 5), _part(seg, c, 6)
    return code, system, display


def coded_text(seg: Segment, n: int, rep: int = 0) -> str | None:
    """A coded value in one string: its display, else its code."""
    code, _system, display = coded(seg, n, rep)
    return display or code


def coded_code(seg: Segment, n: int, rep: int = 0) -> str | None:
    """A coded value whose event field holds a code (a table's code, an identifier, a unit):
    its code, else its display when the sender wrote the text alone."""
    code, _system, display = coded(seg, n, rep)
    return code or display


def whole(seg: Segment, n: int, rep: int = 0) -> str:
    """A repetition of a text field (TX, FT, ST) unescaped, any components kept as written."""
    return seg.encoding.component.join(seg.components(n, rep))


def each_whole(seg: Segment, n: int) -> list[str]:
    """Every repetition of a text field, unescaped."""
    return [whole(seg, n, rep) for rep in range(len(seg.repetitions(n)))]


def is_plain(raw: str, seg: Segment) -> bool:
    """Whether a raw value holds no separator and no escape: it reads as written."""
    return all(char not in raw for char in seg.encoding.specials)


def plain(seg: Segment, n: int) -> str | None:
    """The first component of field ``n`` as an event value; fast when the field is a
    plain value with no separators or escapes (most are)."""
    raw = seg.field(n)
    if raw.isalnum():
        return raw
    if not raw:
        return None
    for char in seg.encoding.specials:
        if char in raw:
            return text(seg.get(n))
    return text(raw)

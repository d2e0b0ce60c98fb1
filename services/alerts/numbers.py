"""Reading an observation's value as a number, leniently but never by guessing.

A value is the text the sender sent (``Observation.value``).  ``read_number`` takes a
decimal number with spaces around it or a leading ``+``/``=`` (``" 6.8"``, ``"+4"``,
``".5"``), and an SN value with a comparator (``">10"``, ``">= 10"``, ``"<0.01"``,
``"≤5"``): the comparator says the true value is somewhere beyond the number.  Anything
else is not read: a range (``"3-5"``), a ratio (``"1:128"``), a decimal comma (``"4,5"``:
a decimal in one country, thousands in another), an exponent, words, several repetitions,
``NaN``.

A value with a comparator is compared with a limit only when every value it allows falls on
the same side of the limit: ``">10"`` is above 6.1 (critical), ``"<0.01"`` is not at least
0.30 (not critical), ``">2"`` against "below 3.0" is undecided (and not compared).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from . import units

_NUMBER = re.compile(r"(<=|>=|<|>|=)?\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))")
_COMPARATORS = {"≤": "<=", "≥": ">=", "=<": "<=", "=>": ">="}


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    comparator: str | None = None  # ">", ">=", "<", "<=": the true value is beyond ``value``

    def __str__(self) -> str:
        return f"{self.comparator or ''}{self.value:g}"

    def scaled(self, value: float) -> Number:
        """The same comparator with another number (the value in another unit: every
        conversion of the bus is increasing, so the comparator keeps its direction)."""
        return Number(value, self.comparator)


def read_number(text: str | None) -> Number | None:
    """The number ``text`` says, or None when it is not one (see the module's words)."""
    if text is None:
        return None
    cleaned = text.strip()
    for written, comparator in _COMPARATORS.items():
        if cleaned.startswith(written):
            cleaned = comparator + cleaned[len(written) :]
    match = _NUMBER.fullmatch(cleaned)
    if match is None:
        return None
    value = float(match.group(2))
    if not math.isfinite(value):
        return None
    comparator = match.group(1)
    return Number(value, None if comparator in (None, "=") else comparator)


def beyond(number: Number, kind: str, limit: float) -> bool | None:
    """Whether ``number`` is beyond ``limit`` of ``kind`` (``below`` <, ``at_most`` <=,
    ``above`` >, ``at_least`` >=): True or False when every value it allows says so, None
    when its comparator leaves both possible."""
    v, comparator = number.value, number.comparator
    # The values allowed: from low to high, each end open or closed.
    low, low_open, high, high_open = v, False, v, False
    if comparator in (">", ">="):
        high, high_open, low_open = math.inf, True, comparator == ">"
    elif comparator in ("<", "<="):
        low, low_open, high_open = -math.inf, True, comparator == "<"
    if kind == "below":  # the critical values: (-inf, limit)
        inside = high < limit or (high == limit and high_open)
        outside = low >= limit
    elif kind == "at_most":  # (-inf, limit]
        inside = high <= limit
        outside = low > limit or (low == limit and low_open)
    elif kind == "above":  # (limit, inf)
        inside = low > limit or (low == limit and low_open)
        outside = high <= limit
    elif kind == "at_least":  # [limit, inf)
        inside = low >= limit
        outside = high < limit or (high == limit and high_open)
    else:
        raise ValueError(f"no limit kind {kind!r}")
    return True if inside else False if outside else None


_SYMBOLS = {"below": "<", "at_most": "≤", "above": ">", "at_least": "≥"}


def describe_limit(kind: str, limit: float, unit: str) -> str:
    """``> 6.1 mmol/L``."""
    return f"{_SYMBOLS[kind]} {limit:g} {unit}"


def in_unit(number: Number, unit: str | None, target: str, code: str | None) -> Number | None:
    """``number`` (sent in ``unit``) in ``target``, or None when it cannot be converted; a
    missing unit is the code's conventional one, if it has one (see :mod:`units`)."""
    converted = units.convert(number.value, unit, target, code=code)
    return None if converted is None else number.scaled(converted)

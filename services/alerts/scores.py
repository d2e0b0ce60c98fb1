"""Clinical scores over plain values: NEWS2, and the qSOFA and SIRS criteria.

Values come in the units the scores are defined in (breaths and beats per minute, % SpO2,
mmHg, °C, 10*3/uL); ``units.convert`` brings a reading there first.  A value that is
``None`` or not a finite number is not measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Context, Decimal
from typing import Final

# ---------------------------------------------------------------- consciousness

_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "A": ("a", "alert", "la9340-6"),
    "C": (
        "c",
        "confused",
        "confusion",
        "new confusion",
        "newly confused",
        "new onset confusion",
        "new-onset confusion",
        "acute confusion",
        "la6560-2",
    ),
    "V": (
        "v",
        "voice",
        "verbal",
        "responds to voice",
        "responds to verbal",
        "responsive to voice",
        "la17108-4",
    ),
    "P": ("p", "pain", "painful", "responds to pain", "responsive to pain", "la17107-6"),
    "U": ("u", "unresponsive", "la9343-0"),
}
_LEVEL_OF: Final[dict[str, str]] = {
    word: level for level, words in _LEVELS.items() for word in words
}


def consciousness_level(text: str | None) -> str | None:
    """The ACVPU level, ``"A"``, ``"C"`` (new confusion), ``"V"``, ``"P"`` or ``"U"``, from
    its letter, its words (``Alert``, ``New confusion``, ``Responds to voice``, ``Pain``,
    ``Unresponsive``…, in any case) or its LOINC answer code (LA9340-6 alert, LA6560-2
    confused, LA17108-4 voice, LA17107-6 pain, LA9343-0 unresponsive); ``None`` when the
    text is none of these."""
    if text is None:
        return None
    return _LEVEL_OF.get(" ".join(text.casefold().split()))


# ---------------------------------------------------------------- NEWS2

_ONE: Final = Decimal(1)
_TENTH: Final = Decimal("0.1")
# Enough digits for any finite float at the chart's step: quantize never runs out.
_EXACT: Final = Context(prec=400)

# A chart row: (highest value of the band, or None for no limit, points), low to high.
_Row = tuple[tuple[Decimal | None, int], ...]


def _row(*bands: tuple[str | None, int]) -> _Row:
    return tuple((None if top is None else Decimal(top), points) for top, points in bands)


_RESPIRATION_RATE: Final = _row(("8", 3), ("11", 1), ("20", 0), ("24", 2), (None, 3))
_SPO2_SCALE_1: Final = _row(("91", 3), ("93", 2), ("95", 1), (None, 0))
_SPO2_SCALE_2_ON_AIR: Final = _row(("83", 3), ("85", 2), ("87", 1), (None, 0))
_SPO2_SCALE_2_ON_OXYGEN: Final = _row(
    ("83", 3), ("85", 2), ("87", 1), ("92", 0), ("94", 1), ("96", 2), (None, 3)
)
_SYSTOLIC_BP: Final = _row(("90", 3), ("100", 2), ("110", 1), ("219", 0), (None, 3))
_PULSE: Final = _row(("40", 3), ("50", 1), ("90", 0), ("110", 1), ("130", 2), (None, 3))
_TEMPERATURE: Final = _row(("35.0", 3), ("36.0", 1), ("38.0", 0), ("39.0", 1), (None, 2))


def _number(value: float | None) -> float | None:
    """``value`` if it is a measurement: a finite number."""
    return value if value is not None and math.isfinite(value) else None


def _points_in(row: _Row, value: Decimal) -> int:
    for top, points in row:
        if top is None or value <= top:
            return points
    raise AssertionError("a chart row ends with an open band")


def _charted(value: float | None, row: _Row, step: Decimal = _ONE) -> int | None:
    """The points of ``value`` on a chart ``row`` whose bands are written to ``step``."""
    measured = _number(value)
    if measured is None:
        return None
    written = Decimal(repr(measured))  # 38.05 as sent, not the binary 38.0499…
    down = written.quantize(step, rounding=ROUND_HALF_DOWN, context=_EXACT)
    up = written.quantize(step, rounding=ROUND_HALF_UP, context=_EXACT)
    return max(_points_in(row, down), _points_in(row, up))


@dataclass(frozen=True, slots=True)
class News2:
    """A NEWS2 score: ``total`` over the measured parameters, each one's ``points`` (keys
    ``respiration_rate``, ``spo2``, ``air_or_oxygen``, ``systolic_bp``, ``pulse``,
    ``consciousness``, ``temperature``, in that order, measured ones only), the ones
    ``missing``, the SpO2 ``scale`` used (1 or 2), and ``any_three``: a single parameter
    scored 3 (the chart's red score, an urgent response whatever the total)."""

    total: int
    points: dict[str, int]
    missing: tuple[str, ...]
    scale: int
    any_three: bool


def news2(
    *,
    respiration_rate: float | None,
    spo2: float | None,
    on_oxygen: bool | None,
    systolic_bp: float | None,
    pulse: float | None,
    consciousness: str | None,
    temperature_c: float | None,
    scale2: bool = False,
) -> News2:
    """NEWS2 as the Royal College of Physicians' chart (2017) scores it.

    - respiration rate (per minute): ≤8 → 3, 9–11 → 1, 12–20 → 0, 21–24 → 2, ≥25 → 3
    - SpO2 scale 1 (%): ≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0
    - SpO2 scale 2 (%): ≤83 → 3, 84–85 → 2, 86–87 → 1, 88–92 → 0; from 93 on air → 0,
      on oxygen 93–94 → 1, 95–96 → 2, ≥97 → 3
    - air or oxygen: air → 0, oxygen → 2
    - systolic BP (mmHg): ≤90 → 3, 91–100 → 2, 101–110 → 1, 111–219 → 0, ≥220 → 3
    - pulse (per minute): ≤40 → 3, 41–50 → 1, 51–90 → 0, 91–110 → 1, 111–130 → 2, ≥131 → 3
    - consciousness: A → 0; C, V, P or U → 3
    - temperature (°C): ≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0, 38.1–39.0 → 1, ≥39.1 → 2

    Scale 2 (``scale2``) is for patients with hypercapnic respiratory failure whose
    target saturation is 88–92 %.  On scale 2 a saturation of 93 % or more scores by
    ``on_oxygen``; when that is unknown it scores as on air (0), and ``air_or_oxygen``
    is missing.

    A value between two of the chart's steps (24.4 breaths, 35.06 °C) is placed as the
    chart would record it, rounded to the chart's step: a whole number, or 0.1 °C for
    temperature.  A value exactly halfway (24.5 breaths, 90.5 mmHg, 35.05 °C, read as its
    decimal digits) takes the higher of the two bands' points, so a reading at a boundary
    never scores less than either neighbour.

    ``consciousness`` is read by ``consciousness_level``.  A parameter that is ``None``,
    not a finite number, or (for consciousness) unreadable is listed in ``missing`` and
    adds nothing to ``total``."""
    level = consciousness_level(consciousness)
    spo2_row = _SPO2_SCALE_1
    if scale2:
        spo2_row = _SPO2_SCALE_2_ON_OXYGEN if on_oxygen is True else _SPO2_SCALE_2_ON_AIR
    scored = {
        "respiration_rate": _charted(respiration_rate, _RESPIRATION_RATE),
        "spo2": _charted(spo2, spo2_row),
        "air_or_oxygen": None if on_oxygen is None else (2 if on_oxygen else 0),
        "systolic_bp": _charted(systolic_bp, _SYSTOLIC_BP),
        "pulse": _charted(pulse, _PULSE),
        "consciousness": None if level is None else (0 if level == "A" else 3),
        "temperature": _charted(temperature_c, _TEMPERATURE, _TENTH),
    }
    points = {name: value for name, value in scored.items() if value is not None}
    return News2(
        total=sum(points.values()),
        points=points,
        missing=tuple(name for name, value in scored.items() if value is None),
        scale=2 if scale2 else 1,
        any_three=3 in points.values(),
    )


# ---------------------------------------------------------------- qSOFA and SIRS


def qsofa_criteria(
    *, respiration_rate: float | None, consciousness: str | None, systolic_bp: float | None
) -> tuple[str, ...]:
    """The qSOFA criteria met (Sepsis-3), in this order: ``respiration_rate`` (≥ 22 per
    minute), ``altered_mentation`` (a consciousness level other than alert) and
    ``systolic_bp`` (≤ 100 mmHg).  Values are compared as given (21.9 breaths is not 22);
    an unmeasured value or an unreadable level meets nothing."""
    rate, systolic = _number(respiration_rate), _number(systolic_bp)
    level = consciousness_level(consciousness)
    met = {
        "respiration_rate": rate is not None and rate >= 22,
        "altered_mentation": level is not None and level != "A",
        "systolic_bp": systolic is not None and systolic <= 100,
    }
    return tuple(name for name, yes in met.items() if yes)


def sirs_criteria(
    *,
    temperature_c: float | None,
    heart_rate: float | None,
    respiration_rate: float | None,
    wbc: float | None,
) -> tuple[str, ...]:
    """The SIRS criteria met, in this order: ``temperature`` (> 38 or < 36 °C),
    ``heart_rate`` (> 90 per minute), ``respiration_rate`` (> 20 per minute) and ``wbc``
    (> 12 or < 4, in 10*3/uL).  Values are compared as given; the criteria's alternatives
    (PaCO2 < 32 mmHg, > 10 % band forms) are not read.  An unmeasured value meets
    nothing."""
    temperature, heart, rate, count = map(
        _number, (temperature_c, heart_rate, respiration_rate, wbc)
    )
    met = {
        "temperature": temperature is not None and (temperature > 38 or temperature < 36),
        "heart_rate": heart is not None and heart > 90,
        "respiration_rate": rate is not None and rate > 20,
        "wbc": count is not None and (count > 12 or count < 4),
    }
    return tuple(name for name, yes in met.items() if yes)

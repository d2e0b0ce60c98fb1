"""Units of lab and vital values: one spelling per unit, and conversion to a rule's unit.

Senders write the same unit many ways (``mg/dl``, ``MG/DL``, ``K/uL``, ``x10E3/uL``,
``°F``, ``bpm``).  ``normalize_unit`` reads each as one UCUM-style spelling; ``convert``
turns a value into the unit a rule names, or says ``None`` when it cannot.

- Units of one quantity convert by powers of ten: mass per volume (``g/L``, ``g/dL``,
  ``mg/dL``, ``mg/L``, ``ug/L`` = ``ng/mL``, ``ng/L`` = ``pg/mL``), substance per volume
  (``mmol/L``, ``umol/L``), counts per volume (``/uL``, ``10*3/uL`` = ``10*9/L``,
  ``10*6/uL`` = ``10*12/L``) and fractions (``1``, ``{ratio}``, ``%``).  Temperature
  converts between ``Cel`` and ``[degF]``.  Rates (``/min``, ``{beats}/min``,
  ``{breaths}/min``: an annotation in braces is not part of the quantity), ``mm[Hg]`` and
  ``L/min`` convert only to themselves.
- Mass and substance convert only for a substance the LOINC code names: glucose
  (1 mmol/L = 18.016 mg/dL), lactate (9.008 mg/dL) and hemoglobin (1.611 g/dL).
- ``mEq/L`` is ``mmol/L`` only for an ion of charge one (potassium, sodium, chloride,
  bicarbonate), again known from the code.
- A missing unit is read as the code's one conventional unit (``conventional_unit``):
  a heart rate without a unit is per minute; a glucose or a temperature without one is
  not comparable.  Whether a rule accepts a value without a unit at all is the rule's
  choice (its ``unit_optional`` option), made before calling ``convert``.
"""

from __future__ import annotations

import math
from typing import Final

# ---------------------------------------------------------------- spellings

_SPELLINGS: Final[dict[str, tuple[str, ...]]] = {
    "mmol/L": ("mmol/L", "mmol/l"),
    "umol/L": ("umol/L", "mcmol/L"),
    "mEq/L": ("mEq/L", "meq/l"),
    "g/L": ("g/L",),
    "g/dL": ("g/dL", "g/dl"),
    "mg/dL": ("mg/dL", "mg/dl"),
    "mg/L": ("mg/L",),
    "ug/L": ("ug/L", "mcg/L"),
    "ng/mL": ("ng/mL",),
    "ng/L": ("ng/L",),
    "pg/mL": ("pg/mL",),
    "/uL": ("/uL", "1/uL", "/mm3", "cells/uL", "cells/mm3"),
    "10*3/uL": (
        "10*3/uL",
        "10^3/uL",
        "10E3/uL",
        "x10*3/uL",
        "x10^3/uL",
        "x10E3/uL",
        "K/uL",
        "K/mm3",
        "10*3/mm3",
        "10^3/mm3",
        "10*9/L",
        "10^9/L",
        "10E9/L",
        "x10*9/L",
        "x10^9/L",
        "x10E9/L",
        "/nL",
        "1/nL",
    ),
    "10*6/uL": (
        "10*6/uL",
        "10^6/uL",
        "x10*6/uL",
        "x10^6/uL",
        "x10E6/uL",
        "M/uL",
        "10*12/L",
        "10^12/L",
        "x10*12/L",
        "x10^12/L",
        "x10E12/L",
        "/pL",
    ),
    "%": ("%", "percent"),
    "1": ("1", "{fraction}", "fraction"),
    "{ratio}": ("{ratio}", "ratio", "{INR}", "INR"),
    "Cel": ("Cel", "°C", "ºC", "℃", "degC", "degreesC", "celsius"),
    "[degF]": ("[degF]", "°F", "ºF", "℉", "degF", "degreesF", "fahrenheit"),
    "/min": ("/min", "1/min", "per min"),
    "{beats}/min": ("{beats}/min", "{beat}/min", "beats/min", "bpm"),
    "{breaths}/min": ("{breaths}/min", "{breath}/min", "breaths/min", "br/min"),
    "mm[Hg]": ("mm[Hg]", "mmHg"),
    "L/min": ("L/min", "lpm"),
}

# Read as written, case and all: a lone letter is a temperature scale only in capitals.
_EXACT: Final[dict[str, str]] = {"C": "Cel", "F": "[degF]"}

# Spellings that mean different units in different laboratories, left as they are:
# "G/L" is giga per litre (a count) in some and grams per litre (in capitals) in others.
_AMBIGUOUS: Final = frozenset({"G/L"})


def _key(text: str) -> str:
    """The lookup form of a spelling: no whitespace, ``u`` for a micro sign or Greek mu."""
    return "".join(text.split()).replace("µ", "u").replace("μ", "u")


_FOLDED: Final[dict[str, str]] = {
    _key(spelling).casefold(): canonical
    for canonical, spellings in _SPELLINGS.items()
    for spelling in spellings
}


def normalize_unit(text: str | None) -> str | None:
    """The one spelling of the unit a sender wrote, or ``None`` for no unit.

    Whitespace is ignored and case is ignored except where it changes the meaning (a
    lone ``C`` or ``F``; ``G/L``).  A unit the bus does not know is returned as written,
    without the whitespace around it."""
    if text is None:
        return None
    stripped = text.strip()
    if not stripped:
        return None
    key = _key(stripped)
    if key in _EXACT:
        return _EXACT[key]
    if key in _AMBIGUOUS:
        return stripped
    return _FOLDED.get(key.casefold(), stripped)


# ---------------------------------------------------------------- quantities

# Each convertible unit: its quantity and the power of ten that takes a value in it to
# the quantity's first unit (g/L, mmol/L, /uL, 1).  Same quantity, power-of-ten apart.
_SCALE: Final[dict[str, tuple[str, int]]] = {
    "g/L": ("mass", 0),
    "g/dL": ("mass", 1),
    "mg/dL": ("mass", -2),
    "mg/L": ("mass", -3),
    "ug/L": ("mass", -6),
    "ng/mL": ("mass", -6),
    "ng/L": ("mass", -9),
    "pg/mL": ("mass", -9),
    "mmol/L": ("substance", 0),
    "umol/L": ("substance", -3),
    "/uL": ("count", 0),
    "10*3/uL": ("count", 3),
    "10*6/uL": ("count", 6),
    "1": ("fraction", 0),
    "{ratio}": ("fraction", 0),
    "%": ("fraction", -2),
    "/min": ("rate", 0),
    "{beats}/min": ("rate", 0),
    "{breaths}/min": ("rate", 0),
}

_TEMPERATURE: Final = frozenset({"Cel", "[degF]"})

_GLUCOSE: Final = (
    "2345-7",  # Glucose [Mass/volume] in Serum or Plasma
    "2339-0",  # Glucose [Mass/volume] in Blood
    "2340-8",  # Glucose [Mass/volume] in Blood by Automated test strip
    "2341-6",  # Glucose [Mass/volume] in Blood by Test strip manual
    "32016-8",  # Glucose [Mass/volume] in Capillary blood
    "41653-7",  # Glucose [Mass/volume] in Capillary blood by Glucometer
    "1558-6",  # Fasting glucose [Mass/volume] in Serum or Plasma
    "14749-6",  # Glucose [Moles/volume] in Serum or Plasma
    "15074-8",  # Glucose [Moles/volume] in Blood
    "14743-9",  # Glucose [Moles/volume] in Capillary blood by Glucometer
    "14771-0",  # Fasting glucose [Moles/volume] in Serum or Plasma
    "14770-2",  # Fasting glucose [Moles/volume] in Capillary blood by Glucometer
)
_LACTATE: Final = (
    "2524-7",  # Lactate [Moles/volume] in Serum or Plasma
    "32693-4",  # Lactate [Moles/volume] in Blood
    "2518-9",  # Lactate [Moles/volume] in Arterial blood
    "2519-7",  # Lactate [Moles/volume] in Venous blood
    "14118-4",  # Lactate [Mass/volume] in Serum or Plasma
    "59032-3",  # Lactate [Mass/volume] in Blood
)
_HEMOGLOBIN: Final = (
    "718-7",  # Hemoglobin [Mass/volume] in Blood
    "20509-6",  # Hemoglobin [Mass/volume] in Blood by calculation
    "30313-1",  # Hemoglobin [Mass/volume] in Arterial blood
    "30350-3",  # Hemoglobin [Mass/volume] in Venous blood
    "59260-0",  # Hemoglobin [Moles/volume] in Blood
)

# One millimole per litre of the substance in a mass unit: (that unit, how many of it).
_PER_MMOL: Final[dict[str, tuple[str, float]]] = {
    **dict.fromkeys(_GLUCOSE, ("mg/dL", 18.016)),
    **dict.fromkeys(_LACTATE, ("mg/dL", 9.008)),
    **dict.fromkeys(_HEMOGLOBIN, ("g/dL", 1.611)),
}

# Ions of charge one, for which one milliequivalent is one millimole.
_MONOVALENT: Final = frozenset(
    {
        "2823-3",  # Potassium [Moles/volume] in Serum or Plasma
        "6298-4",  # Potassium [Moles/volume] in Blood
        "32713-0",  # Potassium [Moles/volume] in Arterial blood
        "39789-3",  # Potassium [Moles/volume] in Venous blood
        "39790-1",  # Potassium [Moles/volume] in Capillary blood
        "2951-2",  # Sodium [Moles/volume] in Serum or Plasma
        "2947-0",  # Sodium [Moles/volume] in Blood
        "32717-1",  # Sodium [Moles/volume] in Arterial blood
        "39791-9",  # Sodium [Moles/volume] in Venous blood
        "2075-0",  # Chloride [Moles/volume] in Serum or Plasma
        "2069-3",  # Chloride [Moles/volume] in Blood
        "1963-8",  # Bicarbonate [Moles/volume] in Serum or Plasma
        "2028-9",  # Carbon dioxide, total [Moles/volume] in Serum or Plasma
    }
)

# Codes measured in one unit only, everywhere: a value sent without a unit is in it.
_CONVENTIONAL: Final[dict[str, str]] = {
    "9279-1": "/min",  # Respiratory rate
    "8867-4": "/min",  # Heart rate
    "8889-8": "/min",  # Heart rate by Pulse oximetry
    "59408-5": "%",  # Oxygen saturation in Arterial blood by Pulse oximetry
    "2708-6": "%",  # Oxygen saturation in Arterial blood
    "8480-6": "mm[Hg]",  # Systolic blood pressure
    "8462-4": "mm[Hg]",  # Diastolic blood pressure
    "8478-0": "mm[Hg]",  # Mean blood pressure
    "6301-6": "{ratio}",  # INR in Platelet poor plasma by Coagulation assay
}


def conventional_unit(code: str | None) -> str | None:
    """The one unit the observation ``code`` (LOINC) is measured in, or ``None`` when it
    has several (temperature, glucose, FiO2) or the bus does not know it."""
    return _CONVENTIONAL.get(code) if code else None


def _tens(value: float, power: int) -> float:
    """``value`` × 10**``power``, rounded once (dividing by 10**n, not multiplying by 10**-n,
    which is not exact)."""
    return value * 10**power if power >= 0 else value / 10**-power


def convert(
    value: float, unit: str | None, target: str, *, code: str | None = None
) -> float | None:
    """``value``, written in ``unit``, in the ``target`` unit; ``None`` when either unit is
    unknown, they measure different things, the conversion depends on a substance that
    ``code`` (LOINC) does not name, or ``value`` is not a finite number.

    ``unit`` ``None`` (or blank) is read as the code's conventional unit, if it has one."""
    if not math.isfinite(value):
        return None
    source = normalize_unit(unit)
    if source is None:
        source = conventional_unit(code)
    goal = normalize_unit(target)
    if source is None or goal is None:
        return None
    value = float(value)
    if source == goal:
        return value
    if source in _TEMPERATURE and goal in _TEMPERATURE:
        return (value - 32) * 5 / 9 if source == "[degF]" else value * 9 / 5 + 32
    if code in _MONOVALENT:
        source = "mmol/L" if source == "mEq/L" else source
        goal = "mmol/L" if goal == "mEq/L" else goal
    if source not in _SCALE or goal not in _SCALE:
        return None
    (source_kind, source_power), (goal_kind, goal_power) = _SCALE[source], _SCALE[goal]
    if source_kind == goal_kind:
        return _tens(value, source_power - goal_power)
    per_mmol = _PER_MMOL.get(code) if code else None
    if per_mmol is None:
        return None
    mass_unit, amount = per_mmol
    mass_power = _SCALE[mass_unit][1]
    if (source_kind, goal_kind) == ("mass", "substance"):
        mmol = _tens(value, source_power - mass_power) / amount
        return _tens(mmol, -goal_power)
    if (source_kind, goal_kind) == ("substance", "mass"):
        mass = _tens(value, source_power) * amount
        return _tens(mass, mass_power - goal_power)
    return None

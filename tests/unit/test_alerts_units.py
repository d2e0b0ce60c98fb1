"""Unit conversion for lab and vital values: the spellings senders use for a unit are read
as one canonical spelling, and a value converts to a rule's unit only where the conversion
is known (for the substance the LOINC code names, where it depends on one)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hl7bus.services.alerts.units import conventional_unit, convert, normalize_unit

GLUCOSE = "2345-7"  # Glucose [Mass/volume] in Serum or Plasma
GLUCOSE_CODES = ("2345-7", "2339-0", "41653-7", "14749-6", "15074-8", "14743-9", "14771-0")
LACTATE = "2524-7"  # Lactate [Moles/volume] in Serum or Plasma
POTASSIUM = "2823-3"  # Potassium [Moles/volume] in Serum or Plasma
SODIUM = "2951-2"  # Sodium [Moles/volume] in Serum or Plasma
CALCIUM = "17861-6"  # Calcium [Mass/volume] in Serum or Plasma: divalent
HEMOGLOBIN = "718-7"  # Hemoglobin [Mass/volume] in Blood
HEMOGLOBIN_MOLAR = "59260-0"  # Hemoglobin [Moles/volume] in Blood
TROPONIN_I = "10839-9"  # Troponin I.cardiac [Mass/volume] in Serum or Plasma
PLATELETS = "777-3"  # Platelets [#/volume] in Blood by Automated count
WBC = "6690-2"  # Leukocytes [#/volume] in Blood by Automated count
HEART_RATE = "8867-4"
FIO2 = "3150-0"  # Inhaled oxygen concentration
BODY_TEMPERATURE = "8310-5"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        # Substance and electrolytes.
        ("mmol/L", "mmol/L"),
        ("mmol/l", "mmol/L"),
        ("MMOL/L", "mmol/L"),
        ("umol/L", "umol/L"),
        ("µmol/L", "umol/L"),
        ("mEq/L", "mEq/L"),
        ("meq/l", "mEq/L"),
        ("MEQ/L", "mEq/L"),
        # Mass concentration.
        ("mg/dL", "mg/dL"),
        ("mg/dl", "mg/dL"),
        ("MG/DL", "mg/dL"),
        ("mg / dL", "mg/dL"),
        ("mg/L", "mg/L"),
        ("ng/mL", "ng/mL"),
        ("ng/ml", "ng/mL"),
        ("ug/L", "ug/L"),
        ("µg/L", "ug/L"),
        ("μg/L", "ug/L"),  # Greek mu, not the micro sign
        ("mcg/L", "ug/L"),
        ("ng/L", "ng/L"),
        ("pg/mL", "pg/mL"),
        ("g/dL", "g/dL"),
        ("G/DL", "g/dL"),
        ("g/L", "g/L"),
        ("g/l", "g/L"),
        # Counts.
        ("10*3/uL", "10*3/uL"),
        ("K/uL", "10*3/uL"),
        ("K/UL", "10*3/uL"),
        ("10^3/uL", "10*3/uL"),
        ("x10E3/uL", "10*3/uL"),
        ("x10^3/µL", "10*3/uL"),
        ("10*9/L", "10*3/uL"),
        ("10^9/L", "10*3/uL"),
        ("x10E9/L", "10*3/uL"),
        ("/nL", "10*3/uL"),
        ("/uL", "/uL"),
        ("/mm3", "/uL"),
        ("cells/uL", "/uL"),
        ("10*6/uL", "10*6/uL"),
        ("M/uL", "10*6/uL"),
        ("10^12/L", "10*6/uL"),
        # Fractions.
        ("%", "%"),
        ("{ratio}", "{ratio}"),
        ("ratio", "{ratio}"),
        ("{INR}", "{ratio}"),
        ("INR", "{ratio}"),
        ("1", "1"),
        ("{fraction}", "1"),
        # Temperature.
        ("Cel", "Cel"),
        ("°C", "Cel"),
        ("ºC", "Cel"),  # the ordinal indicator that keyboards give for a degree sign
        ("℃", "Cel"),
        ("C", "Cel"),
        ("degC", "Cel"),
        ("deg C", "Cel"),
        ("DEGC", "Cel"),
        ("celsius", "Cel"),
        ("[degF]", "[degF]"),
        ("°F", "[degF]"),
        ("F", "[degF]"),
        ("degF", "[degF]"),
        ("deg F", "[degF]"),
        ("Fahrenheit", "[degF]"),
        # Vital signs.
        ("/min", "/min"),
        ("1/min", "/min"),
        ("{beats}/min", "{beats}/min"),
        ("beats/min", "{beats}/min"),
        ("bpm", "{beats}/min"),
        ("BPM", "{beats}/min"),
        ("{breaths}/min", "{breaths}/min"),
        ("breaths/min", "{breaths}/min"),
        ("mm[Hg]", "mm[Hg]"),
        ("mmHg", "mm[Hg]"),
        ("mm Hg", "mm[Hg]"),
        ("MMHG", "mm[Hg]"),
        ("L/min", "L/min"),
        ("l/min", "L/min"),
        # Around the unit: whitespace is not part of it.
        ("  mmol/L ", "mmol/L"),
    ],
)
def test_normalize_unit_reads_each_spelling(written: str, canonical: str) -> None:
    assert normalize_unit(written) == canonical


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_normalize_unit_of_no_unit_is_none(blank: str | None) -> None:
    assert normalize_unit(blank) is None


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("mg", "mg"),
        (" furlongs/fortnight ", "furlongs/fortnight"),
        ("{copies}/mL", "{copies}/mL"),
        # "G/L" is giga per litre in some labs and grams per litre (in capitals) in
        # others: ambiguous, so it is not folded to either.
        ("G/L", "G/L"),
        # A lone lower-case letter is no temperature scale.
        ("c", "c"),
        ("f", "f"),
    ],
)
def test_normalize_unit_keeps_unknown_spellings_stripped(written: str, kept: str) -> None:
    assert normalize_unit(written) == kept


@pytest.mark.parametrize(
    ("value", "unit", "target", "code", "expected"),
    [
        # Glucose, 1 mmol/L = 18.016 mg/dL, for every glucose code.
        (180.16, "mg/dL", "mmol/L", GLUCOSE, 10.0),
        (10.0, "mmol/L", "mg/dL", GLUCOSE, 180.16),
        (90.08, "mg/dl", "mmol/L", "2339-0", 5.0),
        (5.0, "mmol/L", "mg/dL", "41653-7", 90.08),
        (7.0, "mmol/L", "mg/dL", "14749-6", 126.112),
        (126.112, "mg/dL", "mmol/L", "15074-8", 7.0),
        (2.0, "mmol/L", "g/L", GLUCOSE, 0.36032),
        # Lactate, 1 mmol/L = 9.008 mg/dL.
        (36.032, "mg/dL", "mmol/L", LACTATE, 4.0),
        (4.0, "mmol/L", "mg/dL", LACTATE, 36.032),
        (18.016, "mg/dL", "mmol/L", "32693-4", 2.0),
        # Potassium and sodium: one milliequivalent is one millimole.
        (6.5, "mEq/L", "mmol/L", POTASSIUM, 6.5),
        (6.5, "mmol/L", "mEq/L", POTASSIUM, 6.5),
        (118.0, "mEq/L", "mmol/L", SODIUM, 118.0),
        (118.0, "mmol/L", "mEq/L", SODIUM, 118.0),
        # Troponin: ng/mL = ug/L; ng/L = ng/mL × 1000.
        (0.04, "ng/mL", "ug/L", TROPONIN_I, 0.04),
        (0.04, "ug/L", "ng/mL", TROPONIN_I, 0.04),
        (0.04, "ng/mL", "ng/L", TROPONIN_I, 40.0),
        (52.0, "ng/L", "ng/mL", TROPONIN_I, 0.052),
        (52.0, "pg/mL", "ng/L", TROPONIN_I, 52.0),
        (0.04, "ng/mL", "ng/L", None, 40.0),
        # Hemoglobin: g/L = g/dL × 10; 1 mmol/L = 1.611 g/dL.
        (135.0, "g/L", "g/dL", HEMOGLOBIN, 13.5),
        (13.5, "g/dL", "g/L", HEMOGLOBIN, 135.0),
        (8.0, "mmol/L", "g/dL", HEMOGLOBIN_MOLAR, 12.888),
        (12.888, "g/dL", "mmol/L", HEMOGLOBIN_MOLAR, 8.0),
        (8.0, "mmol/L", "g/L", HEMOGLOBIN, 128.88),
        (128.88, "g/L", "mmol/L", HEMOGLOBIN, 8.0),
        # Platelets and white cells: 10*3/uL = 10*9/L = K/uL; 1000 /uL = 1 10*3/uL.
        (250.0, "10*3/uL", "10*9/L", PLATELETS, 250.0),
        (250.0, "10*9/L", "10*3/uL", PLATELETS, 250.0),
        (250.0, "K/uL", "10*3/uL", PLATELETS, 250.0),
        (12.1, "x10E3/uL", "10*9/L", WBC, 12.1),
        (12.1, "10^9/L", "K/uL", WBC, 12.1),
        (7500.0, "/uL", "10*3/uL", WBC, 7.5),
        (7.5, "10*3/uL", "/mm3", WBC, 7500.0),
        (4.5, "10*12/L", "10*6/uL", None, 4.5),
        # Temperature: °F → °C and back.
        (98.6, "°F", "Cel", BODY_TEMPERATURE, 37.0),
        (212.0, "F", "Cel", BODY_TEMPERATURE, 100.0),
        (32.0, "[degF]", "Cel", None, 0.0),
        (-40.0, "degF", "Cel", None, -40.0),
        (37.0, "Cel", "[degF]", BODY_TEMPERATURE, 98.6),
        (38.1, "°C", "[degF]", None, 100.58),
        # FiO2: a fraction (0.21–1.0) and a percentage.
        (0.21, "{ratio}", "%", FIO2, 21.0),
        (0.4, "1", "%", FIO2, 40.0),
        (40.0, "%", "{ratio}", FIO2, 0.4),
        (100.0, "%", "1", FIO2, 1.0),
        # The same unit, however spelt, is the value itself.
        (120.0, "mmHg", "mm[Hg]", "8480-6", 120.0),
        (88.0, "bpm", "/min", HEART_RATE, 88.0),
        (88.0, "/min", "{beats}/min", HEART_RATE, 88.0),
        (22.0, "breaths/min", "/min", "9279-1", 22.0),
        (4.0, "L/min", "L/min", None, 4.0),
        (3.2, "{copies}/mL", "{copies}/mL", None, 3.2),
    ],
)
def test_convert(value: float, unit: str, target: str, code: str | None, expected: float) -> None:
    assert convert(value, unit, target, code=code) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "unit", "target", "code"),
    [
        # A substance conversion needs to know the substance.
        (5.5, "mmol/L", "mg/dL", None),
        (99.0, "mg/dL", "mmol/L", None),
        (5.5, "mmol/L", "mg/dL", POTASSIUM),
        (0.04, "ng/mL", "mmol/L", TROPONIN_I),
        # One milliequivalent is one millimole only for an ion of charge one.
        (4.5, "mEq/L", "mmol/L", None),
        (2.4, "mEq/L", "mmol/L", CALCIUM),
        (4.5, "mEq/L", "mmol/L", GLUCOSE),
        # Different quantities.
        (37.0, "Cel", "mg/dL", None),
        (95.0, "%", "mg/dL", None),
        (250.0, "10*3/uL", "g/L", PLATELETS),
        (120.0, "mm[Hg]", "/min", None),
        # Units the bus does not know.
        (5.0, "mg", "mg/dL", GLUCOSE),
        (5.0, "furlongs", "mmol/L", GLUCOSE),
        (5.0, "mmol/L", "furlongs", GLUCOSE),
        (5.0, "G/L", "g/L", HEMOGLOBIN),
        (5.0, "G/L", "10*9/L", WBC),
    ],
)
def test_convert_is_none_where_no_conversion_is_known(
    value: float, unit: str, target: str, code: str | None
) -> None:
    assert convert(value, unit, target, code=code) is None


@pytest.mark.parametrize(
    ("code", "unit"),
    [
        ("9279-1", "/min"),
        (HEART_RATE, "/min"),
        ("59408-5", "%"),
        ("8480-6", "mm[Hg]"),
        ("6301-6", "{ratio}"),
        # Two conventional units (or none known): no reading of a missing unit.
        (BODY_TEMPERATURE, None),
        (GLUCOSE, None),
        (FIO2, None),
        (WBC, None),
        (None, None),
    ],
)
def test_conventional_unit(code: str | None, unit: str | None) -> None:
    assert conventional_unit(code) == unit


def test_a_missing_unit_converts_only_where_the_code_has_one_conventional_unit() -> None:
    assert convert(88.0, None, "/min", code=HEART_RATE) == 88.0
    assert convert(88.0, "", "{beats}/min", code=HEART_RATE) == 88.0
    assert convert(93.0, None, "{ratio}", code="59408-5") == pytest.approx(0.93)
    assert convert(88.0, None, "/min") is None
    assert convert(5.5, None, "mmol/L", code=GLUCOSE) is None
    assert convert(38.5, None, "Cel", code=BODY_TEMPERATURE) is None
    assert convert(0.4, None, "%", code=FIO2) is None


def test_a_number_that_is_not_finite_does_not_convert() -> None:
    assert convert(math.nan, "mg/dL", "mmol/L", code=GLUCOSE) is None
    assert convert(math.inf, "Cel", "Cel") is None


@given(
    value=st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False),
    code=st.sampled_from(GLUCOSE_CODES),
)
def test_glucose_round_trips_through_mmol_per_litre(value: float, code: str) -> None:
    mmol = convert(value, "mg/dL", "mmol/L", code=code)
    assert mmol is not None
    assert convert(mmol, "mmol/L", "mg/dL", code=code) == pytest.approx(value, rel=1e-12, abs=1e-12)


_SAME_QUANTITY = [
    ("mg/dL", "g/L", "g/dL", "mg/L", "ug/L", "ng/mL", "ng/L", "pg/mL"),
    ("mmol/L", "umol/L"),
    ("10*3/uL", "/uL", "10*6/uL"),
    ("%", "1", "{ratio}"),
    ("Cel", "[degF]"),
]


@given(
    value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    pair=st.sampled_from(
        [pair for units in _SAME_QUANTITY for pair in itertools.permutations(units, 2)]
    ),
)
def test_every_conversion_between_units_of_one_quantity_round_trips(
    value: float, pair: tuple[str, str]
) -> None:
    unit, target = pair
    there = convert(value, unit, target)
    assert there is not None
    assert convert(there, target, unit) == pytest.approx(value, rel=1e-12, abs=1e-9)

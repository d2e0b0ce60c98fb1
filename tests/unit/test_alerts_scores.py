"""Clinical scores over plain values: NEWS2 as the Royal College of Physicians' chart
(2017) draws it, band by band, and the qSOFA and SIRS criteria at their thresholds."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from hl7bus.services.alerts.scores import (
    News2,
    consciousness_level,
    news2,
    qsofa_criteria,
    sirs_criteria,
)

PARAMETERS = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)

_NOTHING = {
    "respiration_rate": None,
    "spo2": None,
    "on_oxygen": None,
    "systolic_bp": None,
    "pulse": None,
    "consciousness": None,
    "temperature_c": None,
}


def _score(**measured: Any) -> News2:
    return news2(**{**_NOTHING, **measured})


# ---------------------------------------------------------------- consciousness


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("A", "A"),
        ("a", "A"),
        (" Alert ", "A"),
        ("ALERT", "A"),
        ("LA9340-6", "A"),
        ("C", "C"),
        ("Confused", "C"),
        ("New confusion", "C"),
        ("new-onset confusion", "C"),
        ("LA6560-2", "C"),
        ("V", "V"),
        ("Voice", "V"),
        ("Responds to voice", "V"),
        ("Verbal", "V"),
        ("LA17108-4", "V"),
        ("P", "P"),
        ("Pain", "P"),
        ("Responds to pain", "P"),
        ("Painful", "P"),
        ("LA17107-6", "P"),
        ("U", "U"),
        ("Unresponsive", "U"),
        ("la9343-0", "U"),
    ],
)
def test_consciousness_level_reads_letters_words_and_loinc_answers(text: str, level: str) -> None:
    assert consciousness_level(text) == level


@pytest.mark.parametrize("text", [None, "", "  ", "sleepy", "X", "AV", "LA0000-0"])
def test_consciousness_level_is_none_when_unreadable(text: str | None) -> None:
    assert consciousness_level(text) is None


# ---------------------------------------------------------------- NEWS2, band by band


@pytest.mark.parametrize(
    ("rate", "points"),
    [
        (0, 3),
        (8, 3),
        (9, 1),
        (11, 1),
        (12, 0),
        (20, 0),
        (21, 2),
        (24, 2),
        (25, 3),
        (40, 3),
    ],
)
def test_news2_respiration_rate(rate: float, points: int) -> None:
    assert _score(respiration_rate=rate).points == {"respiration_rate": points}


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
@pytest.mark.parametrize("on_oxygen", [False, True, None])
def test_news2_spo2_scale_1_is_the_same_on_air_and_on_oxygen(
    spo2: float, points: int, on_oxygen: bool | None
) -> None:
    score = _score(spo2=spo2, on_oxygen=on_oxygen)
    assert score.scale == 1
    assert score.points["spo2"] == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(70, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0)],
)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_news2_spo2_scale_2_below_93_is_the_same_on_air_and_on_oxygen(
    spo2: float, points: int, on_oxygen: bool
) -> None:
    score = _score(spo2=spo2, on_oxygen=on_oxygen, scale2=True)
    assert score.scale == 2
    assert score.points["spo2"] == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [
        (92, False, 0),
        (93, False, 0),
        (97, False, 0),
        (100, False, 0),
        (92, True, 0),
        (93, True, 1),
        (94, True, 1),
        (95, True, 2),
        (96, True, 2),
        (97, True, 3),
        (100, True, 3),
    ],
)
def test_news2_spo2_scale_2_from_93_depends_on_oxygen(
    spo2: float, on_oxygen: bool, points: int
) -> None:
    assert _score(spo2=spo2, on_oxygen=on_oxygen, scale2=True).points["spo2"] == points


def test_news2_spo2_scale_2_from_93_without_knowing_about_oxygen_scores_as_on_air() -> None:
    score = _score(spo2=97, on_oxygen=None, scale2=True)
    assert score.points == {"spo2": 0}
    assert "air_or_oxygen" in score.missing


@pytest.mark.parametrize(("on_oxygen", "points"), [(False, 0), (True, 2)])
def test_news2_air_or_oxygen(on_oxygen: bool, points: int) -> None:
    assert _score(on_oxygen=on_oxygen).points == {"air_or_oxygen": points}


@pytest.mark.parametrize(
    ("systolic", "points"),
    [
        (60, 3),
        (90, 3),
        (91, 2),
        (100, 2),
        (101, 1),
        (110, 1),
        (111, 0),
        (219, 0),
        (220, 3),
        (260, 3),
    ],
)
def test_news2_systolic_bp(systolic: float, points: int) -> None:
    assert _score(systolic_bp=systolic).points == {"systolic_bp": points}


@pytest.mark.parametrize(
    ("pulse", "points"),
    [
        (30, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
        (180, 3),
    ],
)
def test_news2_pulse(pulse: float, points: int) -> None:
    assert _score(pulse=pulse).points == {"pulse": points}


@pytest.mark.parametrize(
    ("consciousness", "points"),
    [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3), ("Alert", 0), ("New confusion", 3)],
)
def test_news2_consciousness(consciousness: str, points: int) -> None:
    assert _score(consciousness=consciousness).points == {"consciousness": points}


@pytest.mark.parametrize(
    ("temperature", "points"),
    [
        (33.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (41.0, 2),
    ],
)
def test_news2_temperature(temperature: float, points: int) -> None:
    assert _score(temperature_c=temperature).points == {"temperature": points}


# ------------------------------------------------- NEWS2, values between the chart's steps


@pytest.mark.parametrize(
    ("parameter", "argument", "value", "points"),
    [
        # Nearer one step: that step's band.
        ("temperature", "temperature_c", 35.04, 3),
        ("temperature", "temperature_c", 35.06, 1),
        ("systolic_bp", "systolic_bp", 90.4, 3),
        ("systolic_bp", "systolic_bp", 90.6, 2),
        ("respiration_rate", "respiration_rate", 24.4, 2),
        ("respiration_rate", "respiration_rate", 24.6, 3),
        ("pulse", "pulse", 50.6, 0),
        # Exactly halfway: the higher of the two bands' points.
        ("temperature", "temperature_c", 35.05, 3),  # 35.0 → 3, 35.1 → 1
        ("temperature", "temperature_c", 36.05, 1),  # 36.0 → 1, 36.1 → 0
        ("temperature", "temperature_c", 38.05, 1),  # 38.0 → 0, 38.1 → 1
        ("temperature", "temperature_c", 39.05, 2),  # 39.0 → 1, 39.1 → 2
        ("systolic_bp", "systolic_bp", 90.5, 3),  # 90 → 3, 91 → 2
        ("systolic_bp", "systolic_bp", 110.5, 1),  # 110 → 1, 111 → 0
        ("systolic_bp", "systolic_bp", 219.5, 3),  # 219 → 0, 220 → 3
        ("respiration_rate", "respiration_rate", 8.5, 3),  # 8 → 3, 9 → 1
        ("respiration_rate", "respiration_rate", 24.5, 3),  # 24 → 2, 25 → 3
        ("pulse", "pulse", 50.5, 1),  # 50 → 1, 51 → 0
        ("pulse", "pulse", 90.5, 1),  # 90 → 0, 91 → 1
        ("pulse", "pulse", 130.5, 3),  # 130 → 2, 131 → 3
        ("spo2", "spo2", 93.5, 2),  # 93 → 2, 94 → 1
        ("spo2", "spo2", 95.5, 1),  # 95 → 1, 96 → 0
    ],
)
def test_news2_places_a_value_between_steps_by_rounding_halfway_to_the_higher_points(
    parameter: str, argument: str, value: float, points: int
) -> None:
    assert _score(**{argument: value}).points[parameter] == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [
        (92.5, True, 1),  # 92 → 0, 93 on oxygen → 1
        (92.5, False, 0),  # 92 → 0, 93 on air → 0
        (96.5, True, 3),  # 96 → 2, 97 → 3
        (87.5, True, 1),  # 87 → 1, 88 → 0
    ],
)
def test_news2_spo2_scale_2_between_steps(spo2: float, on_oxygen: bool, points: int) -> None:
    assert _score(spo2=spo2, on_oxygen=on_oxygen, scale2=True).points["spo2"] == points


# ---------------------------------------------------------------- NEWS2, whole patients


def test_news2_worked_example_on_air() -> None:
    score = news2(
        respiration_rate=24,  # 21–24: 2
        spo2=93,  # scale 1, 92–93: 2
        on_oxygen=False,  # air: 0
        systolic_bp=105,  # 101–110: 1
        pulse=115,  # 111–130: 2
        consciousness="A",  # alert: 0
        temperature_c=38.5,  # 38.1–39.0: 1
    )
    # 2 + 2 + 0 + 1 + 2 + 0 + 1 = 8
    assert score == News2(
        total=8,
        points={
            "respiration_rate": 2,
            "spo2": 2,
            "air_or_oxygen": 0,
            "systolic_bp": 1,
            "pulse": 2,
            "consciousness": 0,
            "temperature": 1,
        },
        missing=(),
        scale=1,
        any_three=False,
    )


def test_news2_worked_example_scale_2_on_oxygen_with_new_confusion() -> None:
    score = news2(
        respiration_rate=18,  # 12–20: 0
        spo2=97,  # scale 2, ≥97 on oxygen: 3
        on_oxygen=True,  # oxygen: 2
        systolic_bp=130,  # 111–219: 0
        pulse=88,  # 51–90: 0
        consciousness="New confusion",  # C: 3
        temperature_c=36.5,  # 36.1–38.0: 0
        scale2=True,
    )
    # 0 + 3 + 2 + 0 + 0 + 3 + 0 = 8, and two single parameters score 3
    assert score.total == 8
    assert score.points == {
        "respiration_rate": 0,
        "spo2": 3,
        "air_or_oxygen": 2,
        "systolic_bp": 0,
        "pulse": 0,
        "consciousness": 3,
        "temperature": 0,
    }
    assert score.scale == 2
    assert score.any_three is True
    assert score.missing == ()


def test_news2_worked_example_with_parameters_missing() -> None:
    score = news2(
        respiration_rate=26,  # ≥25: 3
        spo2=None,
        on_oxygen=None,
        systolic_bp=88,  # ≤90: 3
        pulse=None,
        consciousness="V",  # V: 3
        temperature_c=34.8,  # ≤35.0: 3
    )
    # 3 + 3 + 3 + 3 = 12 over the four measured parameters
    assert score.total == 12
    assert score.points == {
        "respiration_rate": 3,
        "systolic_bp": 3,
        "consciousness": 3,
        "temperature": 3,
    }
    assert score.missing == ("spo2", "air_or_oxygen", "pulse")
    assert score.any_three is True


def test_news2_of_a_well_patient_is_zero() -> None:
    score = news2(
        respiration_rate=16,
        spo2=98,
        on_oxygen=False,
        systolic_bp=125,
        pulse=72,
        consciousness="Alert",
        temperature_c=37.0,
    )
    assert (score.total, score.any_three, score.missing) == (0, False, ())
    assert tuple(score.points) == PARAMETERS


def test_news2_any_three_is_one_parameter_at_three_not_a_total_of_three() -> None:
    # 21–24: 2, 91–110 bpm: 1, total 3 without any single 3.
    assert _score(respiration_rate=22, pulse=95).any_three is False
    assert _score(respiration_rate=22, pulse=95).total == 3
    # ≤8: 3 alone.
    assert _score(respiration_rate=8).any_three is True


def test_news2_with_nothing_measured() -> None:
    score = _score()
    assert score == News2(total=0, points={}, missing=PARAMETERS, scale=1, any_three=False)


def test_news2_counts_unreadable_consciousness_and_non_numbers_as_missing() -> None:
    score = _score(consciousness="drowsy", pulse=math.nan, systolic_bp=math.inf, spo2=96)
    assert score.missing == (
        "respiration_rate",
        "air_or_oxygen",
        "systolic_bp",
        "pulse",
        "consciousness",
        "temperature",
    )
    assert score.points == {"spo2": 0}


def test_news2_is_frozen() -> None:
    score = _score(pulse=72)
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.total = 5  # type: ignore[misc]


# ---------------------------------------------------------------- qSOFA


@pytest.mark.parametrize(
    ("rate", "systolic", "consciousness", "criteria"),
    [
        (21, None, None, ()),
        (21.9, None, None, ()),
        (22, None, None, ("respiration_rate",)),
        (None, 101, None, ()),
        (None, 100.1, None, ()),
        (None, 100, None, ("systolic_bp",)),
        (None, None, "A", ()),
        (None, None, "Alert", ()),
        (None, None, "C", ("altered_mentation",)),
        (None, None, "Responds to voice", ("altered_mentation",)),
        (None, None, "U", ("altered_mentation",)),
        (None, None, "unreadable", ()),
        (None, None, None, ()),
        (30, 85, "P", ("respiration_rate", "altered_mentation", "systolic_bp")),
        (math.nan, math.nan, None, ()),
    ],
)
def test_qsofa_criteria(
    rate: float | None, systolic: float | None, consciousness: str | None, criteria: tuple
) -> None:
    assert (
        qsofa_criteria(respiration_rate=rate, consciousness=consciousness, systolic_bp=systolic)
        == criteria
    )


# ---------------------------------------------------------------- SIRS


@pytest.mark.parametrize(
    ("temperature", "heart_rate", "rate", "wbc", "criteria"),
    [
        (38.0, None, None, None, ()),
        (38.1, None, None, None, ("temperature",)),
        (36.0, None, None, None, ()),
        (35.9, None, None, None, ("temperature",)),
        (None, 90, None, None, ()),
        (None, 91, None, None, ("heart_rate",)),
        (None, None, 20, None, ()),
        (None, None, 21, None, ("respiration_rate",)),
        (None, None, None, 12.0, ()),
        (None, None, None, 12.1, ("wbc",)),
        (None, None, None, 4.0, ()),
        (None, None, None, 3.9, ("wbc",)),
        (None, None, None, None, ()),
        (39.2, 120, 28, 18.5, ("temperature", "heart_rate", "respiration_rate", "wbc")),
        (math.nan, math.nan, math.nan, math.nan, ()),
    ],
)
def test_sirs_criteria(
    temperature: float | None,
    heart_rate: float | None,
    rate: float | None,
    wbc: float | None,
    criteria: tuple,
) -> None:
    assert (
        sirs_criteria(
            temperature_c=temperature, heart_rate=heart_rate, respiration_rate=rate, wbc=wbc
        )
        == criteria
    )

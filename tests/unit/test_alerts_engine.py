"""The alert rules over events: each rule raising and not raising, with the values, units
and times that say why; suppression, repeats and replays; notes without patient data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import pytest
from timeline_support import FEED, event, events_of, message_events

from hl7bus.events.alerts import AlertSeverity, AlertStatus, ClinicalAlert
from hl7bus.events.model import (
    ClinicalEvent,
    Encounter,
    EventType,
    Location,
    Observation,
    Payload,
)
from hl7bus.services.alerts.engine import alert_id, evaluate
from hl7bus.services.alerts.rules import RuleSet, load_rules, parse_rules
from hl7bus.services.alerts.state import PatientState, absorb

KEY = "NORTHWIND|NW100377"
DEFAULT_TEXT = resources.files("hl7bus.services.alerts").joinpath("default_rules.toml").read_text()
DEFAULT = load_rules()
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=-6))
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=CST)


def at(hours: float = 0, days: float = 0) -> str:
    """A clinical time ``hours``/``days`` after 2026-11-28 10:00 -06:00, as the bus writes it."""
    return (T0 + timedelta(hours=hours, days=days)).isoformat()


def obs(
    code: str,
    value: str | None,
    unit: str | None = None,
    *,
    flags: tuple[str, ...] = (),
    status: str = "F",
    observed_at: str | None = None,
    local_code: str | None = None,
) -> Observation:
    return Observation(
        code=code,
        code_system="LN",
        local_code=local_code,
        value_type="NM",
        value=value,
        units=unit,
        abnormal_flags=flags,
        status=status,
        observed_at=observed_at,
    )


def oru(*observations: Observation, when: str | None = None, key: str = KEY, **kw) -> ClinicalEvent:
    return event(
        EventType.OBSERVATIONS_REPORTED,
        key,
        when or at(),
        payload=Payload(observations=observations),
        **kw,
    )


def run(
    events: Iterable[ClinicalEvent],
    rules: RuleSet = DEFAULT,
    state: PatientState | None = None,
    now: datetime = NOW,
) -> tuple[PatientState, list[ClinicalAlert], list[str]]:
    events = list(events)
    state = state or PatientState.empty(events[0].patient.key)
    alerts: list[ClinicalAlert] = []
    notes: list[str] = []
    for e in events:
        result = evaluate(rules, state, e, now=now)
        state = result.state
        alerts.extend(result.alerts)
        notes.extend(result.notes)
    return state, alerts, notes


def only(rule: str, alerts: list[ClinicalAlert]) -> list[ClinicalAlert]:
    return [a for a in alerts if a.rule == rule]


# critical-value


def test_a_critical_potassium_is_an_alert_that_says_why() -> None:
    result = oru(obs("2823-3", "6.8", "mmol/L", flags=("HH",), observed_at=at()))
    _, alerts, notes = run([result])
    (alert,) = alerts
    assert alert.rule == "critical-value"
    assert alert.severity is AlertSeverity.CRITICAL
    assert alert.status is AlertStatus.RAISED
    assert alert.patient_key == KEY
    assert alert.title == "Critical potassium: 6.8 mmol/L"
    assert alert.detail == (
        "potassium (2823-3) 6.8 mmol/L, observed 2026-11-28T10:00:00-06:00: beyond the critical "
        "limit > 6.1 mmol/L and flagged HH."
    )
    assert alert.occurred_at == "2026-11-28T10:00:00-06:00"
    assert alert.raised_at == "2026-12-01T08:00:00.000+00:00"
    assert alert.event_ids == (result.event_id,)
    assert alert.alert_id == alert_id("critical-value", "2823-3", [result.event_id])
    assert alert.attributes == {
        "code": "2823-3",
        "name": "potassium",
        "value": "6.8",
        "unit": "mmol/L",
        "observed_at": "2026-11-28T10:00:00-06:00",
        "flags": "HH",
        "limit": "> 6.1 mmol/L",
        "event_ids": result.event_id,
    }
    assert notes == []


@pytest.mark.parametrize(
    ("code", "value", "unit", "critical"),
    [
        ("2823-3", "6.2", "mmol/L", True),
        ("2823-3", "6.1", "mmol/L", False),  # above 6.1, not at it
        ("2823-3", "3.0", "mmol/L", False),
        ("2823-3", "2.9", "mmol/L", True),
        ("2823-3", "4.2", "mmol/L", False),
        ("6298-4", "6.5", "mEq/L", True),  # the same for potassium
        ("2951-2", "119", "mmol/L", True),
        ("2951-2", "120", "mmol/L", False),
        ("2951-2", "161", "mEq/L", True),
        ("2345-7", "39", "mg/dL", True),
        ("2345-7", "451", "mg/dl", True),
        ("2345-7", "450", "mg/dL", False),
        ("2345-7", "25", "mmol/L", True),  # 450.4 mg/dL
        ("2345-7", "24.9", "mmol/L", False),  # 448.6 mg/dL
        ("2345-7", "2.2", "mmol/L", True),  # 39.6 mg/dL
        ("10839-9", "0.30", "ng/mL", True),  # at least 0.30
        ("10839-9", "0.29", "ng/mL", False),
        ("10839-9", "350", "ng/L", True),  # 0.35 ng/mL
        ("2524-7", "4.1", "mmol/L", True),
        ("2524-7", "4.0", "mmol/L", False),
        ("32693-4", "40", "mg/dL", True),  # 4.4 mmol/L
        ("718-7", "6.9", "g/dL", True),
        ("718-7", "70", "g/L", False),  # 7.0 g/dL
        ("777-3", "19", "10*3/uL", True),
        ("777-3", "1001", "K/uL", True),
        ("777-3", "250", "10^9/L", False),
        ("6301-6", "5.0", None, True),  # INR: no unit needed
        ("6301-6", "4.9", "INR", False),
        ("6301-6", "5.2", "{ratio}", True),
    ],
)
def test_critical_limits(code: str, value: str, unit: str | None, critical: bool) -> None:
    _, alerts, notes = run([oru(obs(code, value, unit))])
    assert [a.attributes["code"] for a in alerts] == ([code] if critical else [])
    assert notes == []


def test_a_converted_value_shows_both_units() -> None:
    _, alerts, _ = run([oru(obs("2345-7", "25", "mmol/L"))])
    (alert,) = alerts
    assert alert.attributes["converted"] == "450.4 mg/dL"
    assert "25 mmol/L (450.4 mg/dL)" in (alert.detail or "")
    assert "> 450 mg/dL" in (alert.detail or "")


def test_an_unknown_unit_is_not_compared_and_noted_without_the_value() -> None:
    _, alerts, notes = run([oru(obs("2345-7", "987", "mg"))])
    assert alerts == []
    assert notes == ['critical-value: unit "mg" of 2345-7 not comparable']


def test_a_value_without_a_unit_is_not_compared_where_the_unit_is_needed() -> None:
    _, alerts, notes = run([oru(obs("2823-3", "7.4", None))])
    assert alerts == []
    assert notes == ["critical-value: no unit for 2823-3; not compared"]


def test_a_flagged_result_is_critical_whatever_its_unit() -> None:
    _, alerts, notes = run([oru(obs("2823-3", "7.4", "mg", flags=("HH",)))])
    assert [a.attributes["flags"] for a in alerts] == ["HH"]
    assert notes == ['critical-value: unit "mg" of 2823-3 not comparable']


@pytest.mark.parametrize(
    ("code", "value", "unit", "critical", "note"),
    [
        ("2823-3", ">10", "mmol/L", True, None),  # every value above 10 is above 6.1
        ("2823-3", "> 10", "mmol/L", True, None),
        ("2823-3", "<2", "mmol/L", True, None),  # every value below 2 is below 3.0
        ("2823-3", "<=3.0", "mmol/L", False, "comparator"),  # 3.0 is not below 3.0; 2.9 is
        ("2823-3", "<3.0", "mmol/L", True, None),
        ("2823-3", ">2", "mmol/L", False, "comparator"),  # 2.5 or 7: undecided
        ("2823-3", ">=6.1", "mmol/L", False, "comparator"),
        ("2823-3", ">6.1", "mmol/L", True, None),
        ("10839-9", "<0.01", "ng/mL", False, None),  # never at least 0.30
        ("10839-9", ">0.30", "ng/mL", True, None),
        ("10839-9", ">=0.30", "ng/mL", True, None),
        ("10839-9", "≥0.3", "ng/mL", True, None),
        ("10839-9", ">0.2", "ng/mL", False, "comparator"),
        ("2345-7", ">33.3", "mmol/L", True, None),  # a meter's "HI": beyond 600 mg/dL
        ("2823-3", " +6.8 ", "mmol/L", True, None),
        ("2823-3", "=6.8", "mmol/L", True, None),
        ("2823-3", "6,8", "mmol/L", False, "number"),  # a decimal comma is not guessed at
        ("2823-3", "3-5", "mmol/L", False, "number"),
        ("2823-3", "hemolyzed", "mmol/L", False, "number"),
        ("2823-3", "1e1", "mmol/L", False, "number"),
        ("2823-3", "NaN", "mmol/L", False, "number"),
    ],
)
def test_values_are_read_leniently_but_never_guessed(
    code: str, value: str, unit: str, critical: bool, note: str | None
) -> None:
    _, alerts, notes = run([oru(obs(code, value, unit))])
    assert bool(alerts) is critical
    expected = {
        None: [],
        "comparator": [
            f"critical-value: the comparator of a {code} value leaves its limit undecided; "
            "not compared"
        ],
        "number": [f"critical-value: a {code} value is not a number; not compared"],
    }[note]
    assert notes == expected


@pytest.mark.parametrize(
    ("flags", "critical"),
    [
        (("HH",), True),
        (("LL",), True),
        (("AA",), True),
        ((">",), True),
        (("<",), True),
        (("H",), False),
        (("A",), False),
        (("N",), False),
        ((), False),
    ],
)
def test_abnormal_flags(flags: tuple[str, ...], critical: bool) -> None:
    creatinine = obs("2160-0", "9.1", "mg/dL", flags=flags)  # a code without limits
    _, alerts, _ = run([oru(creatinine)])
    assert bool(alerts) is critical
    if critical:
        assert alerts[0].attributes["code"] == "2160-0"
        assert "flagged" in (alerts[0].detail or "")


def test_a_deleted_or_wrong_result_raises_nothing() -> None:
    events = [oru(obs("2823-3", "7.1", "mmol/L", flags=("HH",), status=s)) for s in "DWX"]
    assert run(events)[1] == []


def test_each_critical_result_of_a_message_is_its_own_alert() -> None:
    result = oru(
        obs("2823-3", "6.8", "mmol/L"),
        obs("2951-2", "118", "mmol/L"),
        obs("2160-0", "1.0", "mg/dL"),
    )
    _, alerts, _ = run([result])
    assert [a.attributes["code"] for a in alerts] == ["2823-3", "2951-2"]
    assert len({a.alert_id for a in alerts}) == 2


def test_the_sample_lab_feed_raises_its_critical_results() -> None:
    events = [e for e in events_of(FEED / "labstar-results.hl7") if e.patient.key == KEY]
    _, alerts, _ = run(events)
    assert sorted(a.attributes["code"] for a in only("critical-value", alerts)) == [
        "10839-9",  # troponin I 2.4 ng/mL, HH
        "2823-3",  # potassium 6.8 mmol/L, HH
    ]


# news2


def vitals(
    *,
    rr: str | None = "18",
    spo2: str | None = "96",
    oxygen: str | None = "0",
    sbp: str | None = "120",
    pulse: str | None = "80",
    avpu: str | None = "A",
    temp: str | None = "37.0",
    temp_unit: str = "Cel",
    when: str | None = None,
    key: str = KEY,
    extra: tuple[Observation, ...] = (),
) -> ClinicalEvent:
    """One set of vital signs, as a monitor or a nurse's chart sends it; None leaves a
    parameter out."""
    parts = [
        ("9279-1", rr, "/min"),
        ("59408-5", spo2, "%"),
        ("3151-8", oxygen, "L/min"),
        ("8480-6", sbp, "mm[Hg]"),
        ("8867-4", pulse, "/min"),
        ("80288-4", avpu, None),
        ("8310-5", temp, temp_unit),
    ]
    observations = tuple(obs(code, v, unit) for code, v, unit in parts if v is not None)
    return oru(*observations, *extra, when=when or at(), key=key)


def news2_run(events: Iterable[ClinicalEvent], **kw) -> tuple[PatientState, list, list]:
    """``run``, and only the news2 rule's alerts and notes."""
    state, alerts, notes = run(events, **kw)
    return state, only("news2", alerts), [n for n in notes if n.startswith("news2:")]


def test_a_normal_set_of_vital_signs_raises_nothing() -> None:
    assert news2_run([vitals()])[1] == []


def test_news2_of_5_is_a_warning_with_each_parameters_points() -> None:
    # respiration 22 (2), SpO2 94 (1), air (0), systolic 105 (1), pulse 95 (1), A (0), 37.0 (0)
    chart = vitals(rr="22", spo2="94", sbp="105", pulse="95")
    _, alerts, notes = news2_run([chart])
    (alert,) = alerts
    assert alert.rule == "news2"
    assert alert.severity is AlertSeverity.WARNING
    assert alert.title == "NEWS2 5: medium clinical risk"
    assert alert.event_ids == (chart.event_id,)
    attributes = alert.attributes
    assert {
        k: attributes[k]
        for k in (
            "score",
            "respiration_rate",
            "spo2",
            "air_or_oxygen",
            "systolic_bp",
            "pulse",
            "consciousness",
            "temperature",
            "missing",
            "scale",
        )
    } == {
        "score": "5",
        "respiration_rate": "2",
        "spo2": "1",
        "air_or_oxygen": "0",
        "systolic_bp": "1",
        "pulse": "1",
        "consciousness": "0",
        "temperature": "0",
        "missing": "",
        "scale": "1",
    }
    assert attributes["respiration_rate_value"] == "22 /min"
    assert attributes["observed_at"] == at()
    assert attributes["event_ids"] == chart.event_id
    assert alert.detail == (
        "NEWS2 5 (SpO2 scale 1) from vital signs observed 2026-11-28T10:00:00-06:00: "
        "respiration rate 22 /min scores 2; SpO2 94 % scores 1; air, flow 0 L/min scores 0; "
        "systolic BP 105 mm[Hg] scores 1; pulse 95 /min scores 1; consciousness A scores 0; "
        "temperature 37.0 Cel scores 0."
    )
    assert notes == []


def test_news2_of_7_is_critical() -> None:
    # respiration 22 (2), SpO2 93 (2), oxygen 2 L/min (2), pulse 95 (1)
    _, alerts, _ = news2_run([vitals(rr="22", spo2="93", oxygen="2", pulse="95")])
    (alert,) = alerts
    assert alert.severity is AlertSeverity.CRITICAL
    assert alert.attributes["score"] == "7"
    assert alert.attributes["air_or_oxygen"] == "2"
    assert alert.title == "NEWS2 7: high clinical risk"


def test_news2_reads_the_vital_signs_an_admission_carries() -> None:
    # tests/messages: an ADT^A01 from the emergency department with OBX vital signs:
    # respiration 24 (2), SpO2 91 (3), air (0), systolic 98 (2), pulse 112 (2), A (0), 38.4 (1)
    admit = message_events("adt-a01-a03-vital-signs-and-procedures")[0]
    assert admit.event_type is EventType.PATIENT_ADMITTED
    _, alerts, notes = news2_run([admit])
    (alert,) = alerts
    assert alert.severity is AlertSeverity.CRITICAL
    assert alert.event_ids == (admit.event_id,)
    assert {k: alert.attributes[k] for k in ("score", "spo2", "temperature", "missing")} == {
        "score": "10",
        "spo2": "3",
        "temperature": "1",
        "missing": "",
    }
    assert alert.attributes["observed_at"] == "2025-03-02T08:55:00-06:00"
    assert notes == []


def test_news2_with_3_in_one_parameter_is_a_warning() -> None:
    _, alerts, _ = news2_run([vitals(avpu="V")])  # new voice response only: 3
    (alert,) = alerts
    assert (alert.severity, alert.attributes["score"]) == (AlertSeverity.WARNING, "3")
    assert alert.title == "NEWS2 3: low-medium clinical risk"


def test_news2_of_4_without_a_3_raises_nothing() -> None:
    assert news2_run([vitals(rr="22", spo2="94", pulse="95")])[1] == []


def test_a_set_missing_one_parameter_is_scored_and_says_so() -> None:
    _, alerts, _ = news2_run([vitals(rr="26", sbp="88", temp=None)])
    (alert,) = alerts
    assert alert.attributes["missing"] == "temperature"
    assert "temperature" not in alert.attributes  # no points for what was not measured
    assert alert.detail is not None and alert.detail.endswith("; not measured: temperature.")


def test_a_set_missing_two_parameters_raises_nothing() -> None:
    assert news2_run([vitals(rr="26", sbp="88", temp=None, avpu=None)])[1] == []


def test_news2_reads_fahrenheit_fio2_and_coded_consciousness() -> None:
    fio2 = obs("3150-0", "40", "%")
    chart = vitals(
        temp="101.3", temp_unit="°F", oxygen=None, avpu="LA9340-6^Alert^LN", extra=(fio2,), rr="21"
    )
    _, alerts, notes = news2_run([chart])
    (alert,) = alerts
    # 38.5 °C (1), oxygen by FiO2 40 % (2), respiration 21 (2)
    assert alert.attributes["temperature"] == "1"
    assert alert.attributes["air_or_oxygen"] == "2"
    assert alert.attributes["consciousness"] == "0"
    assert alert.attributes["score"] == "5"
    assert alert.attributes["temperature_value"] == "101.3 °F (38.5 Cel)"
    assert alert.attributes["air_or_oxygen_value"] == "oxygen, FiO2 40 %"
    assert alert.attributes["consciousness_value"] == "A (LA9340-6^Alert^LN)"
    assert notes == []


def test_oxygen_by_flow_or_by_fio2_either_says_so() -> None:
    room_air_fio2 = obs("3150-0", "0.21", "{ratio}")
    _, alerts, _ = news2_run([vitals(rr="22", spo2="94", oxygen="2", extra=(room_air_fio2,))])
    (alert,) = alerts
    assert alert.attributes["air_or_oxygen"] == "2"
    assert alert.attributes["air_or_oxygen_value"] == "oxygen, flow 2 L/min"


def test_a_temperature_without_a_unit_is_not_scored() -> None:
    _, alerts, notes = news2_run([vitals(temp="39.5", temp_unit="", rr="25")])
    (alert,) = alerts
    assert alert.attributes["missing"] == "temperature"
    assert notes == ["news2: no unit for 8310-5; not compared"]


SPO2_90_ON_AIR = {"spo2": "90"}  # scale 1: 3 points; scale 2 (88–92): 0


def test_scale_2_for_a_patient_the_rule_file_lists() -> None:
    assert len(news2_run([vitals(**SPO2_90_ON_AIR)])[1]) == 1  # scale 1
    text = DEFAULT_TEXT.replace("scale2_patients = []", f'scale2_patients = ["{KEY}"]')
    assert news2_run([vitals(**SPO2_90_ON_AIR)], rules=parse_rules(text))[1] == []


def test_scale_2_for_a_patient_an_observation_marks_hypercapnic() -> None:
    mark = oru(obs("X", "Y", local_code="NEWS2-SCALE2"), when=at(-1))
    state, alerts, _ = news2_run([mark, vitals(**SPO2_90_ON_AIR)])
    assert alerts == []
    unmark = oru(obs("HYPERCAPNIC", "N^No^HL70136"), when=at(1))
    _, alerts, _ = news2_run([unmark, vitals(**SPO2_90_ON_AIR, when=at(2))], state=state)
    assert [a.attributes["scale"] for a in alerts] == ["1"]


# qsofa and sirs: across messages, within the window


def test_qsofa_from_two_messages_within_the_window() -> None:
    breathing = oru(obs("9279-1", "24", "/min"), when=at())
    pressure = oru(obs("8480-6", "95", "mm[Hg]"), when=at(2))
    _, alerts, _ = run([breathing, pressure])
    (alert,) = only("qsofa", alerts)
    assert alert.severity is AlertSeverity.WARNING
    assert alert.title == "qSOFA 2 of 3 within 6h"
    assert alert.event_ids == tuple(sorted([breathing.event_id, pressure.event_id]))
    assert alert.occurred_at == at(2)
    assert alert.attributes == {
        "score": "2",
        "criteria": "respiration_rate,systolic_bp",
        "window": "6h",
        "respiration_rate_value": "24 /min",
        "respiration_rate_at": at(),
        "systolic_bp_value": "95 mm[Hg]",
        "systolic_bp_at": at(2),
        "event_ids": ",".join(sorted([breathing.event_id, pressure.event_id])),
    }
    assert alert.detail == (
        f"qSOFA 2 of 3 within 6h: respiration rate 24 /min at {at()}; systolic BP 95 mm[Hg] "
        f"at {at(2)}."
    )


def test_qsofa_from_two_messages_further_apart_than_the_window_raises_nothing() -> None:
    breathing = oru(obs("9279-1", "24", "/min"), when=at())
    pressure = oru(obs("8480-6", "95", "mm[Hg]"), when=at(6.5))
    assert only("qsofa", run([breathing, pressure])[1]) == []


def test_each_rule_counts_its_own_window() -> None:
    # qsofa's window shorter than sirs's (which sets how long readings are kept)
    qsofa = 'window = "6h"\nmessage = "qSOFA'
    text = DEFAULT_TEXT.replace(qsofa, qsofa.replace("6h", "2h"))
    rules = parse_rules(text)
    assert rules.horizon == timedelta(hours=6)
    breathing = oru(obs("9279-1", "24", "/min"), when=at())
    pressure = oru(obs("8480-6", "95", "mm[Hg]"), when=at(3))
    assert only("qsofa", run([breathing, pressure], rules=rules)[1]) == []
    pressure = oru(obs("8480-6", "95", "mm[Hg]"), when=at(2))
    assert len(only("qsofa", run([breathing, pressure], rules=rules)[1])) == 1


def test_qsofa_reads_the_latest_reading_of_each_code() -> None:
    fast = oru(obs("9279-1", "24", "/min"), when=at())
    settled = oru(obs("9279-1", "16", "/min"), when=at(1))
    pressure = oru(obs("8480-6", "95", "mm[Hg]"), when=at(2))
    assert only("qsofa", run([fast, settled, pressure])[1]) == []


def test_qsofa_altered_mentation() -> None:
    confused = oru(obs("80288-4", "New confusion"), obs("8480-6", "100", "mmHg"))
    (alert,) = only("qsofa", run([confused])[1])
    assert alert.attributes["criteria"] == "altered_mentation,systolic_bp"


def test_sirs_from_two_messages_within_the_window() -> None:
    fever = oru(obs("8310-5", "38.5", "Cel"), when=at())
    count = oru(obs("6690-2", "13.1", "10*3/uL"), when=at(4))
    _, alerts, _ = run([fever, count])
    (alert,) = only("sirs", alerts)
    assert alert.title == "SIRS 2 of 4 within 6h"
    assert alert.attributes["criteria"] == "temperature,wbc"
    assert alert.attributes["wbc_value"] == "13.1 10*3/uL"
    assert alert.event_ids == tuple(sorted([fever.event_id, count.event_id]))


def test_sirs_from_two_messages_outside_the_window_raises_nothing() -> None:
    fever = oru(obs("8310-5", "38.5", "Cel"), when=at())
    count = oru(obs("6690-2", "13100", "/uL"), when=at(7))
    assert only("sirs", run([fever, count])[1]) == []


def test_one_sirs_criterion_raises_nothing() -> None:
    assert only("sirs", run([oru(obs("8867-4", "120", "/min"))])[1]) == []


def test_a_reading_of_a_late_message_counts_at_its_own_time() -> None:
    fever = oru(obs("8310-5", "35.5", "Cel"), when=at(10))
    old_pulse = oru(obs("8867-4", "120", "/min"), when=at())  # sent late: 10 h before
    assert only("sirs", run([fever, old_pulse])[1]) == []


# readmission-30d


def adt(
    kind: EventType,
    when: str,
    *,
    visit: str = "V1",
    key: str = KEY,
    trigger: str | None = None,
    patient_class: str = "inpatient",
    location: Location | None = None,
    prior: Location | None = None,
) -> ClinicalEvent:
    encounter = Encounter(
        visit_number=visit, patient_class=patient_class, location=location, prior_location=prior
    )
    return event(kind, key, when, encounter=encounter, trigger=trigger)


def test_an_admission_29_days_after_a_discharge_is_a_readmission() -> None:
    discharge = adt(EventType.PATIENT_DISCHARGED, at(), visit="V1")
    admission = adt(EventType.PATIENT_ADMITTED, at(days=29), visit="V2")
    _, alerts, _ = run([discharge, admission])
    (alert,) = only("readmission-30d", alerts)
    assert alert.severity is AlertSeverity.INFO
    assert alert.title == "Readmitted 29 days after discharge"
    assert alert.event_ids == tuple(sorted([discharge.event_id, admission.event_id]))
    assert alert.occurred_at == at(days=29)
    assert alert.attributes["days"] == "29.0"
    assert alert.attributes["discharged_at"] == at()
    assert alert.detail == (
        f"Admitted {at(days=29)} (visit V2), 29.0 days after the discharge of {at()} (visit V1), "
        "within 30 days."
    )


@pytest.mark.parametrize(("days", "raised"), [(0.5, True), (30, True), (30.01, False), (31, False)])
def test_readmission_window_edges(days: float, raised: bool) -> None:
    discharge = adt(EventType.PATIENT_DISCHARGED, at(), visit="V1")
    admission = adt(EventType.PATIENT_ADMITTED, at(days=days), visit="V2")
    assert bool(only("readmission-30d", run([discharge, admission])[1])) is raised


def test_a_readmission_across_a_merge_counts_both_identities() -> None:
    prior_key = "NORTHWIND|NW999"
    discharged, _, _ = run([adt(EventType.PATIENT_DISCHARGED, at(), key=prior_key)])
    admission = adt(EventType.PATIENT_ADMITTED, at(days=12), visit="V2")
    assert only("readmission-30d", run([admission])[1]) == []  # the survivor alone
    merged = absorb(PatientState.empty(KEY), discharged)
    (alert,) = only("readmission-30d", run([admission], state=merged)[1])
    assert alert.patient_key == KEY


def test_an_outpatient_becoming_an_inpatient_is_an_admission_a_registration_is_not() -> None:
    discharge = adt(EventType.PATIENT_DISCHARGED, at(), visit="V1")
    a06 = adt(EventType.PATIENT_UPDATED, at(days=3), visit="V2", trigger="A06")
    a04 = adt(
        EventType.PATIENT_REGISTERED,
        at(days=3),
        visit="V3",
        trigger="A04",
        patient_class="emergency",
    )
    a05 = adt(EventType.PATIENT_PREADMITTED, at(days=3), visit="V4", trigger="A05")
    a08 = adt(EventType.PATIENT_UPDATED, at(days=3), visit="V1", trigger="A08")
    assert len(only("readmission-30d", run([discharge, a06])[1])) == 1
    assert only("readmission-30d", run([discharge, a04, a05, a08])[1]) == []


def test_an_outpatient_discharge_or_a_cancelled_one_is_no_discharge() -> None:
    admission = adt(EventType.PATIENT_ADMITTED, at(days=3), visit="V2")
    clinic = adt(EventType.PATIENT_DISCHARGED, at(), visit="V1", patient_class="outpatient")
    assert only("readmission-30d", run([clinic, admission])[1]) == []
    discharge = adt(EventType.PATIENT_DISCHARGED, at(), visit="V1")
    cancelled = adt(EventType.DISCHARGE_CANCELLED, at(1), visit="V1", trigger="A13")
    assert only("readmission-30d", run([discharge, cancelled, admission])[1]) == []


def test_an_admission_of_the_discharged_visit_is_no_readmission() -> None:
    discharge = adt(EventType.PATIENT_DISCHARGED, at(), visit="V1")
    again = adt(EventType.PATIENT_ADMITTED, at(days=1), visit="V1")
    assert only("readmission-30d", run([discharge, again])[1]) == []


# adt-notify

NOTIFY = parse_rules("""\
[[rule]]
id = "adt-notify"
severity = "INFO"
suppress = "0m"
message = "{list}: patient {event} ({location})"

[rule.lists.icu-outreach]
points_of_care = ["ICU"]

[rule.lists.dr-okafor]
patients = ["NORTHWIND|NW100234"]
severity = "WARNING"

[rule.lists.northwind]
facilities = ["NORTHWIND"]
""")
ICU = Location(facility="GENHOSP", point_of_care="ICU", room="2", bed="A")
WARD = Location(facility="GENHOSP", point_of_care="4WEST", room="412", bed="B")


def test_adt_notify_by_patient_key() -> None:
    admission = adt(EventType.PATIENT_ADMITTED, at(), key="NORTHWIND|NW100234", location=WARD)
    (alert,) = run([admission], rules=NOTIFY)[1]
    assert alert.rule == "adt-notify"
    assert alert.severity is AlertSeverity.WARNING  # the list's own
    assert alert.title == "dr-okafor: patient admitted (4WEST room 412 bed B, GENHOSP)"
    assert alert.attributes == {
        "list": "dr-okafor",
        "matched_by": "patient key",
        "event_type": "PATIENT_ADMITTED",
        "occurred_at": at(),
        "location": "4WEST room 412 bed B, GENHOSP",
        "event_ids": admission.event_id,
    }
    assert alert.detail == (
        f"Patient on list dr-okafor (by patient key) admitted at 4WEST room 412 bed B, GENHOSP, "
        f"{at()}."
    )


def test_adt_notify_by_location_and_by_the_location_a_transfer_leaves() -> None:
    into_icu = adt(EventType.PATIENT_TRANSFERRED, at(), location=ICU, prior=WARD)
    out_of_icu = adt(EventType.PATIENT_TRANSFERRED, at(5), location=WARD, prior=ICU)
    discharge = adt(EventType.PATIENT_DISCHARGED, at(9), location=WARD, prior=ICU)
    alerts = run([into_icu, out_of_icu, discharge], rules=NOTIFY)[1]  # not the discharge
    assert [(a.attributes["list"], a.attributes["matched_by"]) for a in alerts] == [
        ("icu-outreach", "point of care ICU"),
        ("icu-outreach", "prior point of care ICU"),
    ]
    assert all(a.severity is AlertSeverity.INFO for a in alerts)
    assert alerts[1].attributes["prior_location"] == "ICU room 2 bed A, GENHOSP"


def test_adt_notify_by_facility() -> None:
    north = Location(facility="NORTHWIND", point_of_care="ED")
    (alert,) = run([adt(EventType.PATIENT_DISCHARGED, at(), location=north)], rules=NOTIFY)[1]
    assert alert.attributes["matched_by"] == "facility NORTHWIND"
    assert alert.title == "northwind: patient discharged (ED, NORTHWIND)"


def test_adt_notify_of_other_patients_places_and_events_raises_nothing() -> None:
    events = [
        adt(EventType.PATIENT_ADMITTED, at(), location=WARD),
        adt(EventType.PATIENT_UPDATED, at(1), location=ICU, trigger="A08"),
        oru(obs("2160-0", "1.0", "mg/dL"), key="NORTHWIND|NW100234"),
    ]
    assert run(events[:2], rules=NOTIFY)[1] == []
    assert run(events[2:], rules=NOTIFY)[1] == []


def test_the_default_rules_notify_no_list() -> None:
    assert run([adt(EventType.PATIENT_ADMITTED, at(), location=ICU)])[1] == []


# suppression, repeats, replay


def test_a_second_critical_potassium_within_the_window_is_suppressed() -> None:
    first = oru(obs("2823-3", "6.8", "mmol/L"), when=at())
    second = oru(obs("2823-3", "7.0", "mmol/L"), when=at(0.5))
    third = oru(obs("2823-3", "6.9", "mmol/L"), when=at(1.5))
    state, alerts, _ = run([first, second, third])
    assert [a.event_ids for a in alerts] == [(first.event_id,), (third.event_id,)]
    entry = state.raised("critical-value", "2823-3")
    assert entry is not None and entry.at == at(1.5)


def test_suppression_is_per_subject() -> None:
    potassium = oru(obs("2823-3", "6.8", "mmol/L"), when=at())
    sodium = oru(obs("2951-2", "118", "mmol/L"), when=at(0.2))
    assert len(run([potassium, sodium])[1]) == 2


def test_a_critical_news2_after_a_warning_within_the_window_is_raised() -> None:
    warning = vitals(rr="22", spo2="94", sbp="105", pulse="95", when=at())
    critical = vitals(rr="22", spo2="93", oxygen="2", pulse="95", when=at(0.25))
    warning_again = vitals(rr="22", spo2="94", sbp="105", pulse="95", when=at(0.5))
    alerts = only("news2", run([warning, critical, warning_again])[1])
    assert [a.severity for a in alerts] == [AlertSeverity.WARNING, AlertSeverity.CRITICAL]


def test_a_repeated_event_gives_nothing() -> None:
    result = oru(obs("2823-3", "6.8", "mmol/L"), obs("9279-1", "24", "/min"))
    first = evaluate(DEFAULT, PatientState.empty(KEY), result, now=NOW)
    assert len(first.alerts) == 1
    again = evaluate(DEFAULT, first.state, result, now=NOW + timedelta(minutes=5))
    assert (again.alerts, again.notes, again.state) == ((), (), first.state)


def test_a_repeated_adt_event_gives_nothing() -> None:
    rules = NOTIFY
    transfer = adt(EventType.PATIENT_TRANSFERRED, at(), location=ICU, prior=WARD)
    first = evaluate(rules, PatientState.empty(KEY), transfer, now=NOW)
    assert len(first.alerts) == 1
    again = evaluate(rules, first.state, transfer, now=NOW)
    assert again.alerts == ()


def test_a_discharge_resent_after_its_cancellation_changes_nothing() -> None:
    discharge = adt(EventType.PATIENT_DISCHARGED, at(), visit="V1")
    cancelled = adt(EventType.DISCHARGE_CANCELLED, at(1), visit="V1", trigger="A13")
    admission = adt(EventType.PATIENT_ADMITTED, at(days=3), visit="V2")
    state, _, _ = run([discharge, cancelled, discharge])
    assert state.last_discharge is None
    assert only("readmission-30d", run([admission], state=state)[1]) == []


def test_a_message_resent_as_new_events_raises_the_same_alert_id_once() -> None:
    # A resent message gives the same event ids; an alert already raised is not raised again
    # even when its events have left the state's memory.
    result = oru(obs("2823-3", "6.8", "mmol/L"))
    state, alerts, _ = run([result])
    forgetful = replace(state, recent_event_ids=(), suppression=())
    assert run([result], state=forgetful)[1] == []
    assert alerts[0].alert_id in state.alert_ids


def test_an_event_that_no_rule_reads_leaves_the_state_as_it_was() -> None:
    state = PatientState.empty(KEY)
    order = event(EventType.ORDER_PLACED, KEY, at())
    assert evaluate(DEFAULT, state, order, now=NOW).state is state


def test_replaying_the_same_events_gives_the_same_alerts() -> None:
    events = [
        adt(EventType.PATIENT_DISCHARGED, at(days=-10), visit="V0"),
        adt(EventType.PATIENT_ADMITTED, at(-1), visit="V1"),
        oru(obs("2823-3", "6.8", "mmol/L"), obs("9279-1", "24", "/min"), when=at()),
        vitals(rr="22", spo2="93", oxygen="2", pulse="95", sbp="98", when=at(1)),
        oru(obs("2823-3", "7.1", "mmol/L"), when=at(2)),
        oru(obs("6690-2", "14", "10*3/uL"), when=at(3)),
    ]
    state, alerts, notes = run(events)
    state2, alerts2, notes2 = run(events, now=NOW + timedelta(days=3))
    assert [a.rule for a in alerts] == [
        "readmission-30d",
        "critical-value",
        "news2",
        "qsofa",
        "sirs",
        "critical-value",
    ]  # the second sirs (white cells at 13:00) is within the first one's suppression
    assert [replace(a, raised_at="") for a in alerts] == [replace(a, raised_at="") for a in alerts2]
    assert state == state2
    assert notes == notes2


def test_now_must_carry_its_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        evaluate(DEFAULT, PatientState.empty(KEY), oru(), now=datetime(2026, 12, 1))  # noqa: DTZ001


def test_notes_carry_no_patient_data() -> None:
    result = oru(
        obs("2345-7", "987.6", "mg"),
        obs("8310-5", "39.7", None),
        obs("9279-1", "fast", "/min"),
        obs("80288-4", "drowsy"),
        key="NORTHWIND|SECRET42",
    )
    _, _, notes = run([result])
    assert notes  # each value that could not be used is noted
    for note in notes:
        assert note.split(":")[0] in {"critical-value", "news2", "qsofa", "sirs"}
        for phi in ("987", "39.7", "fast", "drowsy", "SECRET42", result.event_id):
            assert phi not in note

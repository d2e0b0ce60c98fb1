"""news2, qsofa and sirs: scores over vital signs (and white cells).

NEWS2 reads the vital signs of one event (one message's set).  qSOFA and SIRS read the
latest reading of each code within their window, across messages, from the patient's state.
A value sent without a unit is read in the code's one conventional unit where it has one
(breaths and beats per minute, % for SpO2, mm[Hg]); a temperature or an FiO2 needs its unit.
A value with a comparator (``>30``) is not scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from hl7bus.events.model import ClinicalEvent

from . import scores
from .findings import (
    SKIPPED_STATUSES,
    Finding,
    latest_time,
    not_measured,
    observation_time,
    value_text,
)
from .numbers import in_unit, read_number
from .rules import News2Rule, WindowRule
from .state import PatientState, Reading
from .units import normalize_unit

RESPIRATION_RATE: Final = "9279-1"
SPO2: Final = ("59408-5", "2708-6")
OXYGEN_FLOW: Final = "3151-8"
FIO2: Final = "3150-0"
SYSTOLIC_BP: Final = "8480-6"
PULSE: Final = "8867-4"
CONSCIOUSNESS: Final = "80288-4"
TEMPERATURE: Final = "8310-5"
WBC: Final = "6690-2"

UNITS: Final = {
    RESPIRATION_RATE: "/min",
    SPO2[0]: "%",
    SPO2[1]: "%",
    FIO2: "%",
    SYSTOLIC_BP: "mm[Hg]",
    PULSE: "/min",
    TEMPERATURE: "Cel",
    WBC: "10*3/uL",
}
WINDOW_CODES: Final = {
    "qsofa": {
        "respiration_rate": RESPIRATION_RATE,
        "altered_mentation": CONSCIOUSNESS,
        "systolic_bp": SYSTOLIC_BP,
    },
    "sirs": {
        "temperature": TEMPERATURE,
        "heart_rate": PULSE,
        "respiration_rate": RESPIRATION_RATE,
        "wbc": WBC,
    },
}
LABELS: Final = {
    "respiration_rate": "respiration rate",
    "spo2": "SpO2",
    "air_or_oxygen": "air or oxygen",
    "systolic_bp": "systolic BP",
    "pulse": "pulse",
    "heart_rate": "heart rate",
    "consciousness": "consciousness",
    "altered_mentation": "consciousness",
    "temperature": "temperature",
    "wbc": "white cells",
}
NEWS2_NAMES: Final = {
    RESPIRATION_RATE: "respiration_rate",
    SPO2[0]: "spo2",
    SPO2[1]: "spo2",
    OXYGEN_FLOW: "air_or_oxygen",
    FIO2: "air_or_oxygen",
    SYSTOLIC_BP: "systolic_bp",
    PULSE: "pulse",
    CONSCIOUSNESS: "consciousness",
    TEMPERATURE: "temperature",
}
_YES: Final = frozenset({"Y", "YES", "T", "TRUE"})
_NO: Final = frozenset({"N", "NO", "F", "FALSE"})


def value_of(reading: Reading, rule: str, notes: list[str]) -> float | str | None:
    """A reading as its score reads it: the number in the code's unit, the ACVPU level for
    consciousness, a bool for oxygen flow; None (with a note) when it cannot be read."""
    if reading.code == CONSCIOUSNESS:
        level = level_of(reading.value)
        if level is None:
            notes.append(f"{rule}: a {CONSCIOUSNESS} value is not an ACVPU level; not scored")
        return level
    number = read_number(reading.value)
    if number is None or number.comparator:
        why = "value" if number is None else "comparator"
        notes.append(not_measured(rule, reading.code, reading.unit, why))
        return None
    if reading.code == OXYGEN_FLOW:
        return number.value
    converted = in_unit(number, reading.unit, UNITS[reading.code], reading.code)
    if converted is None:
        notes.append(not_measured(rule, reading.code, reading.unit, "unit"))
        return None
    return converted.value


def level_of(text: str | None) -> str | None:
    """ACVPU from the words, the letter, or a coded value's code or text (``code^text^LN``)."""
    if text is None:
        return None
    for candidate in (text, *text.split("^")):
        level = scores.consciousness_level(candidate)
        if level is not None:
            return level
    return None


def shown(reading: Reading, value: float | str | bool | None) -> str:
    """A reading as sent, with what the score read of it where that differs: ``101.3 °F
    (38.5 Cel)``, ``A (LA9340-6^Alert^LN)``, ``oxygen, flow 2 L/min``."""
    sent = value_text(reading.value, reading.unit)
    if reading.code in (OXYGEN_FLOW, FIO2):
        what = "flow" if reading.code == OXYGEN_FLOW else "FiO2"
        return f"{'oxygen' if value else 'air'}, {what} {sent}"
    if isinstance(value, str):
        return value if value == sent else f"{value} ({sent})"
    target = UNITS.get(reading.code)
    if (
        isinstance(value, float)
        and target
        and normalize_unit(reading.unit)
        not in (
            None,
            normalize_unit(target),
        )
    ):
        return f"{sent} ({value:.4g} {target})"
    return sent


def readings_of(event: ClinicalEvent, codes: Iterable[str]) -> list[Reading]:
    """The event's observations of ``codes`` that carry a value and a readable time."""
    wanted = frozenset(codes)
    found = []
    for obs in event.payload.observations:
        if obs.code not in wanted or obs.status in SKIPPED_STATUSES:
            continue
        at = observation_time(obs, event)
        if at is not None and obs.value is not None:
            found.append(Reading(obs.code, obs.value, obs.units, at, event.event_id))
    return found


def scale2_mark(rule: News2Rule, event: ClinicalEvent) -> Reading | None:
    """The event's last observation that says whether SpO2 scale 2 applies."""
    mark = None
    for obs in event.payload.observations:
        code = next((c for c in (obs.code, obs.local_code) if c in rule.scale2_codes), None)
        at = observation_time(obs, event)
        if code and at and _yes_no(obs.value) is not None:
            mark = Reading(code, obs.value, obs.units, at, event.event_id)
    return mark


def _yes_no(text: str | None) -> bool | None:
    word = (text or "").split("^")[0].strip().upper()
    return True if word in _YES else False if word in _NO else None


def check_news2(
    rule: News2Rule, state: PatientState, event: ClinicalEvent, notes: list[str]
) -> list[Finding]:
    readings = readings_of(event, NEWS2_NAMES)
    if not readings:
        return []
    values: dict[str, float | str | None] = {}
    sent: dict[str, Reading] = {}
    for reading in sorted(readings, key=lambda r: r.at or 0):  # the latest of a code wins
        value = value_of(reading, rule.id, notes)
        name = NEWS2_NAMES[reading.code]
        if reading.code == FIO2 and value is not None:
            value = float(value) > 21.0
        elif reading.code == OXYGEN_FLOW and value is not None:
            value = float(value) > 0.0
        if name == "air_or_oxygen" and values.get(name) is True:
            continue  # oxygen by flow or by FiO2: either says so
        values[name] = value
        sent[name] = reading
    keys = {state.patient_key, *state.merged_keys}
    mark = state.scale2_mark
    scale2 = bool(keys & rule.scale2_patients) or (mark is not None and _yes_no(mark.value))
    score = scores.news2(
        respiration_rate=values.get("respiration_rate"),
        spo2=values.get("spo2"),
        on_oxygen=values.get("air_or_oxygen"),
        systolic_bp=values.get("systolic_bp"),
        pulse=values.get("pulse"),
        consciousness=values.get("consciousness"),
        temperature_c=values.get("temperature"),
        scale2=scale2,
    )
    if len(score.missing) > 1:
        return []
    if score.total >= 7:
        severity, risk = rule.emergency_severity, "high"
    elif score.total >= 5:
        severity, risk = rule.severity, "medium"
    elif score.any_three:
        severity, risk = rule.severity, "low-medium"
    else:
        return []
    at = latest_time(r.observed_at for r in sent.values())
    parts, attributes = [], {"score": str(score.total), "scale": str(score.scale)}
    for name, points in score.points.items():
        text = shown(sent[name], values[name])
        parts.append(
            f"{'' if name == 'air_or_oxygen' else LABELS[name] + ' '}{text} scores {points}"
        )
        attributes[name] = str(points)
        attributes[f"{name}_value"] = text
    attributes["missing"] = ",".join(score.missing)
    attributes["observed_at"] = at
    missing = (
        f"; not measured: {', '.join(LABELS[m] for m in score.missing)}" if score.missing else ""
    )
    detail = (
        f"NEWS2 {score.total} (SpO2 scale {score.scale}) from vital signs observed {at}: "
        f"{'; '.join(parts)}{missing}."
    )
    fields = {"score": str(score.total), "scale": str(score.scale), "risk": risk}
    return [Finding(rule, "", severity, at, (event.event_id,), fields, detail, attributes)]


def check_window(
    rule: WindowRule, state: PatientState, event: ClinicalEvent, notes: list[str]
) -> list[Finding]:
    """qsofa or sirs, evaluated at the latest time of the event's readings of its codes."""
    codes = WINDOW_CODES[rule.id]
    own = [r for r in state.readings if r.event_id == event.event_id and r.code in codes.values()]
    if not own:
        return []
    until = max(r.at or 0 for r in own)
    since = until - int(rule.window.total_seconds() * 1_000_000)
    latest: dict[str, Reading] = {}
    for reading in state.readings:  # oldest first: the latest of each code wins
        if reading.code in codes.values() and since <= (reading.at or 0) <= until:
            latest[reading.code] = reading
    values = {name: _window_value(latest.get(code), rule.id, notes) for name, code in codes.items()}
    if rule.id == "qsofa":
        met = scores.qsofa_criteria(
            respiration_rate=values["respiration_rate"],
            consciousness=values["altered_mentation"],
            systolic_bp=values["systolic_bp"],
        )
    else:
        met = scores.sirs_criteria(
            temperature_c=values["temperature"],
            heart_rate=values["heart_rate"],
            respiration_rate=values["respiration_rate"],
            wbc=values["wbc"],
        )
    if len(met) < 2:
        return []
    used = {name: (latest[codes[name]], values[name]) for name in met}
    return [_window_finding(rule, met, used, len(codes))]


def _window_value(reading: Reading | None, rule: str, notes: list[str]) -> float | str | None:
    return None if reading is None else value_of(reading, rule, notes)


def _window_finding(
    rule: WindowRule,
    met: tuple[str, ...],
    used: Mapping[str, tuple[Reading, float | str | None]],
    of: int,
) -> Finding:
    from .rule_file import format_duration

    window = format_duration(rule.window)
    label = "qSOFA" if rule.id == "qsofa" else "SIRS"
    at = latest_time(r.observed_at for r, _ in used.values())
    attributes = {"score": str(len(met)), "criteria": ",".join(met), "window": window}
    parts = []
    for name in met:
        reading, value = used[name]
        text = shown(reading, value)
        parts.append(f"{LABELS[name]} {text} at {reading.observed_at}")
        attributes[f"{name}_value"] = text
        attributes[f"{name}_at"] = reading.observed_at
    detail = f"{label} {len(met)} of {of} within {window}: {'; '.join(parts)}."
    fields = {
        "count": str(len(met)),
        "criteria": ", ".join(LABELS[name] for name in met),
        "window": window,
    }
    event_ids = tuple(sorted({r.event_id for r, _ in used.values()}))
    return Finding(rule, "", rule.severity, at, event_ids, fields, detail, attributes)

"""What happens to each patient: a story per scenario, told through the chart.

Every story starts with a registration (A04), in the emergency department or at a clinic;
results follow their orders, doses their prescriptions, and nothing happens on a ward after
the discharge (until a readmission).  Clinical times are the hospital's; each message goes
out a few seconds after what it tells.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from . import clinical
from .chart import Booking, Chart, Step
from .clinical import Condition
from .hospital import CLINICS, ED, ICU, WARDS, ZONE
from .people import Person, duplicate_of, make_person
from .segments import location


class Scenario(StrEnum):
    """The kinds of story the hospital tells, each with the alerts it should raise."""

    OUTPATIENT = "outpatient"
    """Registered at a clinic, booked (sometimes rescheduled), seen: laboratory tests, often a
    vaccine, a progress note.  No alert."""
    STABLE_STAY = "stable-stay"
    """The emergency department, admitted, sometimes moved to another ward, medications,
    daily laboratory tests, vital signs every six hours, discharged with a summary and a
    follow-up appointment.  No alert."""
    DETERIORATING = "deteriorating"
    """A stay whose vital signs worsen on the first night, to a NEWS2 of 7 or more: sepsis,
    antibiotics, a night in the ICU, back to a ward, home.  news2 (warning, then critical),
    with qsofa and sirs."""
    CRITICAL_RESULT = "critical-result"
    """A potassium of 6.6 to 7.2 mmol/L in the emergency department, treated, normal again the
    next day.  One critical-value alert."""
    READMISSION = "readmission"
    """A stable stay, then, within 30 days, another one (its follow-up appointment cancelled
    when it has not happened yet).  One readmission-30d alert."""
    DUPLICATE_RECORD = "duplicate-record"
    """Registered at a clinic; days later registered again in the emergency department
    under a new record number, which is merged (A40) into the patient's own before the
    admission.  No alert."""


DECK: Final = (
    Scenario.OUTPATIENT,
    Scenario.OUTPATIENT,
    Scenario.STABLE_STAY,
    Scenario.STABLE_STAY,
    Scenario.DETERIORATING,
    Scenario.CRITICAL_RESULT,
    Scenario.READMISSION,
    Scenario.DUPLICATE_RECORD,
)
"""One round of stories: every scenario at least once, shuffled anew each round."""


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def at_clock(day: datetime, hour: int, minute: int = 0) -> datetime:
    """``day``'s date in the hospital, at ``hour:minute`` local time (as a time in UTC, as
    every time of a story is: adding hours to it adds hours, across changes of the clocks)."""
    local = day.astimezone(ZONE)
    return datetime(local.year, local.month, local.day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def office_slot(rng: random.Random, day: datetime) -> datetime:
    """A clinic slot on ``day``: 08:30 to 16:00, every half hour."""
    return at_clock(day, 8, 30) + minutes(30 * rng.randrange(16))


def office_hours(rng: random.Random, at: datetime) -> datetime:
    """``at``, or the next working hour of a clinic's front desk."""
    local = at.astimezone(ZONE)
    if 8 <= local.hour < 17:
        return at
    day = at if local.hour < 8 else at + timedelta(days=1)
    return at_clock(day, 8) + minutes(rng.randrange(0, 240))


def story(
    scenario: Scenario, rng: random.Random, number: int, tag: str, start: datetime
) -> tuple[str, list[Step]]:
    """Patient ``number``'s story, starting at ``start``: the patient's key on the bus, and
    the story's messages in the order sent."""
    ages = range(18, 86) if scenario is Scenario.OUTPATIENT else range(35, 93)
    chart = Chart(rng, make_person(rng, number, tag, start, ages), tag)
    if scenario is Scenario.OUTPATIENT:
        outpatient(chart, start)
    elif scenario is Scenario.DUPLICATE_RECORD:
        duplicate_record(chart, start)
    elif scenario is Scenario.READMISSION:
        first = stay(chart, start, Scenario.STABLE_STAY)
        back = first.discharged_at + timedelta(days=rng.randint(5, 24), hours=rng.randint(0, 23))
        second = stay(chart, back, Scenario.STABLE_STAY)
        if first.follow_up.start > second.admitted_at:
            chart.cancel(second.admitted_at + hours(1), first.follow_up, chart.person)
    else:
        stay(chart, start, scenario)
    return chart.person.key, sorted(chart.steps, key=lambda step: step.at)


def outpatient(chart: Chart, start: datetime) -> None:
    rng, person = chart.rng, chart.person
    start = office_hours(rng, start)
    clinic = rng.choice(CLINICS)
    visit = chart.visit(person, "O", location(clinic), start, "MED")
    chart.register(start, visit, "scheduled")
    booking = chart.book(
        start + minutes(10),
        office_slot(rng, start + timedelta(days=rng.randint(2, 10))),
        clinic,
        person,
    )
    if rng.random() < 0.35:
        later = office_slot(rng, booking.start + timedelta(days=rng.randint(1, 3)))
        booking = chart.reschedule(start + timedelta(days=1), booking, later, person)
    seen = booking.start
    if rng.random() < 0.25:
        chart.update_allergy(seen - minutes(10), visit)
    panels = rng.choice((["LIPID", "A1C"], ["CBC"], ["BMP"]))
    labs = chart.order(seen + minutes(20), visit, panels)
    if rng.random() < 0.6:
        chart.vaccinate(seen + minutes(25), visit, clinical.VACCINES[rng.choice(("flu", "tdap"))])
    chart.document(
        seen + hours(1),
        visit,
        ("PN", "11506-3", "Progress note"),
        [
            f"Seen in {clinic} for a routine visit.",
            f"Tests ordered: {', '.join(panels)}.",
            "No new complaints; plan unchanged.",
        ],
    )
    chart.results(seen + hours(3), visit, labs)


def duplicate_record(chart: Chart, start: datetime) -> None:
    rng, person = chart.rng, chart.person
    start = office_hours(rng, start)
    clinic = rng.choice(CLINICS)
    chart.register(start, chart.visit(person, "O", location(clinic), start, "MED"), "referral")
    booking = chart.book(
        start + minutes(10),
        office_slot(rng, start + timedelta(days=rng.randint(5, 12))),
        clinic,
        person,
    )
    arrival = start + timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 12))
    found = stay(chart, arrival, Scenario.STABLE_STAY, ed_person=duplicate_of(person, chart.tag))
    if booking.start > found.admitted_at:
        chart.cancel(found.admitted_at + hours(1), booking, person)


@dataclass(frozen=True, slots=True)
class Stay:
    admitted_at: datetime
    discharged_at: datetime
    follow_up: Booking


def stay(
    chart: Chart, arrival: datetime, scenario: Scenario, ed_person: Person | None = None
) -> Stay:
    """From the emergency department to the ward and home.  ``ed_person``: the duplicate
    record the emergency department registers, merged into the patient's before admission."""
    rng, person = chart.rng, chart.person
    critical = scenario is Scenario.CRITICAL_RESULT
    deteriorates = scenario is Scenario.DETERIORATING
    bay = location(ED, f"B{rng.randint(1, 24):02d}")
    ed = chart.visit(ed_person or person, "E", bay, arrival, "EM")
    chart.register(arrival, ed, rng.choice(clinical.ARRIVAL_MODES))
    chart.vitals(arrival + minutes(8), ed, Condition.STABLE)
    labs = chart.order(arrival + minutes(15), ed, ["BMP", "CBC"])
    potassium = rng.randint(66, 72) / 10
    chart.results(
        arrival + minutes(80),
        ed,
        labs,
        {"K": potassium} if critical else None,
        note=f"Critical value called to Dr {ed.attending.family} and read back.",
    )
    if critical:
        doses = chart.prescribe(arrival + minutes(95), ed, ["Insulin regular", "Dextrose 50%"])
        for i, dose in enumerate(doses):
            chart.administer(arrival + minutes(105 + 5 * i), ed, dose)
    if ed_person is not None:
        chart.merge(arrival + minutes(135), person, ed)

    admitted = arrival + hours(3) + minutes(rng.randrange(0, 90))
    ward = rng.choice(WARDS)
    bed = location(ward.point_of_care, str(rng.choice(ward.rooms)), rng.choice("AB"))
    visit = chart.visit(person, "I", bed, admitted, ward.service)
    diagnosis = clinical.HYPERKALEMIA if critical else rng.choice(clinical.DIAGNOSES)
    chart.admit(admitted, visit, diagnosis)
    days = rng.randint(2, 4) + (2 if deteriorates else 0)
    discharged = at_clock(admitted + timedelta(days=days), 11) + minutes(rng.randrange(0, 120))

    drugs = rng.sample(clinical.WARD_DRUGS, k=rng.randint(1, 3))
    treatments = [(admitted + minutes(40), drugs)]
    if deteriorates:
        treatments.append((admitted + hours(11) + minutes(40), ["Ceftriaxone", "Vancomycin"]))
    for prescribed, names in treatments:
        for i, order in enumerate(chart.prescribe(prescribed, visit, names)):
            given = prescribed + minutes(20 + 7 * i)
            while given < discharged - minutes(30):
                chart.administer(given, visit, order)
                given += hours(max(order.drug.every_hours, 12))

    readings = [(hours(1), Condition.STABLE)]
    if deteriorates:
        readings += [
            (hours(5), Condition.UNSETTLED),
            (hours(9), Condition.WORSENING),
            (hours(11), Condition.CRITICAL),
            (hours(15), Condition.RECOVERING),
            (hours(19), Condition.RECOVERING),
        ]
    then = readings[-1][0] + hours(6)
    while admitted + then < discharged - hours(1):
        readings.append((then, Condition.STABLE))
        then += hours(6)
    for after, condition in readings:
        chart.vitals(admitted + after, visit, condition)

    mornings = at_clock(admitted + timedelta(days=1), 5, 30)
    if critical:
        repeat = chart.order(admitted + hours(2), visit, ["BMP"])
        chart.results(admitted + hours(3), visit, repeat, {"K": rng.randint(50, 54) / 10})
    day = 0
    while mornings < discharged:
        panels = ["BMP", "CBC"] if day % 2 == 0 else ["BMP"]
        chart.results(mornings + minutes(105), visit, chart.order(mornings, visit, panels))
        mornings += timedelta(days=1)
        day += 1

    if deteriorates:
        sepsis_labs = chart.order(admitted + hours(11) + minutes(20), visit, ["LACT", "CBC"])
        values = {"LACT": rng.randint(31, 38) / 10, "WBC": rng.randint(130, 165) / 10}
        chart.results(admitted + hours(12) + minutes(30), visit, sepsis_labs, values)
        icu = location(ICU.point_of_care, str(rng.choice(ICU.rooms)), "A")
        chart.transfer(admitted + hours(12) + minutes(15), visit, icu)
        back = rng.choice(WARDS)
        ward_bed = location(back.point_of_care, str(rng.choice(back.rooms)), rng.choice("AB"))
        chart.transfer(at_clock(admitted + timedelta(days=2), 14), visit, ward_bed)
    elif rng.random() < 0.4 and at_clock(admitted + timedelta(days=1), 14) < discharged - hours(3):
        other = rng.choice([w for w in WARDS if w is not ward])
        moved = location(other.point_of_care, str(rng.choice(other.rooms)), rng.choice("AB"))
        chart.transfer(at_clock(admitted + timedelta(days=1), 14), visit, moved)
    if rng.random() < 0.2:
        chart.update_allergy(admitted + hours(20), visit)

    if person.age_at(discharged) >= 65 and rng.random() < 0.6:
        chart.vaccinate(discharged - minutes(90), visit, clinical.VACCINES["pneumococcal"])
    chart.discharge(discharged, visit)
    course = {
        Scenario.DETERIORATING: "Deteriorated on the first night (NEWS2 7 or more): sepsis, "
        "treated with ceftriaxone and vancomycin in the ICU, then back on the ward.",
        Scenario.CRITICAL_RESULT: f"Potassium {potassium:.1f} mmol/L on arrival, treated with "
        "insulin and dextrose; normal again the next day.",
    }.get(scenario, "Uneventful stay.")
    chart.document(
        discharged + minutes(50),
        visit,
        ("DS", "18842-5", "Discharge summary"),
        [
            f"Admitted from the emergency department with {diagnosis[1].lower()}.",
            course,
            f"Medications: {', '.join(drugs)}.",
            "Discharged home; follow-up in clinic.",
        ],
    )
    clinic = rng.choice(CLINICS)
    follow_up = chart.book(
        discharged + minutes(80),
        office_slot(rng, discharged + timedelta(days=rng.randint(7, 14))),
        clinic,
        person,
    )
    return Stay(admitted, discharged, follow_up)

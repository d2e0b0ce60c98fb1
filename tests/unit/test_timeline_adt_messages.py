"""The timeline of what the registration, bed board and scheduling systems send besides
admissions, transfers and discharges: patient tracking, pending movements and their cancels,
deleted records, moved visits, allergy updates, deleted and missed appointments; and what
ADT and SIU messages carry along (vital signs, height, weight, procedures).  Each event a line
a clinician reads, and the patient's state following it."""

from __future__ import annotations

from timeline_support import event, message_events

from hl7bus.events.model import (
    Allergy,
    Encounter,
    EventType,
    Location,
    Payload,
)
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.entries import event_entry

BRIONY = "RBGH|RB031977"


def _lines(events) -> list[str]:
    return [event_entry(e).summary for e in events]


def _fold(events):
    return sm.fold([event_entry(e) for e in events])


def _admitted_to_bed_308():
    return event(
        EventType.PATIENT_ADMITTED,
        BRIONY,
        "2025-03-11T07:10:00-06:00",
        encounter=Encounter(
            visit_number="V25-004410",
            patient_class="inpatient",
            location=Location(facility="RBGH", point_of_care="3S", room="308", bed="A"),
        ),
        trigger="A01",
        event_id="5b0f7a8e-2d4c-4e61-9a53-0c7d2e1f3a10",
    )


# Lines.


def test_tracking_says_where_the_patient_went_and_came_back_from() -> None:
    assert _lines(message_events("adt-a09-a10-patient-tracking")) == [
        "Departed for XRAY room CT2 from 3S room 308 bed A",
        "Arrived at 3S room 308 bed A from XRAY room CT2",
    ]


def test_pending_movements_say_what_is_planned_and_when() -> None:
    assert _lines(message_events("adt-a14-a15-a16-a25-a26-a27-pending-and-cancelled")) == [
        "Admission planned to 3S for 2025-03-11T07:00:00-06:00",
        "Planned admission cancelled",
        "Transfer planned from 3S room 308 bed A to 4W room 412 bed B for "
        "2025-03-14T14:00:00-06:00",
        "Planned transfer cancelled",
        "Discharge planned from 3S room 308 bed A for 2025-03-15T16:00:00-06:00",
        "Planned discharge cancelled",
    ]


def test_a_deleted_record_a_moved_visit_and_updated_allergies() -> None:
    assert _lines(message_events("adt-a29-delete-person")) == ["Person information deleted"]
    assert _lines(message_events("adt-a45-move-visit")) == [
        "Visit V25-004977 moved from record RBGH|RB031988"
    ]
    assert _lines(message_events("adt-a60-v2.8-allergies-added-updated-deleted")) == [
        "Allergies updated: Codeine added; Penicillin G updated; Peanut removed"
    ]


def test_deleted_and_missed_appointments() -> None:
    assert _lines(message_events("siu-s17-s26-deleted-and-no-show")) == [
        "Appointment deleted for 2025-09-02T08:00:00-05:00: Colonoscopy",
        "Appointment missed for 2025-09-15T09:30:00-05:00: Follow-up",
    ]


# The patient's state.


def test_pending_movements_and_their_cancels_leave_the_stay_as_it_is() -> None:
    pending = message_events("adt-a14-a15-a16-a25-a26-a27-pending-and-cancelled")
    before_admission = _fold(pending[:2])  # A14, A27: never admitted
    assert (before_admission.stay, before_admission.movements) == (None, ())
    admitted = _fold([_admitted_to_bed_308()])
    after = _fold([*pending, _admitted_to_bed_308()])  # A15, A26, A16, A25 after the admit
    assert after.stay == admitted.stay
    assert after.stay.status == "admitted"
    assert after.stay.location.point_of_care == "3S"
    assert after.movements == admitted.movements
    assert after.event_count == 7


def test_tracking_leaves_the_assigned_bed() -> None:
    admitted = _fold([_admitted_to_bed_308()])
    tracked = _fold([_admitted_to_bed_308(), *message_events("adt-a09-a10-patient-tracking")])
    assert tracked.stay == admitted.stay


def test_admission_vital_signs_are_the_latest_results() -> None:
    admit, _discharge = message_events("adt-a01-a03-vital-signs-and-procedures")
    state = _fold([admit])
    assert state.results["8867-4"].latest.value == "112"
    assert state.results["8867-4"].latest.observed_at == "2025-03-02T08:55:00-06:00"
    assert state.results["29463-7"].latest.value == "71.2"
    assert state.results["29463-7"].latest.units == "kg"
    assert len(state.results) == 9


def test_procedures_of_a_discharge_are_in_the_patients_state_once() -> None:
    events = message_events("adt-a01-a03-vital-signs-and-procedures")
    state = _fold([*events, *message_events("adt-a01-a03-vital-signs-and-procedures")])
    assert [(p.code, p.performed_at) for p in state.procedures] == [
        ("0DTJ4ZZ", "2025-03-02T14:30:00-06:00"),
        ("BW40ZZZ", "2025-03-02T10:10:00-06:00"),
    ]
    assert state.procedures[0].performer.family == "Lindqvist"


def test_an_allergy_update_adds_updates_and_removes() -> None:
    known = event(
        EventType.PATIENT_ADMITTED,
        BRIONY,
        "2025-03-02T09:05:00-06:00",
        payload=Payload(
            allergies=(
                Allergy(code="256349002", code_system="SCT", display="Peanut", category="FA"),
                Allergy(code="7980", code_system="RXNORM", display="Penicillin G", severity="MO"),
            )
        ),
    )
    state = _fold([known, *message_events("adt-a60-v2.8-allergies-added-updated-deleted")])
    assert [(a.display, a.severity) for a in state.allergies] == [
        ("Penicillin G", "Severe"),
        ("Codeine", "Moderate"),
    ]


def test_a_deleted_appointment_goes_and_a_missed_one_says_so() -> None:
    booked = message_events("siu-s12-patient-observations")
    deleted, missed = message_events("siu-s17-s26-deleted-and-no-show")
    assert set(_fold(booked).appointments) == {"APT-3150"}
    state = _fold([*booked, deleted, missed])
    assert set(state.appointments) == {"APT-3302"}
    assert state.appointments["APT-3302"].status == "no-show"


def test_a_vaccination_messages_patient_observations_are_results_and_its_vaccines_are_not():
    summary = _fold(message_events("vxu-v04-v2.8-patient-level-observations"))
    assert summary.results["29463-7"].latest.value == "12.1"  # body weight, before any order
    assert "59784-9" in summary.results  # disease with presumed immunity
    assert "64994-7" not in summary.results  # the MMR's funding eligibility: the vaccine's

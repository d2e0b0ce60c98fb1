"""The timeline of what lab automation, the pharmacy, the kitchen, the problem list, referrals
and billing send: each event a line a clinician reads, and the patient's state following
it (dispensed medications, problems)."""

from __future__ import annotations

from timeline_support import event, message_events

from hl7bus.events.model import Diagnosis, EventType, Medication, Order, Payload, Problem
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.entries import event_entry


def _lines(events, event_type: EventType) -> list[str]:
    return [event_entry(e).summary for e in events if e.event_type is event_type]


def _fold(events):
    return sm.fold([event_entry(e) for e in events])


# The pharmacy's dispenses (RDS^O13).


def test_a_dispense_says_what_was_dispensed_and_how_much() -> None:
    assert _lines(message_events("rds-o13-two-dispenses"), EventType.MEDICATION_DISPENSED) == [
        "Medication dispensed: Amoxicillin 500 MG Oral Capsule 21 CAP",
        "Medication dispensed: Acetaminophen 325 MG Oral Tablet 30 TAB",
    ]


def test_a_dispense_marks_its_medication_order_dispensed() -> None:
    ordered = event(
        EventType.MEDICATION_ORDERED,
        "RBGH|RB006120",
        "2025-05-20T09:00:00+00:00",
        payload=Payload(
            orders=(Order(placer_order_number="PO-91001", control="NW"),),
            medications=(Medication(code="197361", display="Amoxicillin 500 MG Oral Capsule"),),
        ),
    )
    state = _fold([ordered, *message_events("rds-o13-two-dispenses")])
    amoxicillin = state.medications["PO-91001"]
    assert amoxicillin.last_dispensed_at == "2025-05-20T14:15:00+00:00"
    assert amoxicillin.placed_at == "2025-05-20T09:00:00+00:00"
    assert amoxicillin.medications[0].code == "197361"  # as ordered
    # The acetaminophen order was never seen placed: dispensed, it is active all the same.
    acetaminophen = state.medications["PO-91002"]
    assert acetaminophen.last_dispensed_at == "2025-05-20T14:20:00+00:00"
    assert acetaminophen.medications[0].dispense_amount == "30"
    assert state.orders == {}


def test_a_completed_dispense_closes_its_medication_order() -> None:
    done = event(
        EventType.MEDICATION_DISPENSED,
        "RBGH|RB006120",
        "2025-05-21T10:00:00+00:00",
        payload=Payload(orders=(Order(placer_order_number="PO-91001", status="CM"),)),
    )
    state = _fold([*message_events("rds-o13-two-dispenses"), done])
    assert list(state.medications) == ["PO-91002"]


# Diet orders (OMD^O03) and general orders (OMG^O19).


def test_a_diet_order_names_the_diets_ordered() -> None:
    assert _lines(message_events("omd-o03-diet-and-tray-orders"), EventType.ORDER_PLACED) == [
        "Order placed: Diabetic 1800 kcal, Low sodium, Oral nutritional supplement, Vegetarian",
        "Order placed: Early tray",
    ]
    state = _fold(message_events("omd-o03-diet-and-tray-orders"))
    assert list(state.orders) == ["DO-1201", "DO-1202"]


def test_a_general_order_is_an_order() -> None:
    events = message_events("omg-o19-general-orders-with-a-prior-result")
    assert _lines(events, EventType.ORDER_PLACED) == [
        "Order placed: Echocardiography, transthoracic, complete",
        "Order placed: Physical therapy evaluation, low complexity",
    ]
    state = _fold(events)
    assert list(state.orders) == ["GO-3301", "GO-3302"]  # not the prior result's GO-2901
    assert [p.code for p in state.problems] == ["I31.3"]


# The problem list (PPR^PC1/PC2/PC3).


def test_problem_messages_say_which_problems_changed() -> None:
    events = message_events("ppr-pc1-pc2-pc3-problem-list")
    assert [event_entry(e).summary for e in events] == [
        "Problems added: Essential (primary) hypertension; Pneumonia, unspecified organism",
        "Problem updated: Pneumonia, unspecified organism (resolved)",
        "Problem removed: Essential (primary) hypertension",
    ]


def test_the_problem_list_follows_additions_resolutions_and_deletions() -> None:
    added, resolved, deleted = message_events("ppr-pc1-pc2-pc3-problem-list")
    state = _fold([added])
    assert [(p.code, p.display) for p in state.problems] == [
        ("I10", "Essential (primary) hypertension"),
        ("J18.9", "Pneumonia, unspecified organism"),
    ]
    assert state.problems[0].diagnosed_at == "2019-03"  # its onset
    assert [p.code for p in _fold([added, resolved]).problems] == ["I10"]
    assert _fold([added, resolved, deleted]).problems == ()
    # A problem deleted before it was known changes nothing; added again, it is back.
    assert _fold([deleted]).problems == ()
    readded = event(
        EventType.PROBLEM_ADDED,
        "RBGH|RB009130",
        "2025-09-01T08:00:00+00:00",
        payload=Payload(problems=(Problem(code="I10", display="Hypertension", status="active"),)),
    )
    assert [p.display for p in _fold([added, deleted, readded]).problems] == [
        "Pneumonia, unspecified organism",
        "Hypertension",
    ]


def test_a_diagnosis_and_a_problem_of_the_same_code_are_one_problem() -> None:
    diagnosed = event(
        EventType.PATIENT_ADMITTED,
        "RBGH|RB009130",
        "2025-07-30T08:00:00+00:00",
        payload=Payload(diagnoses=(Diagnosis(code="J18.9", display="Pneumonia", type="A"),)),
    )
    added, resolved, _deleted = message_events("ppr-pc1-pc2-pc3-problem-list")
    assert [p.code for p in _fold([diagnosed, added]).problems] == ["J18.9", "I10"]
    assert [p.code for p in _fold([diagnosed, added, resolved]).problems] == ["I10"]


# Referrals (REF^I12/I13/I14).


def test_referrals_say_to_whom_and_how_urgent() -> None:
    events = message_events("ref-i12-i13-i14-referral")
    assert [event_entry(e).summary for e in events] == [
        "Referral requested: Dr Femi Oyelaran, SPECNET CARDIOLOGY (routine)",
        "Referral updated: Dr Femi Oyelaran, SPECNET CARDIOLOGY (ASAP, accepted)",
        "Referral cancelled: Dr Femi Oyelaran, SPECNET CARDIOLOGY",
    ]
    state = _fold(events)
    assert [d.code for d in state.problems] == ["I48.91"]  # the referral's diagnosis
    assert [a.display for a in state.allergies] == ["Penicillin"]


# Billing's coding of a visit (BAR^P01/P02/P12, DFT^P03/P11).


def test_billing_messages_say_what_was_coded_for_the_visit() -> None:
    accounts = message_events("bar-p01-p12-p02-accounts")
    assert [event_entry(e).summary for e in accounts] == [
        "Account opened — diagnoses: Right lower quadrant pain",
        "Account opened — diagnoses: Unspecified acute appendicitis; Obesity, unspecified"
        " — procedures: Resection of Appendix, Percutaneous Endoscopic Approach",
        "Coding updated — diagnoses: Unspecified acute appendicitis; Generalized (acute)"
        " peritonitis — procedures: Resection of Appendix, Percutaneous Endoscopic Approach;"
        " Drainage of Peritoneal Cavity with D…",  # cut at 200 characters
        "Account purged (visit V24-077310)",
        "Account purged (visit V24-077311)",
    ]
    charges = message_events("dft-p03-p11-charges")
    assert [event_entry(e).summary for e in charges] == [
        "Charges posted — diagnoses: Unspecified acute appendicitis — procedures: Resection of"
        " Appendix, Percutaneous Endoscopic Approach; Complete blood count with automated"
        " differential",
        "Charges posted — diagnoses: Unspecified acute appendicitis; Fever, unspecified"
        " — procedures: Radiologic examination, chest; 2 views; Subsequent hospital care",
    ]


def test_coded_diagnoses_join_the_problem_list() -> None:
    state = _fold(message_events("bar-p01-p12-p02-accounts"))
    assert [p.code for p in state.problems] == ["R10.31", "K35.80", "E66.9", "K65.0"]
    assert state.problems[1].type == "F"  # its latest form: final after the P12


def test_a_problem_message_is_found_by_its_problem_codes() -> None:
    from hl7bus.services.timeline.store import codes

    added, _resolved, deleted = message_events("ppr-pc1-pc2-pc3-problem-list")
    assert codes(event_entry(added)) == "\x1fI10\x1fJ18.9\x1f"
    assert codes(event_entry(deleted)) == "\x1fI10\x1f"

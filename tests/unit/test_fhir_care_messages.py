"""The FHIR R4 export of what lab automation, the pharmacy, the problem list and referrals
send: Specimen, MedicationDispense, problem-list Conditions and referral ServiceRequests,
read against the FHIR R4 specification (HAPI's validator checks the bundles in
``tests/integration/test_fhir_validation.py``)."""

from __future__ import annotations

from typing import Any

from timeline_support import message_events

from hl7bus.events.model import ClinicalEvent, EventType, Medication, Order, Payload
from hl7bus.services.timeline.fhir import bundle

TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"


def events_of(name: str) -> list[ClinicalEvent]:
    """The events of one of the project's own test messages (``NAME.hl7``)."""
    return list(message_events(name.removesuffix(".hl7")))


def resources(found: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in found["entry"] if e["resource"]["resourceType"] == kind]


def url_of(found: dict[str, Any], resource: dict[str, Any]) -> str:
    return next(e["fullUrl"] for e in found["entry"] if e["resource"] is resource)


def code_of(concept: dict[str, Any] | None) -> str | None:
    return concept["coding"][0]["code"] if concept else None


def test_specimens_are_specimen_resources_the_results_point_at() -> None:
    events = events_of("oul-r22-r23-r24-specimen-results.hl7")[:1]  # the R22
    found = bundle(events[0].patient.key, events)
    serum, blood = resources(found, "Specimen")
    assert serum["identifier"] == [{"value": "SP-88101"}]
    assert serum["type"]["coding"][0]["code"] == "SER"
    assert serum["collection"] == {"collectedDateTime": "2025-04-12T07:15:00+00:00"}
    assert serum["receivedTime"] == "2025-04-12T07:42:00+00:00"
    assert serum["container"] == [{"identifier": [{"value": "CT-88101-1"}]}]
    assert "status" not in serum
    assert blood["status"] == "unsatisfactory"
    assert blood["note"] == [{"text": "Rejected: Clotting"}]
    assert blood["collection"]["bodySite"] == {"text": "Arm, Lower Left"}
    assert len(blood["container"]) == 2
    potassium, cbc = resources(found, "Observation")
    assert potassium["specimen"] == {"reference": url_of(found, serum)}
    assert cbc["specimen"] == {"reference": url_of(found, blood)}


def test_a_dispense_is_a_medication_dispense_of_its_prescription() -> None:
    key = "RBGH|RB006120"
    ordered = ClinicalEvent(
        **{
            **vars_of(events_of("rds-o13-two-dispenses.hl7")[0]),
            "event_id": "00000000-0000-5000-8000-0000000000aa",
            "event_type": EventType.MEDICATION_ORDERED,
            "occurred_at": "2025-05-20T09:00:00+00:00",
            "payload": Payload(
                orders=(Order(placer_order_number="PO-91001", control="NW"),),
                medications=(Medication(code="197361", code_system="RXNORM", order_index=0),),
            ),
        }
    )
    found = bundle(key, [ordered, *events_of("rds-o13-two-dispenses.hl7")])
    (request,) = resources(found, "MedicationRequest")
    amoxicillin, acetaminophen = resources(found, "MedicationDispense")
    assert amoxicillin["status"] == "completed"
    assert code_of(amoxicillin["medicationCodeableConcept"]) == "197361"
    assert amoxicillin["quantity"] == {"value": 21, "unit": "CAP"}
    assert amoxicillin["whenHandedOver"] == "2025-05-20T14:15:00+00:00"
    assert amoxicillin["identifier"] == [{"value": "RX-7781"}]
    assert amoxicillin["authorizingPrescription"] == [{"reference": url_of(found, request)}]
    assert amoxicillin["dosageInstruction"][0]["text"] == "500 mg Oral Q8H"
    assert "authorizingPrescription" not in acetaminophen  # never seen ordered
    assert resources(found, "ServiceRequest") == []  # a dispense orders nothing


def vars_of(found: ClinicalEvent) -> dict[str, Any]:
    return {name: getattr(found, name) for name in found.__dataclass_fields__}


def test_problems_are_problem_list_conditions_in_their_latest_state() -> None:
    events = events_of("ppr-pc1-pc2-pc3-problem-list.hl7")
    key = events[0].patient.key
    added = {code_of(c["code"]): c for c in resources(bundle(key, events[:1]), "Condition")}
    assert set(added) == {"I10", "J18.9"}
    pneumonia = added["J18.9"]
    assert code_of(pneumonia["clinicalStatus"]) == "active"
    assert code_of(pneumonia["verificationStatus"]) == "provisional"
    assert pneumonia["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert pneumonia["onsetDateTime"] == "2025-07-28"
    assert pneumonia["recordedDate"] == "2025-08-01"
    assert pneumonia["note"] == [{"text": "Chest X-ray booked."}]
    assert added["I10"]["onsetDateTime"] == "2019-03"

    final = {code_of(c["code"]): c for c in resources(bundle(key, events), "Condition")}
    pneumonia, hypertension = final["J18.9"], final["I10"]
    assert code_of(pneumonia["clinicalStatus"]) == "resolved"
    assert code_of(pneumonia["verificationStatus"]) == "confirmed"
    assert pneumonia["abatementDateTime"] == "2025-08-20"
    # FHIR con-5: a condition entered in error has no clinical status
    assert code_of(hypertension["verificationStatus"]) == "entered-in-error"
    assert "clinicalStatus" not in hypertension


def test_a_referral_is_a_referral_service_request_in_its_latest_state() -> None:
    events = events_of("ref-i12-i13-i14-referral.hl7")
    key = events[0].patient.key

    def referral(found: dict[str, Any]) -> dict[str, Any]:
        (only,) = [
            r
            for r in resources(found, "ServiceRequest")
            if code_of(r.get("category", [None])[0]) == "3457005"
        ]
        return only

    requested = bundle(key, events[:1])
    found = referral(requested)
    assert (found["status"], found["intent"], found["priority"]) == ("active", "order", "routine")
    assert found["identifier"] == [{"value": "RF-2207"}, {"value": "EXT-88120"}]
    assert found["requester"] == {"identifier": {"value": "2290"}, "display": "Dr Lise Achterberg"}
    assert found["performer"] == [{"identifier": {"value": "7781"}, "display": "Dr Femi Oyelaran"}]
    assert found["occurrencePeriod"] == {"start": "2025-09-02", "end": "2025-12-02"}
    (afib,) = resources(requested, "Condition")
    assert found["reasonReference"] == [{"reference": url_of(requested, afib)}]
    assert found["authoredOn"] == "2025-09-02T14:15:00+00:00"

    cancelled = referral(bundle(key, events))
    assert (cancelled["status"], cancelled["priority"]) == ("revoked", "asap")
    assert cancelled["authoredOn"] == "2025-09-02T14:15:00+00:00"  # when it was requested
    assert cancelled["id"] == found["id"]

"""The FHIR R4 export of a patient's timeline (``hl7bus.services.timeline.fhir``), pure:
the mapping from events to resources, read against the FHIR R4 specification.  Whether the
bundles are valid FHIR is checked by HAPI's validator in
``tests/integration/test_fhir_validation.py``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from typing import Any

import pytest
from timeline_support import message_events

from hl7bus.errors import MessageError
from hl7bus.events.model import (
    Appointment,
    ClinicalEvent,
    Encounter,
    EventType,
    Identifier,
    Merge,
    Observation,
    Order,
    Patient,
    Payload,
    Procedure,
    Source,
)
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate
from hl7bus.services.timeline.fhir import (
    CVX,
    LOINC,
    UCUM,
    bundle,
    fhir_date,
    fhir_datetime,
    fhir_instant,
    resource_id,
)

from paths import own_files

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def events_of(*names: str) -> list[ClinicalEvent]:
    """The events of the project's own test messages (rejected messages skipped)."""
    return [e for name in names for e in message_events(name.removesuffix(".hl7"))]


def patient_bundle(*names: str, key: str | None = None) -> dict[str, Any]:
    events = events_of(*names)
    key = key or events[0].patient.key
    return bundle(key, [e for e in events if e.patient.key == key])


def resources(found: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in found["entry"] if e["resource"]["resourceType"] == kind]


def the(found: dict[str, Any], kind: str) -> dict[str, Any]:
    (only,) = resources(found, kind)
    return only


def references(value: Any) -> list[str]:
    """Every ``reference`` anywhere in a resource."""
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def event(
    event_type: EventType = EventType.PATIENT_ADMITTED,
    *,
    event_id: str = "00000000-0000-5000-8000-000000000001",
    key: str = "GENHOSP|123",
    message_type: str = "ADT",
    trigger: str = "A01",
    **fields: Any,
) -> ClinicalEvent:
    """An event built by hand: ``patient`` fields (``sex``, ``birth_date``, ...) or
    ``encounter``/``payload``/``occurred_at``."""
    patient_fields = {k: fields.pop(k) for k in list(fields) if k in Patient.__dataclass_fields__}
    authority, value = key.split("|")
    patient_fields.setdefault("identifiers", (Identifier(value, authority, "MR"),))
    return ClinicalEvent(
        event_id=event_id,
        event_type=event_type,
        patient=Patient(key=key, **patient_fields),
        source=Source(
            message_control_id="C1",
            message_type=message_type,
            trigger_event=trigger,
            sending_application="APP",
            sending_facility="GENHOSP",
        ),
        **fields,
    )


# --- the bundle as a whole ---------------------------------------------------------------


@pytest.fixture(scope="module")
def own_bundles() -> dict[str, dict[str, Any]]:
    """One bundle per patient of the project's own messages and the sample feed."""
    by_patient: dict[str, list[ClinicalEvent]] = {}
    for path in own_files():
        for raw in split_messages(path.read_bytes()):
            try:
                events = translate(raw, ProfileSet()).events
            except MessageError:
                continue
            for found in events:
                by_patient.setdefault(found.patient.key, []).append(found)
    return {key: bundle(key, events) for key, events in by_patient.items()}


def test_a_bundle_is_a_collection_with_the_patient_first(own_bundles) -> None:
    for key, found in own_bundles.items():
        assert found["resourceType"] == "Bundle"
        assert found["type"] == "collection"
        first = found["entry"][0]["resource"]
        assert first["resourceType"] == "Patient", key
        assert first["id"] == resource_id("Patient", key)


def test_every_id_is_a_fhir_id_and_its_full_url_is_its_urn_uuid(own_bundles) -> None:
    for found in own_bundles.values():
        ids = [e["resource"]["id"] for e in found["entry"]]
        assert len(ids) == len(set(ids))
        for entry in found["entry"]:
            rid = entry["resource"]["id"]
            assert FHIR_ID.match(rid)
            assert entry["fullUrl"] == f"urn:uuid:{rid}"


def test_every_reference_resolves_inside_the_bundle(own_bundles) -> None:
    checked = 0
    for found in own_bundles.values():
        urls = {e["fullUrl"] for e in found["entry"]}
        for entry in found["entry"]:
            for ref in references(entry["resource"]):
                assert ref in urls, (entry["resource"]["resourceType"], ref)
                checked += 1
    assert checked > 100


def test_the_bundle_is_deterministic() -> None:
    events = events_of("oru-r01-value-types.hl7")
    key = events[0].patient.key
    assert bundle(key, events) == bundle(key, list(events))


def test_a_resource_made_from_an_event_keeps_its_id_whatever_else_the_bundle_holds() -> None:
    results = events_of("oru-r01-value-types.hl7")
    key = results[0].patient.key
    alone = resources(bundle(key, results), "Observation")
    other = events_of("siu-s12-s15-lifecycle.hl7")
    together = resources(bundle(key, other + results), "Observation")
    assert [o["id"] for o in alone] == [o["id"] for o in together]


def test_a_repeated_event_id_changes_nothing() -> None:
    events = events_of("oru-r01-value-types.hl7")
    key = events[0].patient.key
    again = [
        replace(e, payload=replace(e.payload, observations=e.payload.observations[:1]))
        for e in events
    ]
    assert bundle(key, events + again)["entry"] == bundle(key, events)["entry"]


# --- times -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_time", "fhir"),
    [
        ("1980", "1980"),
        ("1980-04", "1980-04"),
        ("1980-04-07", "1980-04-07"),
        ("2026-11-28T10:15-06:00", "2026-11-28T10:15:00-06:00"),  # FHIR needs the seconds
        ("2026-11-28T10:15:30-06:00", "2026-11-28T10:15:30-06:00"),
        ("2026-11-28T10:15:30.1234+05:30", "2026-11-28T10:15:30.1234+05:30"),
        ("2026-11-28T10:15:30+0530", "2026-11-28T10:15:30+05:30"),
        ("2026-11-28T10:15:30Z", "2026-11-28T10:15:30Z"),
        ("2026-11-28T10:15+14:00", "2026-11-28T10:15:00+14:00"),
        ("2026-11-28T10:15+15:00", "2026-11-27T19:15:00Z"),  # beyond FHIR's ±14:00: UTC
        ("2026-11-28T10:15", "2026-11-28"),  # a time without an offset: its date only
        ("2026-02-30", None),
        ("1980-13", None),
        ("0000", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_event_times_become_fhir_date_times(event_time: str | None, fhir: str | None) -> None:
    assert fhir_datetime(event_time) == fhir


def test_an_instant_needs_a_complete_time_and_a_date_takes_the_day() -> None:
    assert fhir_instant("2026-11-28T10:15-06:00") == "2026-11-28T10:15:00-06:00"
    assert fhir_instant("2026-11-28") is None
    assert fhir_date("2026-11-28T10:15-06:00") == "2026-11-28"
    assert fhir_date("1980-04") == "1980-04"


@pytest.mark.parametrize("birth", ["1961", "1961-09", "1961-09-22"])
def test_a_birth_date_keeps_its_precision(birth: str) -> None:
    found = the(bundle("GENHOSP|123", [event(birth_date=birth)]), "Patient")
    assert found["birthDate"] == birth


# --- the patient -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "gender"),
    [
        ("M", "male"),
        ("F", "female"),
        ("O", "other"),
        ("A", "other"),
        ("U", "unknown"),
        ("N", "unknown"),
        ("f", "female"),
        ("X", None),
        (None, None),
    ],
)
def test_sex_from_table_0001_is_administrative_gender(sex: str | None, gender: str | None) -> None:
    found = the(bundle("GENHOSP|123", [event(sex=sex)]), "Patient")
    assert found.get("gender") == gender


def test_identifier_systems_come_from_the_assigning_authority() -> None:
    ids = (
        Identifier("123", "GENHOSP", "MR"),
        Identifier("40017", "2.16.840.1.113883.19.5", "MR"),
        Identifier("999-41-2207", "USSSA", "SS"),
        Identifier("E-1", "Central EMPI", "PI"),
        Identifier("7", None, "XYZ"),
    )
    found = the(bundle("GENHOSP|123", [event(identifiers=ids)]), "Patient")
    assert [(i.get("system"), i["value"]) for i in found["identifier"]] == [
        ("urn:hl7bus:authority:GENHOSP", "123"),
        ("urn:oid:2.16.840.1.113883.19.5", "40017"),
        ("http://hl7.org/fhir/sid/us-ssn", "999-41-2207"),
        ("urn:hl7bus:authority:Central%20EMPI", "E-1"),
        ("urn:hl7bus:authority:GENHOSP", "7"),  # no authority: the sending facility's
    ]
    v2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
    assert found["identifier"][0]["type"] == {"coding": [{"system": v2_0203, "code": "MR"}]}
    assert found["identifier"][4]["type"] == {"text": "XYZ"}  # not a table 0203 code


def test_the_patient_reads_like_the_admit_message() -> None:
    found = the(patient_bundle("adt-a01-admit.hl7"), "Patient")
    assert found["name"] == [
        {"family": "Brannigan", "given": ["Thaddeus", "Cole"], "prefix": ["Mr"], "suffix": ["III"]}
    ]
    assert found["gender"] == "male"
    assert found["birthDate"] == "1961-09-22"
    assert found["address"][0] == {
        "use": "home",
        "line": ["1408 Larkspur Way", "Unit 2B"],
        "city": "Millbrook",
        "state": "IL",
        "postalCode": "60536",
        "country": "USA",
    }
    assert found["address"][1]["type"] == "postal"  # XAD-7 M: mailing
    assert {"system": "email", "value": "thad.brannigan@example.org"} in found["telecom"]
    assert {"system": "phone", "value": "(630)555-0188", "use": "work"} in found["telecom"]
    assert found["maritalStatus"]["coding"][0]["code"] == "M"


def test_a_merge_keeps_the_prior_identifiers_as_old_ones() -> None:
    merge = Merge(
        prior_patient_key="GENHOSP|99",
        prior_identifiers=(Identifier("99", "GENHOSP", "MR"),),
    )
    events = [event(), event(EventType.PATIENT_MERGED, event_id="e2", payload=Payload(merge=merge))]
    found = the(bundle("GENHOSP|123", events), "Patient")
    assert {"use": "old", "system": "urn:hl7bus:authority:GENHOSP", "value": "99"}.items() <= (
        found["identifier"][1].items()
    )
    assert "use" not in found["identifier"][0]


def test_a_link_shows_the_other_record_and_an_unlink_removes_it() -> None:
    merge = Merge(prior_patient_key="LAKE|7", prior_identifiers=(Identifier("7", "LAKE", "MR"),))
    linked = event(EventType.PATIENT_LINKED, event_id="e2", payload=Payload(merge=merge))
    found = bundle("GENHOSP|123", [event(), linked])
    main, other = resources(found, "Patient")
    assert main["link"] == [{"other": {"reference": f"urn:uuid:{other['id']}"}, "type": "seealso"}]
    assert other["identifier"][0]["value"] == "7"
    unlinked = event(EventType.PATIENT_UNLINKED, event_id="e3", payload=Payload(merge=merge))
    (alone,) = resources(bundle("GENHOSP|123", [event(), linked, unlinked]), "Patient")
    assert "link" not in alone


# --- the visit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patient_class", "code"),
    [
        ("inpatient", "IMP"),
        ("outpatient", "AMB"),
        ("emergency", "EMER"),
        ("preadmit", "PRENC"),
        ("recurring", "AMB"),
        ("obstetrics", "IMP"),
    ],
)
def test_the_pv1_2_class_is_a_v3_act_code(patient_class: str, code: str) -> None:
    visit = Encounter(visit_number="V1", patient_class=patient_class)
    found = the(bundle("GENHOSP|123", [event(encounter=visit)]), "Encounter")
    act_code = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert (found["class"]["system"], found["class"]["code"]) == (act_code, code)


def test_an_unknown_class_is_the_unknown_null_flavor() -> None:
    visit = Encounter(visit_number="V1", patient_class="X")
    found = the(bundle("GENHOSP|123", [event(encounter=visit)]), "Encounter")
    null_flavor = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
    assert (found["class"]["system"], found["class"]["code"]) == (null_flavor, "UNK")


@pytest.mark.parametrize(
    ("kinds", "status"),
    [
        ([EventType.PATIENT_PREADMITTED], "planned"),
        ([EventType.PATIENT_ADMITTED], "in-progress"),
        ([EventType.PATIENT_ADMITTED, EventType.PATIENT_TRANSFERRED], "in-progress"),
        ([EventType.PATIENT_ADMITTED, EventType.PATIENT_DISCHARGED], "finished"),
        ([EventType.PATIENT_ADMITTED, EventType.ADMISSION_CANCELLED], "cancelled"),
        ([EventType.PATIENT_DISCHARGED, EventType.DISCHARGE_CANCELLED], "in-progress"),
        ([EventType.PATIENT_ADMITTED, EventType.PATIENT_UPDATED], "in-progress"),
        # a pending movement, its cancel, tracking: a visit seen first there is planned
        # (A14) or under way; one known already keeps the state the ADT feed left it in
        ([EventType.ADMISSION_PENDING], "planned"),
        ([EventType.ADMISSION_PENDING, EventType.PENDING_ADMISSION_CANCELLED], "cancelled"),
        ([EventType.TRANSFER_PENDING], "in-progress"),
        ([EventType.PATIENT_DEPARTED], "in-progress"),
        ([EventType.PATIENT_PREADMITTED, EventType.DISCHARGE_PENDING], "planned"),
        (
            [EventType.PATIENT_ADMITTED, EventType.PATIENT_DISCHARGED, EventType.PATIENT_ARRIVED],
            "finished",
        ),
        (
            [
                EventType.PATIENT_ADMITTED,
                EventType.PATIENT_DISCHARGED,
                EventType.PENDING_DISCHARGE_CANCELLED,
            ],
            "finished",
        ),
    ],
)
def test_one_encounter_per_visit_in_the_state_the_adt_feed_left_it(
    kinds: list[EventType], status: str
) -> None:
    visit = Encounter(visit_number="V1", patient_class="inpatient", admitted_at="2025-01-14")
    events = [event(kind, event_id=f"e{i}", encounter=visit) for i, kind in enumerate(kinds)]
    found = the(bundle("GENHOSP|123", events), "Encounter")
    assert found["status"] == status
    assert found["period"] == {"start": "2025-01-14"}


def test_a_result_names_the_visit_without_changing_it() -> None:
    visit = Encounter(visit_number="V1", patient_class="inpatient")
    admit = event(encounter=visit)
    result = event(
        EventType.OBSERVATIONS_REPORTED,
        event_id="e2",
        message_type="ORU",
        encounter=replace(visit, patient_class="outpatient"),
        payload=Payload(observations=(Observation(code="2823-3", code_system="LN"),)),
    )
    found = bundle("GENHOSP|123", [admit, result])
    encounter = the(found, "Encounter")
    assert encounter["class"]["code"] == "IMP"
    assert the(found, "Observation")["encounter"] == {"reference": f"urn:uuid:{encounter['id']}"}


def test_an_end_before_the_start_is_left_out() -> None:
    visit = Encounter(
        visit_number="V1",
        admitted_at="2025-01-14T08:15-06:00",
        discharged_at="2025-01-13T08:15-06:00",
    )
    found = the(bundle("GENHOSP|123", [event(encounter=visit)]), "Encounter")
    assert found["period"] == {"start": "2025-01-14T08:15:00-06:00"}


# --- results -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def value_types() -> dict[str, Any]:
    return patient_bundle("oru-r01-value-types.hl7")


def observation(found: dict[str, Any], code: str) -> dict[str, Any]:
    (only,) = [o for o in resources(found, "Observation") if o["code"]["coding"][0]["code"] == code]
    return only


def test_a_loinc_code_has_the_loinc_system_and_a_local_one_the_senders(value_types) -> None:
    hemoglobin = observation(value_types, "718-7")
    assert hemoglobin["code"]["coding"] == [
        {"system": LOINC, "code": "718-7", "display": "Hemoglobin [Mass/volume] in Blood"}
    ]
    local = observation(value_types, "X-ST")["code"]["coding"][0]
    assert local["system"] == "urn:hl7bus:codesystem:BENCHLAB:L"


def test_each_obx_value_type_is_its_fhir_value(value_types) -> None:
    assert observation(value_types, "718-7")["valueQuantity"] == {
        "value": 13.2,
        "unit": "g/dL",
        "system": UCUM,
        "code": "g/dL",
    }
    assert observation(value_types, "X-ST")["valueString"] == "Slightly hemolyzed"
    assert observation(value_types, "X-TX")["valueString"] == (
        "First line of the comment.\nSecond line, with a comma."
    )
    assert observation(value_types, "600-7")["valueCodeableConcept"] == {
        "coding": [
            {
                "system": "http://snomed.info/sct",
                "code": "3092008",
                "display": "Staphylococcus aureus",
            }
        ],
        "text": "Staphylococcus aureus",
    }
    assert observation(value_types, "20507-0")["valueRatio"] == {
        "numerator": {"value": 1},
        "denominator": {"value": 128},
    }
    egfr = observation(value_types, "33914-3")["valueQuantity"]
    assert (egfr["comparator"], egfr["value"], egfr["code"]) == (">", 90, "mL/min/{1.73_m2}")


def test_an_ed_value_is_the_reports_presented_form(value_types) -> None:
    report = the(value_types, "DiagnosticReport")
    (form,) = report["presentedForm"]
    assert form["contentType"] == "application/pdf"
    assert base64.b64decode(form["data"]).startswith(b"%PDF-1.4")
    assert len(report["result"]) == 7  # every OBX but the ED


def test_the_report_points_at_its_results_and_its_order(value_types) -> None:
    report = the(value_types, "DiagnosticReport")
    order = the(value_types, "ServiceRequest")
    urls = {o["id"]: f"urn:uuid:{o['id']}" for o in resources(value_types, "Observation")}
    assert sorted(r["reference"] for r in report["result"]) == sorted(urls.values())
    assert report["basedOn"] == [{"reference": f"urn:uuid:{order['id']}"}]
    assert report["status"] == "final"
    assert order["status"] == "completed"
    assert order["intent"] == "order"


@pytest.mark.parametrize(
    ("obx_11", "status"),
    [
        ("F", "final"),
        ("P", "preliminary"),
        ("C", "corrected"),
        ("X", "cancelled"),
        ("D", "entered-in-error"),
        ("W", "entered-in-error"),
        ("R", "preliminary"),
        ("I", "registered"),
        (None, "unknown"),
    ],
)
def test_obx_11_is_the_observation_status(obx_11: str | None, status: str) -> None:
    result = event(
        EventType.OBSERVATIONS_REPORTED,
        message_type="ORU",
        payload=Payload(observations=(Observation(code="2823-3", status=obx_11),)),
    )
    assert the(bundle("GENHOSP|123", [result]), "Observation")["status"] == status


@pytest.mark.parametrize(
    ("flags", "interpretation"),
    [
        (("H",), [{"code": "H"}]),
        (("HH", "A"), [{"code": "HH"}, {"code": "A"}]),
        (("L",), [{"code": "L"}]),
        (("LL",), [{"code": "LL"}]),
        (("N",), [{"code": "N"}]),
        (("AA",), [{"code": "AA"}]),
        (("neg",), [{"code": "NEG"}]),
        (("Abnormal high",), [{"text": "Abnormal high"}]),
    ],
)
def test_abnormal_flags_are_v3_interpretations(flags: tuple[str, ...], interpretation) -> None:
    result = event(
        EventType.OBSERVATIONS_REPORTED,
        message_type="ORU",
        payload=Payload(observations=(Observation(code="2823-3", abnormal_flags=flags),)),
    )
    found = the(bundle("GENHOSP|123", [result]), "Observation")["interpretation"]
    system = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    expected = [{"coding": [{"system": system, **i}]} if "code" in i else i for i in interpretation]
    assert found == expected


@pytest.mark.parametrize(
    ("units", "ucum"),
    [("mg/dL", "mg/dL"), ("mEq/L", "meq/L"), ("10^3/uL", "10*3/uL"), ("mmHg", "mm[Hg]")],
)
def test_units_that_are_ucum_get_the_ucum_system(units: str, ucum: str) -> None:
    result = event(
        EventType.OBSERVATIONS_REPORTED,
        message_type="ORU",
        payload=Payload(
            observations=(Observation(code="X", value_type="NM", value="4.5", units=units),)
        ),
    )
    quantity = the(bundle("GENHOSP|123", [result]), "Observation")["valueQuantity"]
    assert quantity == {"value": 4.5, "unit": units, "system": UCUM, "code": ucum}


def test_units_that_are_not_ucum_keep_their_text_only() -> None:
    result = event(
        EventType.OBSERVATIONS_REPORTED,
        message_type="ORU",
        payload=Payload(
            observations=(Observation(code="X", value_type="NM", value="7", units="cups"),)
        ),
    )
    quantity = the(bundle("GENHOSP|123", [result]), "Observation")["valueQuantity"]
    assert quantity == {"value": 7, "unit": "cups"}


def test_dates_in_results_are_fhir_date_times() -> None:
    found = patient_bundle("oru-r01-date-values.hl7")
    values = {o["code"]["coding"][0]["code"]: o for o in resources(found, "Observation")}
    assert values["11778-8"]["valueDateTime"] == "2026-02-14"
    assert values["X-SPEC"]["valueDateTime"] == "2025-11-05T13:15:00-06:00"
    assert values["X-LMP"]["valueDateTime"].startswith("2025-05-10")


# --- orders, medications, immunizations --------------------------------------------------


def test_one_service_request_per_order_in_its_latest_state() -> None:
    placed = event(
        EventType.ORDER_PLACED,
        message_type="ORM",
        payload=Payload(orders=(Order(placer_order_number="P1", control="NW", priority="S"),)),
    )
    cancelled = event(
        EventType.ORDER_CANCELLED,
        event_id="e2",
        message_type="ORM",
        payload=Payload(orders=(Order(placer_order_number="P1", control="CA"),)),
    )
    (alone,) = resources(bundle("GENHOSP|123", [placed]), "ServiceRequest")
    assert (alone["status"], alone["priority"]) == ("active", "stat")
    (found,) = resources(bundle("GENHOSP|123", [placed, cancelled]), "ServiceRequest")
    assert (found["id"], found["status"]) == (alone["id"], "revoked")


def test_a_status_change_without_a_status_leaves_the_orders_status() -> None:
    placed = event(
        EventType.ORDER_PLACED,
        message_type="ORM",
        payload=Payload(orders=(Order(placer_order_number="P1", control="NW"),)),
    )
    changed = event(
        EventType.ORDER_STATUS_CHANGED,
        event_id="e2",
        message_type="ORM",
        payload=Payload(orders=(Order(placer_order_number="P1", control="ZZ", display="CBC"),)),
    )
    found = the(bundle("GENHOSP|123", [placed, changed]), "ServiceRequest")
    assert (found["status"], found["code"]) == ("active", {"text": "CBC"})


def test_a_pharmacy_order_is_a_medication_request_and_its_administration_points_at_it() -> None:
    found = patient_bundle("rde-o11-two-orders.hl7", "ras-o17-administration.hl7")
    requests = resources(found, "MedicationRequest")
    assert requests
    for request in requests:
        assert request["intent"] == "order"
        assert request["medicationCodeableConcept"]["coding"]
    administrations = resources(found, "MedicationAdministration")
    assert administrations
    for given in administrations:
        assert given["status"] == "completed"
        assert fhir_datetime(given["effectiveDateTime"]) == given["effectiveDateTime"]


def test_vaccines_are_cvx_immunizations_and_a_refusal_is_not_done() -> None:
    found = patient_bundle("vxu-v04-three-vaccines.hl7")
    given, second, refused = resources(found, "Immunization")
    assert given["vaccineCode"]["coding"][0] == {
        "system": CVX,
        "code": "141",
        "display": "Influenza, seasonal, injectable",
    }
    assert given["status"] == "completed"
    assert given["lotNumber"] == "FLU4471A"
    assert given["doseQuantity"] == {"value": 0.5, "unit": "mL", "system": UCUM, "code": "mL"}
    assert fhir_datetime(given["occurrenceDateTime"]) == given["occurrenceDateTime"]
    assert second["status"] == "completed"
    assert refused["status"] == "not-done"
    assert refused["statusReason"]["coding"][0]["code"] == "PATOBJ"
    assert "doseQuantity" not in refused  # 999: the amount is unknown


def test_allergies_and_diagnoses_of_an_admit() -> None:
    found = patient_bundle("adt-a01-admit.hl7")
    penicillin, peanut = resources(found, "AllergyIntolerance")
    assert penicillin["code"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "70618",
        "display": "Penicillin",
    }
    assert (penicillin["category"], penicillin["criticality"]) == (["medication"], "high")
    assert [r["manifestation"][0]["text"] for r in penicillin["reaction"]] == [
        "Hives",
        "Wheezing",
    ]
    assert peanut["code"]["coding"][0]["system"] == "http://snomed.info/sct"
    condition = the(found, "Condition")
    assert condition["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10"
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"  # DG1-6 A


def test_the_procedures_of_a_discharge_are_procedure_resources() -> None:
    found = patient_bundle("adt-a01-a03-vital-signs-and-procedures.hl7")
    appendectomy, ultrasound = resources(found, "Procedure")
    patient, visit = the(found, "Patient"), the(found, "Encounter")
    assert appendectomy["status"] == "completed"
    assert appendectomy["identifier"] == [{"value": "PRC-88120"}]
    assert appendectomy["code"]["coding"][0]["code"] == "0DTJ4ZZ"
    assert appendectomy["code"]["text"] == "Resection of Appendix, Percutaneous Endoscopic Approach"
    assert appendectomy["category"] == {"text": "procedure for treatment"}  # PR1-6 P
    assert appendectomy["performedDateTime"] == "2025-03-02T14:30:00-06:00"
    assert appendectomy["performer"] == [
        {
            "function": {"text": "surgeon"},
            "actor": {"identifier": {"value": "7730"}, "display": "Dr Sune Lindqvist"},
        },
        {
            "function": {"text": "anesthesiologist"},
            "actor": {"identifier": {"value": "5521"}, "display": "Dr Ifeoma Okonkwo"},
        },
    ]
    assert appendectomy["note"] == [{"text": "Laparoscopic appendectomy"}]
    assert appendectomy["subject"]["reference"] == f"urn:uuid:{patient['id']}"
    assert appendectomy["encounter"]["reference"] == f"urn:uuid:{visit['id']}"
    assert ultrasound["category"] == {"text": "diagnostic procedure"}  # PR1-6 D
    assert "identifier" not in ultrasound


def test_the_same_procedure_sent_again_is_one_resource_and_a_deleted_one_in_error() -> None:
    procedure = Procedure(code="0DTJ4ZZ", code_system="ICD10PCS", performed_at="2025-03-02")
    first = event(event_id="e1", payload=Payload(procedures=(procedure,)))
    again = event(
        EventType.PATIENT_UPDATED, event_id="e2", payload=Payload(procedures=(procedure,))
    )
    deleted = event(
        EventType.PATIENT_UPDATED,
        event_id="e3",
        payload=Payload(procedures=(replace(procedure, action="D"),)),
    )
    assert the(bundle("GENHOSP|123", [first, again]), "Procedure")["status"] == "completed"
    found = the(bundle("GENHOSP|123", [first, again, deleted]), "Procedure")
    assert found["status"] == "entered-in-error"


def test_admission_vital_signs_are_observations_of_the_visit() -> None:
    found = patient_bundle("adt-a01-a03-vital-signs-and-procedures.hl7")
    heart_rate = next(
        o for o in resources(found, "Observation") if o["code"]["coding"][0]["code"] == "8867-4"
    )
    assert heart_rate["valueQuantity"]["value"] == 112
    assert heart_rate["encounter"]["reference"] == f"urn:uuid:{the(found, 'Encounter')['id']}"
    assert len(resources(found, "Observation")) == 9


def test_an_allergy_deleted_by_an_a60_was_entered_in_error() -> None:
    (update,) = events_of("adt-a60-v2.8-allergies-added-updated-deleted.hl7")
    codeine, _penicillin, peanut = resources(
        bundle(update.patient.key, [update]), "AllergyIntolerance"
    )
    assert codeine["clinicalStatus"]["coding"][0]["code"] == "active"
    assert codeine["onsetDateTime"] == "2025-03-24"
    assert "clinicalStatus" not in peanut  # FHIR ait-2: not with entered-in-error
    assert peanut["verificationStatus"]["coding"][0]["code"] == "entered-in-error"


# --- appointments and documents ----------------------------------------------------------


def test_an_appointment_is_booked_then_cancelled_with_its_times() -> None:
    events = events_of("siu-s12-s15-lifecycle.hl7")
    booked = the(bundle(events[0].patient.key, events[:3]), "Appointment")
    assert booked["status"] == "booked"
    assert booked["start"] == "2025-07-17T09:00:00-05:00"
    assert booked["end"] == "2025-07-17T09:30:00-05:00"
    assert booked["minutesDuration"] == 30
    assert booked["participant"][0]["status"] == "accepted"
    cancelled = the(bundle(events[0].patient.key, events), "Appointment")
    assert (cancelled["id"], cancelled["status"]) == (booked["id"], "cancelled")


def test_a_booked_appointment_without_an_end_is_only_requested() -> None:
    appointment = Appointment(placer_id="A1", start="2025-07-17T09:00-05:00")
    booked = event(
        EventType.APPOINTMENT_BOOKED, message_type="SIU", payload=Payload(appointment=appointment)
    )
    found = the(bundle("GENHOSP|123", [booked]), "Appointment")
    assert "start" not in found  # FHIR app-2/app-3: booked needs a start and an end
    assert found["status"] == "proposed"
    assert found["requestedPeriod"] == [{"start": "2025-07-17T09:00:00-05:00"}]


def test_a_deleted_appointment_was_entered_in_error_and_a_missed_one_is_a_no_show() -> None:
    deleted, missed = events_of("siu-s17-s26-deleted-and-no-show.hl7")
    for sent in (deleted, missed):  # the event says so, whatever SCH-25 says
        appointment = replace(sent.payload.appointment, status=None)
        unsaid = replace(sent, payload=replace(sent.payload, appointment=appointment))
        assert the(bundle(sent.patient.key, [sent]), "Appointment") == the(
            bundle(sent.patient.key, [unsaid]), "Appointment"
        )
    assert the(bundle(deleted.patient.key, [deleted]), "Appointment")["status"] == (
        "entered-in-error"
    )
    found = the(bundle(missed.patient.key, [missed]), "Appointment")
    assert (found["status"], found["start"]) == ("noshow", "2025-09-15T09:30:00-05:00")


def test_a_document_carries_its_text_as_base64() -> None:
    found = the(patient_bundle("mdm-t02-discharge-summary.hl7"), "DocumentReference")
    assert found["status"] == "current"
    assert found["docStatus"] == "final"  # TXA-17 AU
    attachment = found["content"][0]["attachment"]
    assert attachment["contentType"] == "text/plain"
    assert base64.b64decode(attachment["data"]).decode("utf-8").startswith("Admitted with")


# --- alerts ------------------------------------------------------------------------------


def test_an_alert_is_a_flag_that_a_resolution_closes() -> None:
    raised = {
        "alert_id": "a1",
        "rule": "critical-potassium",
        "severity": "CRITICAL",
        "patient_key": "GENHOSP|123",
        "title": "Potassium 6.9 mmol/L",
        "raised_at": "2026-11-28T10:00:00+01:00",
        "status": "RAISED",
    }
    flag = the(bundle("GENHOSP|123", [event()], [raised]), "Flag")
    assert flag["status"] == "active"
    assert flag["code"]["text"] == "Potassium 6.9 mmol/L"
    assert flag["period"] == {"start": "2026-11-28T10:00:00+01:00"}
    assert flag["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "PH"
    resolved = {**raised, "status": "RESOLVED", "changed_at": "2026-11-28T11:00:00+01:00"}
    (closed,) = resources(bundle("GENHOSP|123", [event()], [raised, resolved]), "Flag")
    assert closed["status"] == "inactive"
    assert closed["period"]["end"] == "2026-11-28T11:00:00+01:00"

"""One patient's events as a FHIR R4 ``Bundle`` of type ``collection``: pure, JSON-ready.

``bundle(patient_key, events, alerts)`` folds a patient's :class:`ClinicalEvent` values (in
the order given: the timeline's clinical order) and alert records into the resources a FHIR
client expects: Patient, Encounter, Observation, DiagnosticReport, ServiceRequest,
MedicationRequest, MedicationAdministration, MedicationDispense, AllergyIntolerance,
Condition (encounter diagnoses and the problem list), Immunization, Appointment,
DocumentReference, Procedure, Specimen and Flag (an alert); a referral is a
ServiceRequest.

- Every resource has a deterministic ``id``, a UUID, and the entry's ``fullUrl`` is
  ``urn:uuid:<id>``; references between resources use those fullUrls, so every reference
  resolves inside the bundle.  Resources made from one event (an observation, an
  administration) take their UUID from the event id and their index in it; resources that
  later events update (the patient, a visit, an order, an allergy, an appointment, a
  document) take theirs from the patient key and their own key (visit number, order number,
  code, document number), so the bundle holds one Encounter per visit and one
  ServiceRequest per order, in their latest state.
- Times: the events carry ISO 8601 as precise as sent; FHIR's ``dateTime`` allows a year,
  a month or a day, but a time of day needs seconds and an offset, so ``10:15-06:00``
  becomes ``10:15:00-06:00``.  ``instant`` elements (Appointment start/end,
  DocumentReference date) are given only when the time is complete.
- Codes: HL7 coding-system names become FHIR system URIs (``LN`` → ``http://loinc.org``,
  ``CVX`` → ``http://hl7.org/fhir/sid/cvx``, ...); a sender's local codes get a stable
  ``urn:hl7bus:codesystem:<sender>:<name>`` system.  Codes from FHIR's own code systems
  (gender, encounter class, interpretation, statuses) are set only when the HL7 value maps to
  one; otherwise the value is kept as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from hl7bus.events.model import (
    Allergy,
    ClinicalEvent,
    Diagnosis,
    EventType,
    Medication,
    Observation,
    Order,
    Problem,
    Procedure,
    Specimen,
)
from hl7bus.services.timeline.fhir_codes import (
    APPOINTMENT_EVENT_STATUS,
    APPOINTMENT_STATUS,
    CONDITION_ABATED,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    CVX,
    DOCUMENT_STATUS,
    ENCOUNTER_CLASSES,
    ENCOUNTER_STATUS,
    ENCOUNTER_STATUS_IF_NEW,
    FLAG_PRIORITIES,
    FLAG_PRIORITY,
    GENDERS,
    LOINC,
    MEDICATION_ORDER_STATUS,
    OBSERVATION_STATUS,
    ORDER_CONTROL_STATUS,
    ORDER_STATUS,
    PRIORITIES,
    PROCEDURE_TYPES,
    REFERRAL_CATEGORY,
    REFERRAL_STATUS,
    REPORT_STATUS,
    TERMINOLOGY,
    UCUM,
    UNKNOWN_CLASS,
    V3_ACT_REASON,
    V3_PARTICIPATION,
)
from hl7bus.services.timeline.fhir_datatypes import (
    NAMESPACE,
    Context,
    Resource,
    address,
    contact_point,
    decimal,
    drop_empty,
    ed_attachment,
    fhir_date,
    fhir_datetime,
    fhir_instant,
    human_name,
    identifier_type,
    in_order,
    interpretation,
    marital_status,
    moment,
    observation_value,
    period,
    provider,
    reference,
    resource_id,
    text_attachment,
    text_concept,
    ucum_quantity,
)

__all__ = [
    "CVX",
    "LOINC",
    "NAMESPACE",
    "UCUM",
    "bundle",
    "fhir_date",
    "fhir_datetime",
    "fhir_instant",
    "resource_id",
]


# --- the fold ----------------------------------------------------------------------------


_PATIENT_ORDER = (
    "resourceType",
    "id",
    "identifier",
    "name",
    "telecom",
    "gender",
    "birthDate",
    "deceasedBoolean",
    "deceasedDateTime",
    "address",
    "maritalStatus",
    "contact",
    "communication",
    "link",
)

# Choice elements ([x]) whose one value a later event may give in another type.
_CHOICE = re.compile(r"^(deceased|value|effective|occurrence|onset|medication|multipleBirth)[A-Z]")


class _Bundle:
    """Resources by key, in the order first seen; a later event updates a keyed resource."""

    def __init__(self, patient_key: str) -> None:
        self.patient_key = patient_key
        self.resources: dict[tuple[Any, ...], Resource] = {}
        self.urls: dict[tuple[Any, ...], str] = {}
        self.order_keys: dict[tuple[str, str], tuple[str, ...]] = {}

    def url(self, key: tuple[Any, ...]) -> str:
        return self.urls[key]

    def put(self, key: tuple[Any, ...], resource: Resource, *, keep: Sequence[str] = ()) -> str:
        """Add or update the resource of ``key``; its fields in ``keep`` stay as first set.
        Returns its fullUrl."""
        resource = drop_empty(resource)
        found = self.resources.get(key)
        if found is None:
            rid = resource_id(*key)
            self.resources[key] = {"resourceType": key[0], "id": rid, **resource}
            self.urls[key] = f"urn:uuid:{rid}"
        else:
            for name in resource:
                choice = _CHOICE.match(name)
                if choice:  # one value of a choice element: the new one replaces the old
                    for other in [k for k in found if k != name and k.startswith(choice[1])]:
                        if _CHOICE.match(other):
                            del found[other]
            found.update({k: v for k, v in resource.items() if k not in keep or k not in found})
        return self.urls[key]

    def order_key(self, order: Order, fallback: tuple[Any, ...]) -> tuple[Any, ...]:
        """One key per order, whichever of its placer and filler numbers an event gives."""
        numbers = [
            ("placer", order.placer_order_number),
            ("filler", order.filler_order_number),
        ]
        found = next(
            (self.order_keys[(k, n)] for k, n in numbers if n and (k, n) in self.order_keys),
            None,
        )
        if found is None:
            number = order.placer_order_number or order.filler_order_number
            found = (self.patient_key, "order", number) if number else fallback
        for kind, number in numbers:
            if number:
                self.order_keys.setdefault((kind, number), found)
        return found

    def entries(self) -> list[dict[str, Any]]:
        """The patient (and linked records) first, then the rest in the order first seen."""
        keys = sorted(self.resources, key=lambda key: key[0] != "Patient")
        return [{"fullUrl": self.urls[key], "resource": self.resources[key]} for key in keys]


_CONDITION_CATEGORIES = {
    "encounter-diagnosis": "Encounter Diagnosis",
    "problem-list-item": "Problem List Item",
}


def _categories(found: Resource | None, code: str) -> list[dict[str, Any]]:
    """A condition's categories: those it had, and ``code`` (an encounter diagnosis that is
    also on the problem list is both)."""
    category = {
        "coding": [
            {
                "system": TERMINOLOGY + "condition-category",
                "code": code,
                "display": _CONDITION_CATEGORIES[code],
            }
        ]
    }
    known = list(found.get("category", [])) if found else []
    return known if category in known else [*known, category]


def _not_in_error(found: Resource, verification: str | None) -> None:
    """A condition said again (not deleted) is no longer entered in error, unless the new
    word says so."""
    if verification != "entered-in-error" and "entered-in-error" in str(
        found.get("verificationStatus")
    ):
        del found["verificationStatus"]


def _order_identifiers(order: Order) -> list[dict[str, Any]]:
    found = []
    for code, number in (("PLAC", order.placer_order_number), ("FILL", order.filler_order_number)):
        if number:
            found.append({"type": identifier_type(code), "value": number})
    return found


def _priority(value: str | None) -> str | None:
    return PRIORITIES.get((value or "").strip().upper())


def _notes(notes: Sequence[str]) -> list[dict[str, str]]:
    return [{"text": n} for n in notes if n]


class _Builder:
    def __init__(self, patient_key: str) -> None:
        self.key = patient_key
        self.out = _Bundle(patient_key)
        self.patient_url = self.out.put(("Patient", patient_key), {})
        self.identifiers: list[tuple[str | None, str, dict[str, Any]]] = []
        self.old_identifiers: set[tuple[str | None, str]] = set()
        self.links: dict[str, list[dict[str, Any]]] = {}  # linked key → its identifiers

    # -- the patient --

    def patient(self, event: ClinicalEvent, ctx: Context, demographics: bool) -> None:
        for ident in event.patient.identifiers:
            found = ctx.identifier(ident)
            key = (found.get("system"), ident.value)
            if all((s, v) != key for s, v, _ in self.identifiers):
                self.identifiers.append((key[0], key[1], found))
        if not demographics:
            return
        p = event.patient
        deceased: dict[str, Any] = {}
        when = fhir_datetime(p.deceased_at)
        if when is not None:
            deceased = {"deceasedDateTime": when}
        elif p.deceased is not None:
            deceased = {"deceasedBoolean": p.deceased}
        contacts = [  # pat-1: a contact needs a name, a telecom, an address or an organization
            drop_empty(
                {
                    "relationship": [text_concept(person.relationship)]
                    if person.relationship
                    else [],
                    "name": human_name(person.name),
                    "telecom": [contact_point(t) for t in person.phones],
                }
            )
            for person in event.payload.next_of_kin
            if human_name(person.name) or person.phones
        ]
        self.out.put(
            ("Patient", self.key),
            {
                "name": [n] if (n := human_name(p.name)) else [],
                "telecom": [contact_point(t) for t in p.phones],
                "gender": GENDERS.get((p.sex or "").strip().upper()),
                "birthDate": fhir_date(p.birth_date),
                **deceased,
                "address": [a for a in (address(a) for a in p.address) if a],
                "maritalStatus": marital_status(p.marital_status),
                "contact": [c for c in contacts if c],
                "communication": [{"language": {"text": p.language}}] if p.language else [],
            },
        )

    def merge(self, event: ClinicalEvent, ctx: Context) -> None:
        merge = event.payload.merge
        if merge is None:
            return
        if event.event_type == EventType.PATIENT_MERGED:
            for ident in merge.prior_identifiers:
                found = ctx.identifier(ident)
                key = (found.get("system"), ident.value)
                self.old_identifiers.add(key)
                if all((s, v) != key for s, v, _ in self.identifiers):
                    self.identifiers.append((key[0], key[1], found))
        elif merge.prior_patient_key and event.event_type == EventType.PATIENT_LINKED:
            if merge.prior_patient_key == self.key:
                return
            other = merge.prior_patient_key
            self.links[other] = [ctx.identifier(i) for i in merge.prior_identifiers]
        elif merge.prior_patient_key and event.event_type == EventType.PATIENT_UNLINKED:
            self.links.pop(merge.prior_patient_key, None)

    def finish_patient(self) -> None:
        identifiers = []
        for system, value, found in self.identifiers:
            if (system, value) in self.old_identifiers:
                found = {"use": "old", **found}
            identifiers.append(found)
        links = [
            {
                "other": reference(self.out.put(("Patient", other), {"identifier": ids})),
                "type": "seealso",
            }
            for other, ids in self.links.items()
        ]
        key = ("Patient", self.key)
        self.out.put(key, {"identifier": identifiers, "link": links})
        found = self.out.resources[key]
        self.out.resources[key] = {
            name: found[name]
            for name in (*_PATIENT_ORDER, *found)
            if name in found  # FHIR's element order, for the reader
        }

    # -- the visit --

    def encounter(self, event: ClinicalEvent, ctx: Context) -> str | None:
        visit = event.encounter
        if visit is None:
            return None
        is_adt = event.source.message_type == "ADT"
        if visit.visit_number:
            key: tuple[Any, ...] = ("Encounter", self.key, "visit", visit.visit_number)
        elif is_adt:
            key = ("Encounter", self.key, "adt", visit.admitted_at or "")
        else:
            key = ("Encounter", event.event_id)
        status = ENCOUNTER_STATUS.get(event.event_type) if is_adt else None
        if is_adt and event.event_type == EventType.PATIENT_UPDATED and visit.discharged_at:
            status = "finished"
        if status is None and key not in self.out.resources:
            new = ENCOUNTER_STATUS_IF_NEW.get(event.event_type) if is_adt else None
            status = "finished" if visit.discharged_at else new or "unknown"
        kind = ENCOUNTER_CLASSES.get((visit.patient_class or "").lower(), UNKNOWN_CLASS)
        locations = []
        for place, state in ((visit.location, "active"), (visit.prior_location, "completed")):
            display = _location_display(place)
            if display:
                locations.append({"location": {"display": display}, "status": state})
        participants = []
        for role, display, who in (
            ("ATND", "attender", visit.attending),
            ("REF", "referrer", visit.referring),
            ("ADM", "admitter", visit.admitting),
        ):
            ref = provider(who)
            if ref:
                participants.append(
                    {
                        "type": [
                            {
                                "coding": [
                                    {"system": V3_PARTICIPATION, "code": role, "display": display}
                                ]
                            }
                        ],
                        "individual": ref,
                    }
                )
        resource: Resource = {
            "identifier": [
                {
                    "type": identifier_type("VN"),
                    "system": ctx.authority_system(None),
                    "value": visit.visit_number,
                }
            ]
            if visit.visit_number
            else [],
            "status": status,
            "class": {"system": kind[0], "code": kind[1], "display": kind[2]},
            "serviceType": text_concept(visit.hospital_service),
            "subject": reference(self.patient_url),
            "participant": participants,
            "period": period(visit.admitted_at, visit.discharged_at),
            "hospitalization": {"dischargeDisposition": text_concept(visit.discharge_disposition)}
            if visit.discharge_disposition
            else None,
            "location": locations,
        }
        if not is_adt and key in self.out.resources:
            # a result or an order names the visit; the ADT feed says where it stands
            return self.out.url(key)
        if resource.get("identifier"):
            resource["identifier"] = [drop_empty(i) for i in resource["identifier"]]
        return self.out.put(key, resource)

    # -- clinical content --

    def allergy(self, allergy: Allergy, ctx: Context, encounter: str | None) -> None:
        label = allergy.code or (allergy.display or "").lower()
        if not label:
            return
        severity = (allergy.severity or "").strip().upper()
        reaction_severity, criticality = {
            "SV": ("severe", "high"),
            "SEVERE": ("severe", "high"),
            "MO": ("moderate", "low"),
            "MODERATE": ("moderate", "low"),
            "MI": ("mild", "low"),
            "MILD": ("mild", "low"),
            "U": (None, "unable-to-assess"),
            "UNKNOWN": (None, "unable-to-assess"),
        }.get(severity, (None, None))
        category = _allergy_category(allergy.category)
        key = ("AllergyIntolerance", self.key, allergy.code_system or "", label)
        deleted = (allergy.action or "").upper() == "D"  # IAM-6 (A60)
        self.out.put(
            key,
            {
                "clinicalStatus": None
                if deleted
                else {
                    "coding": [
                        {
                            "system": TERMINOLOGY + "allergyintolerance-clinical",
                            "code": "active",
                        }
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        {
                            "system": TERMINOLOGY + "allergyintolerance-verification",
                            "code": "entered-in-error",
                        }
                    ]
                }
                if deleted
                else None,
                "category": [category] if category else [],
                "criticality": criticality,
                "code": ctx.concept(allergy.code, allergy.code_system, allergy.display),
                "patient": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "onsetDateTime": fhir_datetime(allergy.identified_at),
                "reaction": [
                    drop_empty({"manifestation": [{"text": r}], "severity": reaction_severity})
                    for r in allergy.reactions
                ],
            },
        )
        # FHIR ait-2: an allergy entered in error has no clinical status; one sent again
        # after its deletion is no longer in error
        stored = self.out.resources[key]
        if deleted:
            stored.pop("clinicalStatus", None)
        elif "entered-in-error" in str(stored.get("verificationStatus")):
            del stored["verificationStatus"]

    def procedure(self, procedure: Procedure, ctx: Context, encounter: str | None) -> None:
        """PR1: one Procedure per procedure (by PR1-19, else code and time), in its latest
        state; one deleted (PR1-20 D) was entered in error."""
        label = procedure.code or (procedure.description or procedure.display or "").lower()
        if not label:
            return
        if procedure.identifier:
            key: tuple[Any, ...] = ("Procedure", self.key, "id", procedure.identifier)
        else:
            key = (
                "Procedure",
                self.key,
                procedure.code_system or "",
                label,
                procedure.performed_at,
            )
        deleted = (procedure.action or "").upper() == "D"
        performers = [
            {"function": text_concept(role), "actor": provider(who)}
            for role, who in (
                ("surgeon", procedure.performer),
                ("anesthesiologist", procedure.anesthesiologist),
            )
            if provider(who)
        ]
        code = ctx.concept(procedure.code, procedure.code_system, procedure.display)
        described = procedure.description and procedure.description != procedure.display
        self.out.put(
            key,
            {
                "identifier": [{"value": procedure.identifier}] if procedure.identifier else [],
                "status": "entered-in-error" if deleted else "completed",
                "category": text_concept(PROCEDURE_TYPES.get((procedure.type or "").upper())),
                "code": code or text_concept(procedure.description),
                "subject": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "performedDateTime": fhir_datetime(procedure.performed_at),
                "performer": performers,
                "note": [{"text": procedure.description}] if code and described else [],
            },
        )

    def condition(self, diagnosis: Diagnosis, ctx: Context, encounter: str | None) -> str | None:
        label = diagnosis.code or (diagnosis.display or "").lower()
        if not label:
            return None
        verification = {"A": "provisional", "W": "provisional", "F": "confirmed"}.get(
            (diagnosis.type or "").strip().upper()[:1]
        )
        key = ("Condition", self.key, diagnosis.code_system or "", label)
        category = _categories(self.out.resources.get(key), "encounter-diagnosis")
        self.out.put(
            key,
            {
                "clinicalStatus": {
                    "coding": [{"system": TERMINOLOGY + "condition-clinical", "code": "active"}]
                },
                "verificationStatus": {
                    "coding": [
                        {"system": TERMINOLOGY + "condition-ver-status", "code": verification}
                    ]
                }
                if verification
                else None,
                "category": category,
                "code": ctx.concept(diagnosis.code, diagnosis.code_system, diagnosis.display),
                "subject": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "onsetDateTime": fhir_datetime(diagnosis.diagnosed_at),
            },
        )
        stored = self.out.resources[key]
        stored.pop("abatementDateTime", None)  # diagnosed again: active (FHIR con-4)
        _not_in_error(stored, verification)
        return self.out.url(key)

    def problem(
        self, event: ClinicalEvent, problem: Problem, ctx: Context, encounter: str | None
    ) -> None:
        """A problem of the problem list (PRB) is the Condition of its code, in its latest
        state: PRB-14 its clinical status (resolved when PRB-9 says so), PRB-13 its
        verification; one deleted was entered in error."""
        label = problem.code or (problem.display or "").lower()
        if not label:
            return
        key = ("Condition", self.key, problem.code_system or "", label)
        deleted = (
            event.event_type == EventType.PROBLEM_REMOVED or (problem.action or "").upper() == "DE"
        )
        clinical = (problem.status or "").strip().lower()
        clinical = clinical if clinical in CONDITION_CLINICAL else "active"
        if problem.resolved_at and clinical not in CONDITION_ABATED:
            clinical = "resolved"  # FHIR con-4: an abated condition is no longer active
        verification = (problem.confirmation_status or "").strip().lower()
        verification = "entered-in-error" if deleted else verification
        onset = fhir_datetime(problem.onset_at)
        category = _categories(self.out.resources.get(key), "problem-list-item")
        self.out.put(
            key,
            {
                "clinicalStatus": None
                if deleted
                else {"coding": [{"system": TERMINOLOGY + "condition-clinical", "code": clinical}]},
                "verificationStatus": {
                    "coding": [
                        {"system": TERMINOLOGY + "condition-ver-status", "code": verification}
                    ]
                }
                if verification in CONDITION_VERIFICATION
                else None,
                "category": category,
                "code": ctx.concept(problem.code, problem.code_system, problem.display),
                "subject": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "onsetDateTime": onset,
                "onsetString": None if onset else problem.onset_text,
                "abatementDateTime": fhir_datetime(problem.resolved_at),
                "recordedDate": fhir_datetime(problem.established_at),
                "note": _notes(problem.notes),
            },
        )
        stored = self.out.resources[key]
        if deleted:  # FHIR con-5: a condition entered in error has no clinical status
            stored.pop("clinicalStatus", None)
        else:
            _not_in_error(stored, verification)
            if clinical not in CONDITION_ABATED:
                stored.pop("abatementDateTime", None)

    def service_request(
        self,
        event: ClinicalEvent,
        order: Order,
        index: int,
        ctx: Context,
        encounter: str | None,
        reasons: list[str],
        results_final: bool,
    ) -> tuple[tuple[Any, ...], str]:
        key = ("ServiceRequest", *self.out.order_key(order, (event.event_id, index)))
        status = ORDER_STATUS.get((order.status or "").upper())
        if status is None:
            status = ORDER_CONTROL_STATUS.get((order.control or "").upper())
        if event.event_type == EventType.ORDER_CANCELLED:
            status = "revoked"
        if status is None:
            if event.event_type == EventType.OBSERVATIONS_REPORTED:
                status = "completed" if results_final else "active"
            else:
                status = "active" if event.event_type == EventType.ORDER_PLACED else None
        keep = ("status",) if status is None else ()
        url = self.out.put(
            key,
            {
                "identifier": _order_identifiers(order),
                "requisition": {"value": order.placer_group_number}
                if order.placer_group_number
                else None,
                "status": status or "unknown",
                "intent": "order",
                "priority": _priority(order.priority),
                "code": ctx.concept(order.code, order.code_system, order.display),
                "subject": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "occurrenceDateTime": fhir_datetime(order.observed_at),
                "authoredOn": fhir_datetime(order.ordered_at),
                "requester": provider(order.ordering_provider),
                "reasonReference": [reference(r) for r in reasons],
                "note": _notes(order.notes),
            },
            keep=keep,
        )
        return key, url

    def observation(
        self,
        event: ClinicalEvent,
        obs: Observation,
        index: int,
        ctx: Context,
        encounter: str | None,
        based_on: str | None,
        part_of: str | None,
        specimen: str | None = None,
    ) -> str:
        code = ctx.concept(obs.code, obs.code_system, obs.display) or {"text": "unspecified"}
        if obs.local_code:
            code.setdefault("coding", []).append(
                {"system": ctx.system(None), "code": obs.local_code}
            )
        when = fhir_datetime(obs.observed_at)
        return self.out.put(
            ("Observation", event.event_id, index),
            {
                "basedOn": [reference(based_on)] if based_on else [],
                "partOf": [reference(part_of)] if part_of else [],
                "status": OBSERVATION_STATUS.get((obs.status or "").strip().upper(), "unknown"),
                "code": code,
                "subject": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "effectiveDateTime": when,
                **observation_value(ctx, obs),
                "interpretation": interpretation(obs.abnormal_flags),
                "note": _notes(obs.notes),
                "specimen": reference(specimen) if specimen else None,
                "referenceRange": [{"text": obs.reference_range}] if obs.reference_range else [],
            },
        )

    def specimen(self, event: ClinicalEvent, specimen: Specimen, index: int, ctx: Context) -> str:
        """SPM: one Specimen per specimen id (else per event and position); one the
        laboratory rejected (SPM-21) is unsatisfactory."""
        if specimen.specimen_id:
            key: tuple[Any, ...] = ("Specimen", self.key, specimen.specimen_id)
        else:
            key = ("Specimen", event.event_id, index)
        reason = specimen.rejection_reason
        return self.out.put(
            key,
            {
                "identifier": [{"value": specimen.specimen_id}] if specimen.specimen_id else [],
                "status": "unsatisfactory" if reason else None,
                "type": ctx.concept(specimen.type, specimen.type_system, specimen.type_display),
                "subject": reference(self.patient_url),
                "receivedTime": fhir_datetime(specimen.received_at),
                "collection": drop_empty(
                    {
                        "collectedDateTime": fhir_datetime(specimen.collected_at),
                        "bodySite": text_concept(specimen.source_site),
                    }
                ),
                "container": [{"identifier": [{"value": c}]} for c in specimen.container_ids],
                "note": [{"text": f"Rejected: {reason}"}] if reason else [],
            },
        )

    def report(
        self,
        event: ClinicalEvent,
        order_key: tuple[Any, ...],
        order: Order,
        ctx: Context,
        encounter: str | None,
        based_on: str,
        results: list[str],
        result_statuses: list[str],
        forms: list[dict[str, Any]],
    ) -> None:
        status = REPORT_STATUS.get((order.status or "").strip().upper())
        if status is None:
            if result_statuses and all(s == "final" for s in result_statuses):
                status = "final"
            elif any(s == "preliminary" for s in result_statuses):
                status = "preliminary"
            else:
                status = "unknown"
        self.out.put(
            ("DiagnosticReport", *order_key[1:]),
            {
                "identifier": _order_identifiers(order),
                "basedOn": [reference(based_on)],
                "status": status,
                "code": ctx.concept(order.code, order.code_system, order.display)
                or {"text": "results"},
                "subject": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "effectiveDateTime": fhir_datetime(order.observed_at),
                "result": [reference(r) for r in results],
                "presentedForm": forms,
            },
        )

    def medication_request_key(
        self, event: ClinicalEvent, order: Order, order_index: int
    ) -> tuple[Any, ...]:
        return ("MedicationRequest", *self.out.order_key(order, (event.event_id, order_index)))

    def medication_request(
        self,
        event: ClinicalEvent,
        order: Order,
        order_index: int,
        med: Medication | None,
        index: int,
        ctx: Context,
        encounter: str | None,
    ) -> None:
        key = self.medication_request_key(event, order, order_index)
        if index:
            key = (*key, index)
        status = MEDICATION_ORDER_STATUS.get((order.control or "").upper())
        status = MEDICATION_ORDER_STATUS.get((order.status or "").upper(), status)
        if status is None and event.event_type == EventType.ORDER_CANCELLED:
            status = "cancelled"
        if med is None:
            if key in self.out.resources and status:
                self.out.put(key, {"status": status})
            return
        self.out.put(
            key,
            {
                "identifier": _order_identifiers(order),
                "status": status or "active",
                "intent": "order",
                "priority": _priority(order.priority),
                "medicationCodeableConcept": _medication(ctx, med),
                "subject": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "authoredOn": fhir_datetime(order.ordered_at),
                "requester": provider(order.ordering_provider),
                "note": _notes(order.notes),
                "dosageInstruction": [_dosage(med)],
                "dispenseRequest": {"quantity": {"value": amount}}
                if (amount := decimal(med.dispense_amount)) is not None
                else None,
            },
        )

    def administration(
        self,
        event: ClinicalEvent,
        med: Medication,
        index: int,
        order: Order | None,
        ctx: Context,
        encounter: str | None,
    ) -> str | None:
        when = (
            fhir_datetime(med.administered_at)
            or fhir_datetime(event.occurred_at)
            or fhir_datetime(event.recorded_at)
        )
        if when is None:
            return None
        status = (med.completion_status or "CP").strip().upper()
        fhir_status = {"CP": "completed", "RE": "not-done", "NA": "not-done", "PA": "stopped"}
        request = None
        if order is not None:
            key = self.medication_request_key(event, order, med.order_index or 0)
            if key in self.out.resources:
                request = reference(self.out.url(key))
        dose = decimal(med.dose)
        return self.out.put(
            ("MedicationAdministration", event.event_id, index),
            {
                "status": fhir_status.get(status, "unknown"),
                "statusReason": [{"text": med.completion_status}] if status in ("RE", "NA") else [],
                "medicationCodeableConcept": _medication(ctx, med),
                "subject": reference(self.patient_url),
                "context": reference(encounter) if encounter else None,
                "effectiveDateTime": when,
                "request": request,
                "dosage": drop_empty(
                    {"route": text_concept(med.route), "dose": ucum_quantity(dose, med.dose_units)}
                )
                if dose is not None
                else None,
            },
        )

    def dispense(
        self,
        event: ClinicalEvent,
        med: Medication,
        index: int,
        order: Order | None,
        ctx: Context,
        encounter: str | None,
    ) -> str:
        """RXD: a MedicationDispense, pointing at the MedicationRequest of its order when
        the bundle has it."""
        request = None
        if order is not None:
            key = self.medication_request_key(event, order, med.order_index or 0)
            if key in self.out.resources:
                request = reference(self.out.url(key))
        amount = decimal(med.dispense_amount)
        dosage = _dosage(med)
        return self.out.put(
            ("MedicationDispense", event.event_id, index),
            {
                "identifier": [{"value": med.prescription_number}]
                if med.prescription_number
                else [],
                "status": "completed",
                "medicationCodeableConcept": _medication(ctx, med),
                "subject": reference(self.patient_url),
                "context": reference(encounter) if encounter else None,
                "authorizingPrescription": [request] if request else [],
                "quantity": ucum_quantity(amount, med.dispense_units)
                if amount is not None
                else None,
                "whenHandedOver": fhir_datetime(med.dispensed_at),
                "dosageInstruction": [dosage] if dosage else [],
            },
        )

    def referral(
        self, event: ClinicalEvent, ctx: Context, encounter: str | None, reasons: list[str]
    ) -> None:
        """RF1 and PRD: the referral as a ServiceRequest (category: patient referral) in its
        latest state, from the referring to the referred-to provider; a cancelled one is
        revoked."""
        found = event.payload.referral
        if found is None:
            return
        number = found.referral_id or found.external_id
        if number:
            key: tuple[Any, ...] = ("ServiceRequest", self.key, "referral", number)
        else:
            key = ("ServiceRequest", event.event_id, "referral")
        status = REFERRAL_STATUS.get((found.status or "").strip().upper(), "active")
        if event.event_type == EventType.REFERRAL_CANCELLED:
            status = "revoked"
        self.out.put(
            key,
            {
                "identifier": [{"value": n} for n in (found.referral_id, found.external_id) if n],
                "status": status,
                "intent": "order",
                "category": [{"coding": [REFERRAL_CATEGORY]}],
                "priority": _priority(found.priority),
                "subject": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                "occurrencePeriod": period(found.effective_at, found.expires_at),
                "authoredOn": fhir_datetime(event.occurred_at or event.recorded_at),
                "requester": provider(found.referring),
                "performer": [p] if (p := provider(found.referred_to)) else [],
                "reasonReference": [reference(r) for r in reasons],
            },
            keep=("authoredOn",),
        )

    def immunization(
        self,
        event: ClinicalEvent,
        med: Medication,
        index: int,
        ctx: Context,
        encounter: str | None,
    ) -> str:
        status = (med.completion_status or "CP").strip().upper()
        not_done = status in ("RE", "NA")
        when = fhir_datetime(med.administered_at) or fhir_datetime(event.occurred_at)
        dose = decimal(med.dose)
        reason = None
        if status == "RE":
            reason = {"coding": [{"system": V3_ACT_REASON, "code": "PATOBJ"}], "text": "refused"}
        elif status == "NA":
            reason = {"text": "not administered"}
        return self.out.put(
            ("Immunization", event.event_id, index),
            {
                "status": "not-done" if not_done else "completed",
                "statusReason": reason,
                "vaccineCode": ctx.concept(med.code, med.code_system, med.display)
                or {"text": "unspecified"},
                "patient": reference(self.patient_url),
                "encounter": reference(encounter) if encounter else None,
                **({"occurrenceDateTime": when} if when else {"occurrenceString": "unknown"}),
                "manufacturer": {"display": med.manufacturer} if med.manufacturer else None,
                "lotNumber": med.lot_number,
                "route": text_concept(med.route),
                "doseQuantity": ucum_quantity(dose, med.dose_units)
                if dose is not None and dose != 999  # 999: amount unknown (CDC guide)
                else None,
                "isSubpotent": True if status == "PA" else None,
            },
        )

    def appointment(self, event: ClinicalEvent, ctx: Context) -> None:
        appt = event.payload.appointment
        if appt is None:
            return
        number = appt.placer_id or appt.filler_id
        key = ("Appointment", self.key, number) if number else ("Appointment", event.event_id)
        status = APPOINTMENT_EVENT_STATUS.get(event.event_type) or APPOINTMENT_STATUS.get(
            (appt.status or "").strip().upper(), "booked"
        )
        start, end = fhir_instant(appt.start), fhir_instant(appt.end)
        if start and not end and appt.duration_minutes:
            end = fhir_instant(
                (moment(start) + timedelta(minutes=appt.duration_minutes)).isoformat()  # type: ignore[operator]
            )
        if not (start and end) or not in_order(start, end):
            start = end = None
        requested = None
        if start is None and status not in ("proposed", "cancelled", "waitlist"):
            # FHIR (app-3) lets only proposed, cancelled and waitlisted appointments go
            # without a start and an end: the time asked for is kept as requested.
            requested = period(appt.start, appt.end)
            status = "proposed"
        participants = [{"actor": reference(self.patient_url), "status": "accepted"}]
        for resource in appt.resources:
            participants.append({"actor": {"display": resource}, "status": "accepted"})
        if appt.location and appt.location not in appt.resources:
            participants.append({"actor": {"display": appt.location}, "status": "accepted"})
        self.out.put(
            key,
            {
                "identifier": [
                    {"type": identifier_type(code), "value": value}
                    for code, value in (("PLAC", appt.placer_id), ("FILL", appt.filler_id))
                    if value
                ],
                "status": status,
                "appointmentType": text_concept(appt.type),
                "reasonCode": [text_concept(appt.reason)] if appt.reason else [],
                "start": start,
                "end": end,
                "minutesDuration": appt.duration_minutes
                if appt.duration_minutes and appt.duration_minutes > 0
                else None,
                "requestedPeriod": [requested] if requested else [],
                "participant": participants,
            },
        )

    def document(self, event: ClinicalEvent, ctx: Context, encounter: str | None) -> None:
        doc = event.payload.document
        if doc is None:
            return
        number = doc.document_id
        key = (
            ("DocumentReference", self.key, number)
            if number
            else ("DocumentReference", event.event_id)
        )
        attachment = None
        if doc.content:
            attachment = ed_attachment(doc.content, doc.type) or text_attachment(
                doc.content, doc.type
            )
        resource: Resource = {
            "masterIdentifier": {"value": number} if number else None,
            "status": "entered-in-error" if event.source.trigger_event == "T11" else "current",
            "docStatus": DOCUMENT_STATUS.get((doc.status or "").strip().upper()),
            "type": text_concept(doc.type),
            "subject": reference(self.patient_url),
            "date": fhir_instant(doc.activity_at),
            "author": [a] if (a := provider(doc.author)) else [],
            "content": [{"attachment": attachment}] if attachment else [],
            "context": {"encounter": [reference(encounter)]} if encounter else None,
        }
        self.out.put(key, resource)
        found = self.out.resources[key]
        if "content" not in found:  # content is required: a notice without the text says so
            found["content"] = [{"attachment": {"title": doc.type or "document"}}]

    def flag(self, alert: Any) -> None:
        """An alert (a ``ClinicalAlert`` value or its record) as a Flag; later records of the
        same alert (acknowledged, resolved) update it."""

        def get(name: str) -> Any:
            found = alert.get(name) if isinstance(alert, Mapping) else getattr(alert, name, None)
            return getattr(found, "value", found)  # an enum member: its symbol

        alert_id = get("alert_id")
        if not alert_id:
            return
        resolved = str(get("status") or "").upper() == "RESOLVED"
        priority = FLAG_PRIORITIES.get(str(get("severity") or "").upper())
        rule = get("rule")
        self.out.put(
            ("Flag", alert_id),
            {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/flag-priority",
                        "valueCodeableConcept": {
                            "coding": [{"system": FLAG_PRIORITY, "code": priority}]
                        },
                    }
                ]
                if priority
                else [],
                "identifier": [{"system": "urn:hl7bus:alert", "value": alert_id}],
                "status": "inactive" if resolved else "active",
                "category": [
                    {
                        "coding": [
                            {
                                "system": TERMINOLOGY + "flag-category",
                                "code": "clinical",
                                "display": "Clinical",
                            }
                        ]
                    }
                ],
                "code": drop_empty(
                    {
                        "coding": [{"system": "urn:hl7bus:alert-rule", "code": rule}]
                        if rule
                        else [],
                        "text": get("title"),
                    }
                )
                or {"text": "alert"},
                "subject": reference(self.patient_url),
                "period": period(get("raised_at"), get("changed_at") if resolved else None),
            },
        )


def _location_display(place: Any) -> str | None:
    if place is None:
        return None
    parts = [place.point_of_care, place.room, place.bed]
    text = " ".join(p for p in parts if p)
    where = ", ".join(p for p in (text, place.building, place.floor, place.facility) if p)
    return where or None


def _allergy_category(value: str | None) -> str | None:
    """AL1-2 (table 0127, a code or its text) → AllergyIntolerance.category."""
    if not value:
        return None
    upper = value.strip().upper()
    by_code = {
        "DA": "medication",
        "FA": "food",
        "EA": "environment",
        "AA": "environment",
        "PA": "environment",
        "LA": "environment",
    }
    if upper in by_code:
        return by_code[upper]
    for word, category in (
        ("DRUG", "medication"),
        ("MEDIC", "medication"),
        ("FOOD", "food"),
        ("ENVIRON", "environment"),
        ("ANIMAL", "environment"),
        ("PLANT", "environment"),
        ("POLLEN", "environment"),
    ):
        if word in upper:
            return category
    return None


def _medication(ctx: Context, med: Medication) -> dict[str, Any]:
    return ctx.concept(med.code, med.code_system, med.display) or {"text": "unspecified"}


def _dosage(med: Medication) -> dict[str, Any]:
    dose = decimal(med.dose)
    words = [w for w in (med.dose, med.dose_units, med.route, med.frequency) if w]
    return drop_empty(
        {
            "text": " ".join(words),
            "timing": {"code": {"text": med.frequency}} if med.frequency else None,
            "route": text_concept(med.route),
            "doseAndRate": [{"doseQuantity": ucum_quantity(dose, med.dose_units)}]
            if dose is not None
            else [],
        }
    )


def _is_pharmacy_order(event: ClinicalEvent) -> bool:
    return event.event_type == EventType.MEDICATION_ORDERED or (event.source.message_type == "RDE")


def _events_content(builder: _Builder, event: ClinicalEvent, ctx: Context) -> None:
    encounter = builder.encounter(event, ctx)
    payload = event.payload
    for allergy in payload.allergies:
        builder.allergy(allergy, ctx, encounter)
    reasons = [
        url
        for url in (builder.condition(d, ctx, encounter) for d in payload.diagnoses)
        if url is not None
    ]
    for procedure in payload.procedures:
        builder.procedure(procedure, ctx, encounter)
    for problem in payload.problems:
        builder.problem(event, problem, ctx, encounter)
    builder.referral(event, ctx, encounter, reasons)
    specimens = [builder.specimen(event, s, i, ctx) for i, s in enumerate(payload.specimens)]
    kind = event.event_type
    administered = kind in (EventType.MEDICATION_ADMINISTERED, EventType.IMMUNIZATION_RECORDED)
    dispensed = kind == EventType.MEDICATION_DISPENSED
    statuses = [
        OBSERVATION_STATUS.get((o.status or "").upper(), "unknown") for o in payload.observations
    ]

    # orders: what the observations point at
    order_urls: dict[int, str] = {}
    order_keys: dict[int, tuple[Any, ...]] = {}
    if _is_pharmacy_order(event):
        for i, order in enumerate(payload.orders):
            meds = [m for m in payload.medications if (m.order_index or 0) == i]
            if not meds:
                builder.medication_request(event, order, i, None, 0, ctx, encounter)
            for j, med in enumerate(meds):
                builder.medication_request(event, order, i, med, j, ctx, encounter)
            key = builder.medication_request_key(event, order, i)
            if key in builder.out.resources:
                order_urls[i] = builder.out.url(key)
    elif not administered and not dispensed:
        for i, order in enumerate(payload.orders):
            mine = [
                s for o, s in zip(payload.observations, statuses, strict=True) if o.order_index == i
            ]
            final = bool(mine) and all(s in ("final", "corrected", "amended") for s in mine)
            order_keys[i], order_urls[i] = builder.service_request(
                event, order, i, ctx, encounter, reasons, final
            )

    # administrations: what the observations are part of
    part_of: str | None = None
    if administered:
        orders = payload.orders
        for j, med in enumerate(payload.medications):
            order = (
                orders[med.order_index]
                if med.order_index is not None and med.order_index < len(orders)
                else None
            )
            if kind == EventType.IMMUNIZATION_RECORDED:
                url = builder.immunization(event, med, j, ctx, encounter)
            else:
                url = builder.administration(event, med, j, order, ctx, encounter)
            part_of = part_of or url
    if dispensed:
        for j, med in enumerate(payload.medications):
            index = med.order_index
            order = (
                payload.orders[index] if index is not None and index < len(payload.orders) else None
            )
            builder.dispense(event, med, j, order, ctx, encounter)

    results: dict[int, list[str]] = {}
    result_statuses: dict[int, list[str]] = {}
    forms: dict[int, list[dict[str, Any]]] = {}
    for index, obs in enumerate(payload.observations):
        based_on = order_urls.get(obs.order_index) if obs.order_index is not None else None
        if (obs.value_type or "").upper() == "ED" and obs.order_index in order_keys:
            attachment = ed_attachment(obs.value, obs.display)
            if attachment is not None:
                forms.setdefault(obs.order_index, []).append(attachment)
                continue
        specimen = (
            specimens[obs.specimen_index]
            if obs.specimen_index is not None and obs.specimen_index < len(specimens)
            else None
        )
        url = builder.observation(
            event, obs, index, ctx, encounter, based_on, part_of, specimen=specimen
        )
        if obs.order_index is not None:
            results.setdefault(obs.order_index, []).append(url)
            result_statuses.setdefault(obs.order_index, []).append(statuses[index])

    if kind == EventType.OBSERVATIONS_REPORTED:
        for i, order in enumerate(payload.orders):
            builder.report(
                event,
                order_keys[i],
                order,
                ctx,
                encounter,
                order_urls[i],
                results.get(i, []),
                result_statuses.get(i, []),
                forms.get(i, []),
            )

    builder.appointment(event, ctx)
    builder.document(event, ctx, encounter)


def bundle(patient_key: str, events: Sequence[ClinicalEvent], alerts: Sequence[Any] = ()) -> dict:
    """The FHIR R4 ``Bundle`` (type ``collection``) of one patient: a JSON-ready dict.

    ``events`` are the patient's events in timeline order (a merged-away record's events
    included); a later event updates what an earlier one said.  ``alerts`` are
    ``ClinicalAlert`` records (mappings or objects with the record's fields), each a
    ``Flag``."""
    builder = _Builder(patient_key)
    own = any(e.patient.key == patient_key for e in events)
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:  # a repeated event id changes nothing
            continue
        seen.add(event.event_id)
        ctx = Context(event)
        builder.patient(event, ctx, demographics=not own or event.patient.key == patient_key)
        builder.merge(event, ctx)
        _events_content(builder, event, ctx)
    for alert in alerts:
        builder.flag(alert)
    builder.finish_patient()
    return {
        "resourceType": "Bundle",
        "id": resource_id("Bundle", patient_key, *(e.event_id for e in events)),
        "type": "collection",
        "entry": builder.out.entries(),
    }

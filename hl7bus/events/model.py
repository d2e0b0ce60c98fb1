"""The canonical clinical event: frozen, typed values, one class per record of
``schemas/clinical_event.avsc``.  Field names are the contract of DESIGN.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class EventType(str, Enum):
    PATIENT_REGISTERED = "PATIENT_REGISTERED"
    PATIENT_PREADMITTED = "PATIENT_PREADMITTED"
    PATIENT_ADMITTED = "PATIENT_ADMITTED"
    PATIENT_TRANSFERRED = "PATIENT_TRANSFERRED"
    PATIENT_DISCHARGED = "PATIENT_DISCHARGED"
    PATIENT_UPDATED = "PATIENT_UPDATED"
    PATIENT_MERGED = "PATIENT_MERGED"
    PATIENT_LINKED = "PATIENT_LINKED"
    PATIENT_UNLINKED = "PATIENT_UNLINKED"
    ADMISSION_CANCELLED = "ADMISSION_CANCELLED"
    TRANSFER_CANCELLED = "TRANSFER_CANCELLED"
    DISCHARGE_CANCELLED = "DISCHARGE_CANCELLED"
    OBSERVATIONS_REPORTED = "OBSERVATIONS_REPORTED"
    ORDER_PLACED = "ORDER_PLACED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_STATUS_CHANGED = "ORDER_STATUS_CHANGED"
    MEDICATION_ORDERED = "MEDICATION_ORDERED"
    MEDICATION_ADMINISTERED = "MEDICATION_ADMINISTERED"
    IMMUNIZATION_RECORDED = "IMMUNIZATION_RECORDED"
    APPOINTMENT_BOOKED = "APPOINTMENT_BOOKED"
    APPOINTMENT_RESCHEDULED = "APPOINTMENT_RESCHEDULED"
    APPOINTMENT_MODIFIED = "APPOINTMENT_MODIFIED"
    APPOINTMENT_CANCELLED = "APPOINTMENT_CANCELLED"
    DOCUMENT_ADDED = "DOCUMENT_ADDED"
    DOCUMENT_UPDATED = "DOCUMENT_UPDATED"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class Identifier:
    value: str
    authority: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class PersonName:
    family: str | None = None
    given: tuple[str, ...] = ()
    prefix: str | None = None
    suffix: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    lines: tuple[str, ...] = ()
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    use: str | None = None


@dataclass(frozen=True, slots=True)
class Telecom:
    value: str
    use: str | None = None
    equipment: str | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    key: str
    identifiers: tuple[Identifier, ...] = ()
    name: PersonName | None = None
    birth_date: str | None = None
    sex: str | None = None
    address: tuple[Address, ...] = ()
    phones: tuple[Telecom, ...] = ()
    marital_status: str | None = None
    race: str | None = None
    ethnic_group: str | None = None
    language: str | None = None
    account_number: str | None = None
    deceased: bool | None = None
    deceased_at: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    facility: str | None = None
    point_of_care: str | None = None
    room: str | None = None
    bed: str | None = None
    building: str | None = None
    floor: str | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    id: str | None = None
    family: str | None = None
    given: str | None = None
    prefix: str | None = None
    authority: str | None = None


@dataclass(frozen=True, slots=True)
class Encounter:
    visit_number: str | None = None
    patient_class: str | None = None  # "class" in the record
    location: Location | None = None
    prior_location: Location | None = None
    attending: Provider | None = None
    referring: Provider | None = None
    admitting: Provider | None = None
    hospital_service: str | None = None
    admission_type: str | None = None
    discharge_disposition: str | None = None
    admitted_at: str | None = None
    discharged_at: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    message_control_id: str
    message_type: str
    sending_application: str | None = None
    sending_facility: str | None = None
    receiving_application: str | None = None
    receiving_facility: str | None = None
    trigger_event: str | None = None
    version: str | None = None
    received_at: str | None = None
    connector: str | None = None
    profile: str | None = None
    charset: str | None = None
    charset_note: str | None = None
    mapping_version: str = "1"
    raw_topic: str | None = None
    raw_partition: int | None = None
    raw_offset: int | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    local_code: str | None = None
    value_type: str | None = None
    value: str | None = None
    units: str | None = None
    reference_range: str | None = None
    abnormal_flags: tuple[str, ...] = ()
    status: str | None = None
    observed_at: str | None = None
    sub_id: str | None = None
    order_index: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Order:
    placer_order_number: str | None = None
    filler_order_number: str | None = None
    placer_group_number: str | None = None
    control: str | None = None
    status: str | None = None
    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    priority: str | None = None
    ordered_at: str | None = None
    observed_at: str | None = None
    ordering_provider: Provider | None = None
    specimen_source: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Medication:
    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    dose: str | None = None
    dose_units: str | None = None
    route: str | None = None
    frequency: str | None = None
    dispense_amount: str | None = None
    administered_at: str | None = None
    completion_status: str | None = None
    lot_number: str | None = None
    manufacturer: str | None = None
    order_index: int | None = None


@dataclass(frozen=True, slots=True)
class Allergy:
    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    category: str | None = None
    severity: str | None = None
    reactions: tuple[str, ...] = ()
    identified_at: str | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    type: str | None = None
    diagnosed_at: str | None = None


@dataclass(frozen=True, slots=True)
class RelatedPerson:
    name: PersonName | None = None
    relationship: str | None = None
    phones: tuple[Telecom, ...] = ()


@dataclass(frozen=True, slots=True)
class Coverage:
    plan_id: str | None = None
    company: str | None = None
    group_number: str | None = None
    policy_number: str | None = None


@dataclass(frozen=True, slots=True)
class Appointment:
    placer_id: str | None = None
    filler_id: str | None = None
    start: str | None = None
    end: str | None = None
    duration_minutes: int | None = None
    reason: str | None = None
    type: str | None = None
    status: str | None = None
    resources: tuple[str, ...] = ()
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    document_id: str | None = None
    type: str | None = None
    status: str | None = None
    activity_at: str | None = None
    author: Provider | None = None
    content: str | None = None


@dataclass(frozen=True, slots=True)
class Merge:
    prior_patient_key: str | None = None
    prior_identifiers: tuple[Identifier, ...] = ()
    prior_account_number: str | None = None
    prior_visit_number: str | None = None


@dataclass(frozen=True, slots=True)
class Payload:
    observations: tuple[Observation, ...] = ()
    orders: tuple[Order, ...] = ()
    medications: tuple[Medication, ...] = ()
    allergies: tuple[Allergy, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    next_of_kin: tuple[RelatedPerson, ...] = ()
    insurance: tuple[Coverage, ...] = ()
    notes: tuple[str, ...] = ()
    appointment: Appointment | None = None
    document: Document | None = None
    merge: Merge | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClinicalEvent:
    event_id: str
    event_type: EventType
    event_index: int = 0
    occurred_at: str | None = None
    recorded_at: str | None = None
    patient: Patient
    encounter: Encounter | None = None
    source: Source
    payload: Payload = Payload()
    extensions: dict[str, str] = field(default_factory=dict)

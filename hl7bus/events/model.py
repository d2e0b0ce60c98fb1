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
    PATIENT_DEPARTED = "PATIENT_DEPARTED"
    """A09: the patient left a place for another (X-ray, theatre, in transit), the assigned
    bed unchanged."""
    PATIENT_ARRIVED = "PATIENT_ARRIVED"
    """A10: the patient arrived at a place (back on the ward, at X-ray), the assigned bed
    unchanged."""
    ADMISSION_PENDING = "ADMISSION_PENDING"
    """A14: an admission is planned; the patient is not admitted yet."""
    TRANSFER_PENDING = "TRANSFER_PENDING"
    """A15: a transfer is planned (to ``encounter.pending_location``); the patient has not
    moved yet."""
    DISCHARGE_PENDING = "DISCHARGE_PENDING"
    """A16: a discharge is planned; the patient is still in."""
    PENDING_ADMISSION_CANCELLED = "PENDING_ADMISSION_CANCELLED"
    """A27: the planned admission (A14) will not happen."""
    PENDING_TRANSFER_CANCELLED = "PENDING_TRANSFER_CANCELLED"
    """A26: the planned transfer (A15) will not happen."""
    PENDING_DISCHARGE_CANCELLED = "PENDING_DISCHARGE_CANCELLED"
    """A25: the planned discharge (A16) will not happen."""
    PATIENT_DELETED = "PATIENT_DELETED"
    """A29: the person's record was deleted at the sender (registered in error)."""
    VISIT_MOVED = "VISIT_MOVED"
    """A45: a visit (``payload.merge.prior_visit_number``) moved from the record or account
    of ``payload.merge`` to this patient's."""
    ALLERGIES_UPDATED = "ALLERGIES_UPDATED"
    """A60: the patient's allergies and adverse reactions, each added, updated or deleted
    (``Allergy.action``)."""
    APPOINTMENT_DELETED = "APPOINTMENT_DELETED"
    """S17: the appointment was deleted (booked in error), not cancelled."""
    APPOINTMENT_NO_SHOW = "APPOINTMENT_NO_SHOW"
    """S26: the patient did not come to the appointment."""
    MEDICATION_DISPENSED = "MEDICATION_DISPENSED"
    """RDS^O13: the pharmacy dispensed a medication (RXD) for an order."""
    PROBLEM_ADDED = "PROBLEM_ADDED"
    """PPR^PC1: problems (PRB) added to the patient's problem list."""
    PROBLEM_UPDATED = "PROBLEM_UPDATED"
    """PPR^PC2: problems on the list changed (their status, a resolution, a correction)."""
    PROBLEM_REMOVED = "PROBLEM_REMOVED"
    """PPR^PC3: problems deleted from the list (entered in error, no longer relevant)."""
    REFERRAL_REQUESTED = "REFERRAL_REQUESTED"
    """REF^I12: the patient is referred to another provider (``payload.referral``)."""
    REFERRAL_UPDATED = "REFERRAL_UPDATED"
    """REF^I13: a referral changed (its status, priority, provider)."""
    REFERRAL_CANCELLED = "REFERRAL_CANCELLED"
    """REF^I14: a referral was cancelled."""
    ENCOUNTER_CODED = "ENCOUNTER_CODED"
    """BAR^P01/P12, DFT^P03/P11: the diagnoses and procedures (with the charged services
    coded as procedures) that billing coded for a visit."""
    ACCOUNT_PURGED = "ACCOUNT_PURGED"
    """BAR^P02: a patient account (and its visit) was purged from the billing system."""
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
    temporary_location: Location | None = None  # PV1-11
    pending_location: Location | None = None  # PV1-42
    prior_temporary_location: Location | None = None  # PV1-43
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
    specimen_index: int | None = None  # into payload.specimens


@dataclass(frozen=True, slots=True)
class Specimen:
    """SPM (with the SAC containers that follow it): a specimen the results were measured on."""

    specimen_id: str | None = None  # SPM-2: the filler's id, else the placer's
    type: str | None = None  # SPM-4 (table 0487)
    type_system: str | None = None
    type_display: str | None = None
    source_site: str | None = None  # SPM-8
    collected_at: str | None = None  # SPM-17 (its start)
    received_at: str | None = None  # SPM-18
    rejection_reason: str | None = None  # SPM-21
    container_ids: tuple[str, ...] = ()  # SAC-3


@dataclass(frozen=True, slots=True)
class DietItem:
    """One diet, supplement or food preference (ODS-3 code) or tray (ODT) of a diet order."""

    kind: str | None = None  # ODS-1 as a word: diet, supplement, preference; tray for ODT
    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    service_periods: tuple[str, ...] = ()  # ODS-2, ODT-2: the meals it applies to
    instructions: str | None = None  # ODS-4, ODT-3


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
    dispensed_at: str | None = None  # RXD-3
    dispense_units: str | None = None  # RXD-5
    prescription_number: str | None = None  # RXD-7


@dataclass(frozen=True, slots=True)
class Allergy:
    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    category: str | None = None
    severity: str | None = None
    reactions: tuple[str, ...] = ()
    identified_at: str | None = None
    action: str | None = None  # IAM-6: A added, U updated, D deleted, X unchanged
    identifier: str | None = None  # IAM-7


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    type: str | None = None
    diagnosed_at: str | None = None


@dataclass(frozen=True, slots=True)
class Procedure:
    """PR1: a procedure performed during the visit."""

    code: str | None = None
    code_system: str | None = None
    display: str | None = None
    description: str | None = None  # PR1-4
    performed_at: str | None = None  # PR1-5
    type: str | None = None  # PR1-6: A anesthesia, P treatment, I invasive, D diagnostic
    performer: Provider | None = None  # PR1-11 surgeon, else PR1-12
    anesthesiologist: Provider | None = None  # PR1-8
    priority: str | None = None  # PR1-14
    identifier: str | None = None  # PR1-19
    action: str | None = None  # PR1-20: A added, U updated, D deleted, X unchanged


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
class Problem:
    """PRB: one problem of the patient's problem list, as a problem message changes it."""

    problem_id: str | None = None  # PRB-4: the same across messages
    code: str | None = None  # PRB-3
    code_system: str | None = None
    display: str | None = None
    action: str | None = None  # PRB-1 (table 0287): AD, UP, DE, CO, LI, UN, UC
    action_at: str | None = None  # PRB-2
    status: str | None = None  # PRB-14, life cycle status: active, resolved, ...
    confirmation_status: str | None = None  # PRB-13
    onset_at: str | None = None  # PRB-16
    onset_text: str | None = None  # PRB-17
    established_at: str | None = None  # PRB-7
    resolved_at: str | None = None  # PRB-9
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Referral:
    """RF1 and PRD: a referral to another provider."""

    referral_id: str | None = None  # RF1-6
    external_id: str | None = None  # RF1-11
    status: str | None = None  # RF1-1 (table 0283): P pending, A accepted, R rejected, E expired
    priority: str | None = None  # RF1-2 (table 0280): S stat, A asap, R routine
    type: str | None = None  # RF1-3 (table 0281)
    disposition: str | None = None  # RF1-4 (table 0282)
    category: str | None = None  # RF1-5 (table 0284): I inpatient, O outpatient, ...
    reason: str | None = None  # RF1-10 (table 0336)
    effective_at: str | None = None  # RF1-7
    expires_at: str | None = None  # RF1-8
    referring: Provider | None = None  # PRD with PRD-1 RP
    referred_to: Provider | None = None  # PRD with PRD-1 RT
    referred_to_facility: str | None = None  # that PRD's PRD-4 facility, else PRD-10


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
    procedures: tuple[Procedure, ...] = ()
    next_of_kin: tuple[RelatedPerson, ...] = ()
    insurance: tuple[Coverage, ...] = ()
    notes: tuple[str, ...] = ()
    appointment: Appointment | None = None
    document: Document | None = None
    merge: Merge | None = None
    specimens: tuple[Specimen, ...] = ()
    diet: tuple[DietItem, ...] = ()
    problems: tuple[Problem, ...] = ()
    referral: Referral | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClinicalEvent:
    event_id: str
    event_type: EventType
    event_index: int = 0
    occurred_at: str | None = None
    recorded_at: str | None = None
    planned_at: str | None = None  # EVN-3: a pending movement's planned time
    patient: Patient
    encounter: Encounter | None = None
    source: Source
    payload: Payload = Payload()
    extensions: dict[str, str] = field(default_factory=dict)

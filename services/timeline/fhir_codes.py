"""The code tables of the FHIR R4 export (:mod:`.fhir`): FHIR's code-system URIs, the HL7 v2
coding-system names and OIDs senders use, and HL7 v2 table values (sex, patient class,
result, order, appointment and document statuses, priorities, abnormal flags, units) mapped
to the FHIR codes they stand for.  Values only, no logic."""

from __future__ import annotations

from hl7bus.events.model import EventType

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
V2_IDENTIFIER_TYPE = TERMINOLOGY + "v2-0203"
V3_ACT_CODE = TERMINOLOGY + "v3-ActCode"
V3_NULL_FLAVOR = TERMINOLOGY + "v3-NullFlavor"
V3_INTERPRETATION = TERMINOLOGY + "v3-ObservationInterpretation"
V3_MARITAL_STATUS = TERMINOLOGY + "v3-MaritalStatus"
V3_PARTICIPATION = TERMINOLOGY + "v3-ParticipationType"
V3_ACT_REASON = TERMINOLOGY + "v3-ActReason"

# HL7 v2 coding-system names (table 0396, and the spellings senders use) → FHIR URIs.
CODE_SYSTEMS: dict[str, str] = {
    "LN": LOINC,
    "LOINC": LOINC,
    "SCT": "http://snomed.info/sct",
    "SNOMED": "http://snomed.info/sct",
    "SNOMEDCT": "http://snomed.info/sct",
    "SNOMED-CT": "http://snomed.info/sct",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "ICD-10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD-10-CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "I10P": "http://www.cms.gov/Medicare/Coding/ICD10",
    "I9": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9CDX": "http://hl7.org/fhir/sid/icd-9-cm",
    "ICD9": "http://hl7.org/fhir/sid/icd-9-cm",
    "ICD9CM": "http://hl7.org/fhir/sid/icd-9-cm",
    "CVX": CVX,
    "MVX": TERMINOLOGY + "MVX",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "RXN": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "UCUM": UCUM,
    "C4": "http://www.ama-assn.org/go/cpt",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "CPT4": "http://www.ama-assn.org/go/cpt",
    "HCPCS": "urn:oid:2.16.840.1.113883.6.285",
    "NPI": "http://hl7.org/fhir/sid/us-npi",
    "NULLFL": V3_NULL_FLAVOR,
    "NULLFLAVOR": V3_NULL_FLAVOR,
}

# Code systems sent by their OID that FHIR names by a URI of their own.
CODE_SYSTEM_OIDS: dict[str, str] = {
    "2.16.840.1.113883.6.1": LOINC,
    "2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "2.16.840.1.113883.12.292": CVX,
    "2.16.840.1.113883.6.59": CVX,
    "2.16.840.1.113883.6.8": UCUM,
    "2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "2.16.840.1.113883.6.103": "http://hl7.org/fhir/sid/icd-9-cm",
    "2.16.840.1.113883.6.69": "http://hl7.org/fhir/sid/ndc",
    "2.16.840.1.113883.6.12": "http://www.ama-assn.org/go/cpt",
    "2.16.840.1.113883.5.1008": V3_NULL_FLAVOR,
}

# Identifier assigning authorities with a FHIR naming system of their own.
AUTHORITY_SYSTEMS: dict[str, str] = {
    "USSSA": "http://hl7.org/fhir/sid/us-ssn",
    "SSA": "http://hl7.org/fhir/sid/us-ssn",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# HL7 table 0203 (identifier type): the codes of the code system FHIR R4 binds to.
IDENTIFIER_TYPES = _words(
    "AC ACSN AM AMA AN ANC AND ANON ANT APRN ASID BA BC BCFN BCT BR BRN BSNR CC CONM CY CZ "
    "DC DCFN DDS DEA DFN DI DL DN DO DP DPM DR DS EI EN ESN FDR FDRFN FI FILL GI GL GN HC IND "
    "JHN LACSN LANR LI LN LR MA MB MC MCD MCN MCR MCT MD MI MR MRT MS NBSNR NCT NE NH NI NII "
    "NIIP NP NPI OBI OD PA PC PCN PE PEN PHC PHE PHO PI PLAC PN PNT PPIN PPN PRC PRN PT QA RI "
    "RN RPH RR RRI RRP SB SID SL SN SNBSN SNO SP SR SS STN TAX TN TPR TRL U UDI UPIN USID VN "
    "VP VS WC WCN WP XV XX"
)

# v3 ObservationInterpretation (what HL7 v2 table 0078 abnormal flags map to, code for code).
INTERPRETATIONS = _words(
    "CAR Carrier B D U W < > AC IE QCF TOX A AA HH LL H H> HU L L< LU N I MS NCL NS R SYN-R "
    "S SDD SYN-S VS EX HX LX HM IND E NEG ND POS DET EXP UNE OBX NR RR WR"
)

# v3 NullFlavor: what senders put in a coded field for "unknown", "asked but unknown", ...
NULL_FLAVORS = _words("NI INV DER OTH NINF PINF UNC MSK NA UNK ASKU NAV NASK NAVU QS TRC NP")

# HL7 table 0001 (administrative sex) → FHIR administrative-gender.
GENDERS = {
    "M": "male",
    "F": "female",
    "O": "other",
    "A": "other",  # ambiguous
    "U": "unknown",
    "N": "unknown",  # not applicable
}

# The event's encounter class (from PV1-2, table 0004) → v3 ActCode.
ENCOUNTER_CLASSES: dict[str, tuple[str, str, str]] = {
    "inpatient": (V3_ACT_CODE, "IMP", "inpatient encounter"),
    "outpatient": (V3_ACT_CODE, "AMB", "ambulatory"),
    "emergency": (V3_ACT_CODE, "EMER", "emergency"),
    "preadmit": (V3_ACT_CODE, "PRENC", "pre-admission"),
    "recurring": (V3_ACT_CODE, "AMB", "ambulatory"),
    "obstetrics": (V3_ACT_CODE, "IMP", "inpatient encounter"),
    "commercial": (V3_ACT_CODE, "AMB", "ambulatory"),
}
UNKNOWN_CLASS = (V3_NULL_FLAVOR, "UNK", "unknown")

# ADT event → Encounter.status (other events do not change a visit's status).
ENCOUNTER_STATUS = {
    EventType.PATIENT_PREADMITTED: "planned",
    EventType.PATIENT_ADMITTED: "in-progress",
    EventType.PATIENT_REGISTERED: "in-progress",
    EventType.PATIENT_TRANSFERRED: "in-progress",
    EventType.TRANSFER_CANCELLED: "in-progress",
    EventType.DISCHARGE_CANCELLED: "in-progress",
    EventType.PATIENT_DISCHARGED: "finished",
    EventType.ADMISSION_CANCELLED: "cancelled",
    EventType.ADMISSION_PENDING: "planned",
    EventType.PENDING_ADMISSION_CANCELLED: "cancelled",
}

# ADT events that leave a known visit's status as it is, but say that a visit seen first
# there is under way: the patient is in (tracking, a pending transfer or discharge).
ENCOUNTER_STATUS_IF_NEW = {
    EventType.PATIENT_DEPARTED: "in-progress",
    EventType.PATIENT_ARRIVED: "in-progress",
    EventType.TRANSFER_PENDING: "in-progress",
    EventType.DISCHARGE_PENDING: "in-progress",
    EventType.PENDING_TRANSFER_CANCELLED: "in-progress",
    EventType.PENDING_DISCHARGE_CANCELLED: "in-progress",
}

# SIU events that say what became of the appointment, whatever SCH-25 says.
APPOINTMENT_EVENT_STATUS = {
    EventType.APPOINTMENT_CANCELLED: "cancelled",
    EventType.APPOINTMENT_DELETED: "entered-in-error",
    EventType.APPOINTMENT_NO_SHOW: "noshow",
}

# PR1-6 (procedure functional type, table 0230) → Procedure.category, as text.
PROCEDURE_TYPES = {
    "A": "anesthesia",
    "P": "procedure for treatment",
    "I": "invasive procedure",
    "D": "diagnostic procedure",
}

# OBX-11 (table 0085) → Observation.status.
OBSERVATION_STATUS = {
    "F": "final",
    "U": "final",  # changed to final without retransmitting the results
    "P": "preliminary",
    "R": "preliminary",  # entered, not verified
    "S": "preliminary",  # partial
    "C": "corrected",
    "A": "amended",
    "B": "amended",  # appended
    "D": "entered-in-error",  # deletes the OBX record
    "W": "entered-in-error",  # post original as wrong
    "X": "cancelled",  # results cannot be obtained
    "N": "cancelled",  # not asked
    "I": "registered",  # specimen in lab, results pending
    "O": "registered",  # order detail only, no result
}

# ORC-5 (table 0038) or OBR-25 (table 0123) → DiagnosticReport.status.
REPORT_STATUS = {
    "F": "final",
    "CM": "final",
    "U": "final",
    "P": "preliminary",
    "C": "corrected",
    "A": "partial",
    "R": "partial",
    "IP": "partial",
    "I": "registered",
    "O": "registered",
    "S": "registered",
    "SC": "registered",
    "X": "cancelled",
    "CA": "cancelled",
    "DC": "cancelled",
}

# ORC-5 (table 0038) or OBR-25 (table 0123) → ServiceRequest.status.
ORDER_STATUS = {
    "A": "active",
    "IP": "active",
    "SC": "active",
    "I": "active",
    "O": "active",
    "S": "active",
    "P": "active",
    "R": "active",
    "CM": "completed",
    "F": "completed",
    "C": "completed",
    "U": "completed",
    "CA": "revoked",
    "DC": "revoked",
    "RP": "revoked",
    "X": "revoked",
    "HD": "on-hold",
}

# ORC-1 (order control, table 0119) → ServiceRequest.status, when ORC-5 says nothing.
ORDER_CONTROL_STATUS = {
    "NW": "active",
    "SN": "active",
    "PA": "active",
    "CH": "active",
    "RO": "active",
    "XO": "active",
    "XX": "active",
    "RL": "active",
    "OK": "active",
    "SC": "active",
    "CA": "revoked",
    "OC": "revoked",
    "CR": "revoked",
    "DC": "revoked",
    "OD": "revoked",
    "DR": "revoked",
    "HD": "on-hold",
    "OH": "on-hold",
    "HR": "on-hold",
}

# ORC-1 / ORC-5 → MedicationRequest.status.
MEDICATION_ORDER_STATUS = {
    "CA": "cancelled",
    "OC": "cancelled",
    "CR": "cancelled",
    "DC": "stopped",
    "OD": "stopped",
    "DR": "stopped",
    "HD": "on-hold",
    "OH": "on-hold",
    "HR": "on-hold",
    "CM": "completed",
}

PRIORITIES = {
    "S": "stat",
    "STAT": "stat",
    "A": "asap",
    "ASAP": "asap",
    "R": "routine",
    "ROUTINE": "routine",
    "U": "urgent",
    "URGENT": "urgent",
    "T": "urgent",  # timing critical
}

# SCH-25 (filler status, table 0278), as a code or its text → Appointment.status.
APPOINTMENT_STATUS = {
    "BOOKED": "booked",
    "OVERBOOK": "booked",
    "STARTED": "arrived",
    "COMPLETE": "fulfilled",
    "COMPLETED": "fulfilled",
    "CANCELLED": "cancelled",
    "CANCELED": "cancelled",
    "DC": "cancelled",  # discontinued
    "DELETED": "entered-in-error",
    "NOSHOW": "noshow",
    "NO SHOW": "noshow",
    "PENDING": "pending",
    "WAITLIST": "waitlist",
}

# TXA-17 (document completion status, table 0271) → DocumentReference.docStatus.
DOCUMENT_STATUS = {
    "AU": "final",
    "LA": "final",
    "DI": "preliminary",
    "DO": "preliminary",
    "IN": "preliminary",
    "IP": "preliminary",
    "PA": "preliminary",
}

# ClinicalAlert severity → the flag-priority extension's code (PH high, PM medium, PL low).
FLAG_PRIORITY = "http://hl7.org/fhir/flag-priority-code"
FLAG_PRIORITIES = {"CRITICAL": "PH", "WARNING": "PM", "INFO": "PL"}

# Units as senders write them → their UCUM code.  A unit not listed keeps its text only.
UCUM_UNITS: dict[str, str] = {
    unit: unit
    for unit in _words(
        "% /min /uL /mm3 /[HPF] /[LPF] [pH] [IU] [IU]/L [IU]/mL [degF] [in_i] [lb_av] [ppm] Cel "
        "L L/min U U/L U/mL cm cm[H2O] d fL g g/L g/dL g/24.h h kPa kg kg/m2 m[IU]/L "
        "m[IU]/mL meq/L mg mg/L mg/dL mg/g mg/mmol mg/24.h min mL mL/min mL/min/{1.73_m2} mm "
        "mm/h mm[Hg] mmol/L mmol/kg mmol/mol mo mosm/kg mV ng/dL ng/L ng/mL nmol/L pg pg/mL "
        "pmol/L s u[IU]/mL ug ug/L ug/dL ug/g ug/mL umol/L wk 10*3/uL 10*6/uL 10*9/L 10*12/L "
        "{ratio} {titer} {cells}/uL 1"
    )
}
UCUM_UNITS.update(
    {
        "mg/dl": "mg/dL",
        "g/dl": "g/dL",
        "ng/ml": "ng/mL",
        "pg/ml": "pg/mL",
        "ug/ml": "ug/mL",
        "mmol/l": "mmol/L",
        "umol/l": "umol/L",
        "nmol/l": "nmol/L",
        "mEq/L": "meq/L",
        "mEq/l": "meq/L",
        "meq/l": "meq/L",
        "IU/L": "[IU]/L",
        "IU/mL": "[IU]/mL",
        "IU": "[IU]",
        "u/l": "U/L",
        "mIU/mL": "m[IU]/mL",
        "mIU/L": "m[IU]/L",
        "uIU/mL": "u[IU]/mL",
        "10^3/uL": "10*3/uL",
        "10^6/uL": "10*6/uL",
        "10^9/L": "10*9/L",
        "10^12/L": "10*12/L",
        "K/uL": "10*3/uL",
        "M/uL": "10*6/uL",
        "fl": "fL",
        "ml": "mL",
        "mmHg": "mm[Hg]",
        "mm Hg": "mm[Hg]",
        "mm/hr": "mm/h",
        "mL/min/1.73m2": "mL/min/{1.73_m2}",
        "mL/min/1.73 m2": "mL/min/{1.73_m2}",
        "mOsm/kg": "mosm/kg",
        "degC": "Cel",
        "degF": "[degF]",
        "in": "[in_i]",
        "inch": "[in_i]",
        "lb": "[lb_av]",
        "lbs": "[lb_av]",
        "bpm": "/min",
        "sec": "s",
        "hr": "h",
        "cells/uL": "{cells}/uL",
        "KG": "kg",
        "CM": "cm",
        "MG": "mg",
        "ML": "mL",
    }
)

ED_ENCODINGS = frozenset({"BASE64", "HEX", "A"})

# Condition.clinicalStatus and .verificationStatus (R4 condition-clinical and
# condition-ver-status): the words a problem's PRB-14 and PRB-13 are taken as.
CONDITION_CLINICAL = frozenset(
    {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
)
CONDITION_ABATED = frozenset({"inactive", "remission", "resolved"})
CONDITION_VERIFICATION = frozenset(
    {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
)

# A referral (RF1) as a ServiceRequest: SNOMED CT "Patient referral", and RF1-1 (referral
# status, table 0283) as the request's status.
REFERRAL_CATEGORY = {
    "system": "http://snomed.info/sct",
    "code": "3457005",
    "display": "Patient referral",
}
REFERRAL_STATUS = {"P": "active", "A": "active", "R": "revoked"}

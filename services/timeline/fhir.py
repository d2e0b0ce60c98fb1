"""One patient's events as a FHIR R4 ``Bundle`` of type ``collection``: pure, JSON-ready.

``bundle(patient_key, events, alerts)`` folds a patient's :class:`ClinicalEvent` values (in
the order given: the timeline's clinical order) and alert records into the resources a FHIR
client expects: Patient, Encounter, Observation, DiagnosticReport, ServiceRequest,
MedicationRequest, MedicationAdministration, AllergyIntolerance, Condition, Immunization,
Appointment, DocumentReference and Flag (an alert).

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

import base64
import binascii
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from hl7bus.events.model import Address as EventAddress
from hl7bus.events.model import (
    Allergy,
    ClinicalEvent,
    Diagnosis,
    EventType,
    Identifier,
    Medication,
    Observation,
    Order,
    PersonName,
    Provider,
    Telecom,
)

__all__ = ["NAMESPACE", "bundle", "fhir_date", "fhir_datetime", "fhir_instant", "resource_id"]

Resource = dict[str, Any]

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:hl7bus:fhir")
"""The UUID namespace of every resource id hl7bus gives."""

# --- code systems ------------------------------------------------------------------------

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
V2_IDENTIFIER_TYPE = _TERMINOLOGY + "v2-0203"
V3_ACT_CODE = _TERMINOLOGY + "v3-ActCode"
V3_NULL_FLAVOR = _TERMINOLOGY + "v3-NullFlavor"
V3_INTERPRETATION = _TERMINOLOGY + "v3-ObservationInterpretation"
V3_MARITAL_STATUS = _TERMINOLOGY + "v3-MaritalStatus"
V3_PARTICIPATION = _TERMINOLOGY + "v3-ParticipationType"
V3_ACT_REASON = _TERMINOLOGY + "v3-ActReason"

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
    "MVX": _TERMINOLOGY + "MVX",
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

_ED_ENCODINGS = frozenset({"BASE64", "HEX", "A"})


# --- ids and references ------------------------------------------------------------------


def resource_id(*parts: object) -> str:
    """The UUID (a valid FHIR id) of a resource, from what makes it that resource."""
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


def _ref(full_url: str) -> dict[str, str]:
    return {"reference": full_url}


# --- times -------------------------------------------------------------------------------

_ISO = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?P<f>\.\d+)?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


@lru_cache(maxsize=8192)
def fhir_datetime(value: str | None) -> str | None:
    """An event time as a FHIR ``dateTime``: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, or a
    time with seconds and an offset (added ``:00`` seconds where the event has minutes).
    A time of day without an offset keeps only its date; an offset beyond FHIR's ±14:00 is
    written in UTC; ``None`` for what is not a time."""
    if not value:
        return None
    m = _ISO.match(value.strip())
    if not m:
        return None
    y, mo, d = m["y"], m["mo"], m["d"]
    if y == "0000":
        return None
    if mo is None:
        return y
    if not 1 <= int(mo) <= 12:
        return None
    if d is None:
        return f"{y}-{mo}"
    try:
        date(int(y), int(mo), int(d))
    except ValueError:
        return None
    day = f"{y}-{mo}-{d}"
    if m["h"] is None or m["tz"] is None:
        return day
    hour, minute, second = int(m["h"]), int(m["mi"] or 0), int(m["s"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    fraction = (m["f"] or "")[:10]  # FHIR: up to 9 digits
    tz = m["tz"]
    if tz != "Z":
        digits = tz[1:].replace(":", "")
        offset = int(digits[:2]) * 60 + int(digits[2:])
        if int(digits[2:]) > 59:
            return None
        if offset > 14 * 60:
            sign = 1 if tz[0] == "+" else -1
            local = datetime(  # noqa: DTZ001 - the offset is applied just below
                int(y), int(mo), int(d), hour, minute, second
            )
            utc = local - timedelta(minutes=sign * offset)
            return f"{utc:%Y-%m-%dT%H:%M:%S}{fraction}Z"
        tz = f"{tz[0]}{digits[:2]}:{digits[2:]}"
    return f"{day}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{tz}"


def fhir_instant(value: str | None) -> str | None:
    """An event time as a FHIR ``instant`` (a complete time with an offset), else ``None``."""
    found = fhir_datetime(value)
    return found if found is not None and "T" in found else None


def fhir_date(value: str | None) -> str | None:
    """The date part of an event time or date, as a FHIR ``date``."""
    found = fhir_datetime(value)
    return found[:10] if found is not None else None


def _moment(value: str) -> datetime | None:
    if "T" not in value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _in_order(start: str | None, end: str | None) -> bool:
    """Whether a period's end is not before its start (FHIR invariant per-1), as far as the
    two values can be compared."""
    if start is None or end is None:
        return True
    first, last = _moment(start), _moment(end)
    if first is not None and last is not None:
        return first <= last
    if first is None and last is None and len(start) == len(end):
        return start <= end
    return True


def _period(start: str | None, end: str | None) -> dict[str, str] | None:
    start, end = fhir_datetime(start), fhir_datetime(end)
    if not _in_order(start, end):
        end = None  # an end before the start cannot be said in FHIR: the start is kept
    found = {k: v for k, v in (("start", start), ("end", end)) if v}
    return found or None


# --- values ------------------------------------------------------------------------------

_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")


def _number(raw: str | None) -> int | float | None:
    """An HL7 NM as a JSON number (FHIR decimal), or ``None``."""
    if raw is None:
        return None
    raw = raw.strip()
    if not _DECIMAL.match(raw):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if "." not in raw and abs(value) < 2**53:
        return int(value)
    return float(value)


def _quantity(value: int | float, units: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"value": value}
    if units:
        found["unit"] = units
        code = UCUM_UNITS.get(units.strip())
        if code is not None:
            found["system"] = UCUM
            found["code"] = code
    return found


def _is_oid(value: str) -> bool:
    return re.fullmatch(r"[0-2](?:\.(?:0|[1-9]\d*))+", value) is not None


def _uri_part(value: str) -> str:
    return quote(value, safe="")


@lru_cache(maxsize=4096)
def _system_uri(name: str | None, sender: str) -> str:
    if name:
        upper = name.strip().upper()
        known = CODE_SYSTEMS.get(upper)
        if known is not None:
            return known
        if re.fullmatch(r"HL7\d{4}", upper):
            return f"{_TERMINOLOGY}v2-{upper[3:]}"
        if _is_oid(name):
            table = re.fullmatch(r"2\.16\.840\.1\.113883\.12\.(\d{1,4})", name)
            if table:  # an HL7 v2 table by its OID
                return f"{_TERMINOLOGY}v2-{int(table[1]):04d}"
            return CODE_SYSTEM_OIDS.get(name, f"urn:oid:{name}")
        if re.match(r"^(https?://|urn:)\S+$", name):
            return name
    return f"urn:hl7bus:codesystem:{_uri_part(sender)}:{_uri_part(name or 'local')}"


class _Context:
    """What code systems and identifiers need from the event being read: its sender."""

    __slots__ = ("facility", "sender")

    def __init__(self, event: ClinicalEvent) -> None:
        source = event.source
        self.facility = source.sending_facility or source.sending_application
        self.sender = source.sending_application or source.sending_facility or "unknown"

    def system(self, name: str | None) -> str:
        """The FHIR system URI of an HL7 coding-system name (CE-3), a sender's local system
        when it is none the standard knows."""
        return _system_uri(name, self.sender)

    def coding(self, code: str, system: str | None, display: str | None) -> dict[str, str]:
        """A Coding; a null flavor (``UNK``, ``ASKU``, ...) sent in an HL7 table's field is
        the v3 NullFlavor it is, not a code of that table."""
        uri = self.system(system)
        if code in NULL_FLAVORS and uri.startswith(f"{_TERMINOLOGY}v2-"):
            uri = V3_NULL_FLAVOR
        found = {"system": uri, "code": code}
        if display:
            found["display"] = display
        return found

    def concept(
        self, code: str | None, system: str | None, display: str | None
    ) -> dict[str, Any] | None:
        """A CodeableConcept from a CE/CWE triple: a coding when there is a code, the text
        when there is a display (only a display: text alone)."""
        if not code and not display:
            return None
        found: dict[str, Any] = {}
        if code:
            found["coding"] = [self.coding(code, system, display)]
        if display:
            found["text"] = display
        return found

    def authority_system(self, authority: str | None) -> str | None:
        """The identifier system of an assigning authority (CX-4): ``urn:oid:`` for an OID,
        a FHIR naming system where there is one, else ``urn:hl7bus:authority:<name>``."""
        authority = authority or self.facility
        if not authority:
            return None
        if _is_oid(authority):
            return f"urn:oid:{authority}"
        if re.match(r"^(https?://|urn:)\S+$", authority):
            return authority
        known = AUTHORITY_SYSTEMS.get(authority.upper())
        return known or f"urn:hl7bus:authority:{_uri_part(authority)}"

    def identifier(self, ident: Identifier, *, use: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if use:
            found["use"] = use
        if ident.type:
            found["type"] = _identifier_type(ident.type)
        system = self.authority_system(ident.authority)
        if system:
            found["system"] = system
        found["value"] = ident.value
        return found


def _identifier_type(code: str) -> dict[str, Any]:
    if code in IDENTIFIER_TYPES:
        return {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": code}]}
    return {"text": code}


def _text(value: str | None) -> dict[str, str] | None:
    return {"text": value} if value else None


def _drop_empty(resource: Resource) -> Resource:
    return {k: v for k, v in resource.items() if v not in (None, [], {}, "")}


def _human_name(name: PersonName | None) -> dict[str, Any] | None:
    if name is None:
        return None
    found = _drop_empty(
        {
            "family": name.family,
            "given": list(name.given),
            "prefix": [name.prefix] if name.prefix else [],
            "suffix": [name.suffix] if name.suffix else [],
        }
    )
    return found or None


def _provider(provider: Provider | None) -> dict[str, Any] | None:
    """A practitioner as a reference by display (and identifier): hl7bus has no
    Practitioner resources."""
    if provider is None:
        return None
    name = " ".join(p for p in (provider.prefix, provider.given, provider.family) if p)
    found: dict[str, Any] = {}
    if provider.id:
        found["identifier"] = {"value": provider.id}
    if name:
        found["display"] = name
    return found or None


_ADDRESS_USE = {"H": "home", "P": "home", "B": "work", "O": "work", "C": "temp", "BA": "old"}
_ADDRESS_TYPE = {"M": "postal"}


def _address(address: EventAddress) -> dict[str, Any]:
    kind = (address.use or "").upper()
    return _drop_empty(
        {
            "use": _ADDRESS_USE.get(kind),
            "type": _ADDRESS_TYPE.get(kind),
            "line": list(address.lines),
            "city": address.city,
            "state": address.state,
            "postalCode": address.postal_code,
            "country": address.country,
        }
    )


_TELECOM_USE = {
    "PRN": "home",
    "ORN": "home",
    "VHN": "temp",
    "WPN": "work",
    "HOME": "home",
    "WORK": "work",
}


def _contact_point(telecom: Telecom) -> dict[str, Any]:
    use = (telecom.use or "").upper()
    equipment = (telecom.equipment or "").upper()
    if equipment in ("INTERNET", "X.400") or use == "NET" or "@" in telecom.value:
        system = "email"
    elif equipment == "FX":
        system = "fax"
    elif equipment == "BP" or use == "BPN":
        system = "pager"
    else:
        system = "phone"
    fhir_use = "mobile" if equipment == "CP" else _TELECOM_USE.get(use)
    return _drop_empty({"system": system, "value": telecom.value, "use": fhir_use})


_MARITAL = {
    "M": (V3_MARITAL_STATUS, "M"),
    "D": (V3_MARITAL_STATUS, "D"),
    "W": (V3_MARITAL_STATUS, "W"),
    "S": (V3_MARITAL_STATUS, "S"),
    "I": (V3_MARITAL_STATUS, "I"),
    "N": (V3_MARITAL_STATUS, "A"),  # annulled
    "E": (V3_MARITAL_STATUS, "L"),  # legally separated
    "A": (V3_MARITAL_STATUS, "L"),  # separated
    "P": (V3_MARITAL_STATUS, "T"),  # domestic partner
    "R": (V3_MARITAL_STATUS, "T"),  # registered domestic partner
    "B": (V3_MARITAL_STATUS, "U"),  # unmarried
    "U": (V3_NULL_FLAVOR, "UNK"),
}


def _marital_status(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    found = _MARITAL.get(value.upper())
    if found is None:
        return {"text": value}
    return {"coding": [{"system": found[0], "code": found[1]}]}


# --- observations ------------------------------------------------------------------------

_CODED = frozenset({"CE", "CWE", "CNE", "CF", "CD"})
_SN = re.compile(
    r"^(?P<cmp><=|>=|<>|<|>|=)?(?P<n1>[+-]?(?:\d+\.?\d*|\.\d+))?"
    r"(?:(?P<sep>[-+/.:])(?P<n2>[+-]?(?:\d+\.?\d*|\.\d+)))?$"
)
_TIME = re.compile(r"^([01]\d|2[0-3]):?([0-5]\d)(?::?([0-5]\d)(\.\d{1,9})?)?$")


def _coded_value(ctx: _Context, value: str) -> dict[str, Any] | None:
    """An OBX-5 coded value (``code^display^system`` per repetition, one per line)."""
    codings: list[dict[str, str]] = []
    texts: list[str] = []
    for line in value.split("\n"):
        parts = [*line.split("^"), "", ""]
        code, display, system = (p.strip() or None for p in parts[:3])
        if code:
            codings.append(ctx.coding(code, system, display))
        if display or code:
            texts.append(display or code or "")
    if not codings and not texts:
        return None
    found: dict[str, Any] = {}
    if codings:
        found["coding"] = codings
    if texts:
        found["text"] = "; ".join(texts)
    return found


def _structured_numeric(value: str, units: str | None) -> dict[str, Any] | None:
    """An SN (``>90``, ``1:128``, ``10-20``) as a Quantity with comparator, a Ratio or a Range."""
    m = _SN.match(value.replace(" ", ""))
    if not m or m["n1"] is None:
        return None
    first = _number(m["n1"])
    if first is None:
        return None
    comparator = m["cmp"]
    if m["sep"] is None:
        quantity = _quantity(first, units)
        if comparator in ("<", ">", "<=", ">="):
            quantity = {"value": first, "comparator": comparator, **quantity}
        elif comparator not in (None, "="):
            return None
        return {"valueQuantity": quantity}
    if comparator not in (None, "="):
        return None
    second = _number(m["n2"])
    if second is None:
        return None
    if m["sep"] in (":", "/"):
        return {"valueRatio": {"numerator": {"value": first}, "denominator": {"value": second}}}
    if m["sep"] == "-" and first <= second:
        return {"valueRange": {"low": _quantity(first, units), "high": _quantity(second, units)}}
    return None


def _observation_value(ctx: _Context, obs: Observation) -> dict[str, Any]:
    value = obs.value
    if value is None:
        return {}
    kind = (obs.value_type or "").upper()
    if kind in ("NM", "SN"):
        number = _number(value)
        if number is not None:
            return {"valueQuantity": _quantity(number, obs.units)}
        if kind == "SN":
            found = _structured_numeric(value, obs.units)
            if found is not None:
                return found
    elif kind in _CODED:
        concept = _coded_value(ctx, value)
        if concept is not None:
            return {"valueCodeableConcept": concept}
    elif kind in ("DT", "TS", "DTM", "DIN"):
        when = fhir_datetime(value) or _hl7_datetime(value)
        if when is not None:
            return {"valueDateTime": when}
    elif kind == "TM":
        m = _TIME.match(value.strip())
        if m and "+" not in value and "-" not in value:
            return {"valueTime": f"{m[1]}:{m[2]}:{m[3] or '00'}{m[4] or ''}"}
    return {"valueString": value}


_HL7_DTM = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(\.\d{1,4})?)?([+-]\d{4})?$"
)


def _hl7_datetime(value: str) -> str | None:
    """An OBX-5 date or time still in HL7's form (``20251105131500-0600``) as a FHIR
    dateTime; a time without an offset keeps only its date (the sender's zone is the
    mapping's to apply)."""
    m = _HL7_DTM.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    iso = "-".join(p for p in (year, month, day) if p)
    if hour and day and offset:
        iso += f"T{hour}:{minute or '00'}:{second or '00'}{fraction or ''}"
        iso += f"{offset[:3]}:{offset[3:]}"
    return fhir_datetime(iso)


def _interpretation(flags: Sequence[str]) -> list[dict[str, Any]]:
    found = []
    for flag in flags:
        code = flag.strip()
        if code not in INTERPRETATIONS and code.upper() in INTERPRETATIONS:
            code = code.upper()
        if code in INTERPRETATIONS:
            found.append({"coding": [{"system": V3_INTERPRETATION, "code": code}]})
        elif code:
            found.append({"text": code})
    return found


def _attachment(value: str | None, title: str | None = None) -> dict[str, Any] | None:
    """HL7 ED (``source^type^subtype^encoding^data``) as an Attachment with its data, or
    ``None`` when the value is not encapsulated data."""
    if not value:
        return None
    parts = value.split("^", 4)
    if len(parts) < 5 or parts[3].strip().upper() not in _ED_ENCODINGS:
        return None
    _source, kind, subtype, encoding, data = (p.strip() for p in parts)
    encoding = encoding.upper()
    if encoding == "A":
        raw = data.encode("utf-8")
    else:
        try:
            compact = re.sub(r"\s+", "", data)
            if encoding == "HEX":
                raw = bytes.fromhex(compact)
            else:
                raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        except (ValueError, binascii.Error):
            return None
    content_type = f"{kind}/{subtype}".lower() if kind and subtype else "application/octet-stream"
    if not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", content_type):
        content_type = "application/octet-stream"
    return _drop_empty(
        {
            "contentType": content_type,
            "data": base64.b64encode(raw).decode("ascii"),
            "title": title,
        }
    )


def _text_attachment(text: str, title: str | None = None) -> dict[str, Any]:
    return _drop_empty(
        {
            "contentType": "text/plain",
            "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
            "title": title,
        }
    )


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
        resource = _drop_empty(resource)
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


def _order_identifiers(order: Order) -> list[dict[str, Any]]:
    found = []
    for code, number in (("PLAC", order.placer_order_number), ("FILL", order.filler_order_number)):
        if number:
            found.append({"type": _identifier_type(code), "value": number})
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

    def patient(self, event: ClinicalEvent, ctx: _Context, demographics: bool) -> None:
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
            _drop_empty(
                {
                    "relationship": [_text(person.relationship)] if person.relationship else [],
                    "name": _human_name(person.name),
                    "telecom": [_contact_point(t) for t in person.phones],
                }
            )
            for person in event.payload.next_of_kin
            if _human_name(person.name) or person.phones
        ]
        self.out.put(
            ("Patient", self.key),
            {
                "name": [n] if (n := _human_name(p.name)) else [],
                "telecom": [_contact_point(t) for t in p.phones],
                "gender": GENDERS.get((p.sex or "").strip().upper()),
                "birthDate": fhir_date(p.birth_date),
                **deceased,
                "address": [a for a in (_address(a) for a in p.address) if a],
                "maritalStatus": _marital_status(p.marital_status),
                "contact": [c for c in contacts if c],
                "communication": [{"language": {"text": p.language}}] if p.language else [],
            },
        )

    def merge(self, event: ClinicalEvent, ctx: _Context) -> None:
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
                "other": _ref(self.out.put(("Patient", other), {"identifier": ids})),
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

    def encounter(self, event: ClinicalEvent, ctx: _Context) -> str | None:
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
            status = "finished" if visit.discharged_at else "unknown"
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
            ref = _provider(who)
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
                    "type": _identifier_type("VN"),
                    "system": ctx.authority_system(None),
                    "value": visit.visit_number,
                }
            ]
            if visit.visit_number
            else [],
            "status": status,
            "class": {"system": kind[0], "code": kind[1], "display": kind[2]},
            "serviceType": _text(visit.hospital_service),
            "subject": _ref(self.patient_url),
            "participant": participants,
            "period": _period(visit.admitted_at, visit.discharged_at),
            "hospitalization": {"dischargeDisposition": _text(visit.discharge_disposition)}
            if visit.discharge_disposition
            else None,
            "location": locations,
        }
        if not is_adt and key in self.out.resources:
            # a result or an order names the visit; the ADT feed says where it stands
            return self.out.url(key)
        if resource.get("identifier"):
            resource["identifier"] = [_drop_empty(i) for i in resource["identifier"]]
        return self.out.put(key, resource)

    # -- clinical content --

    def allergy(self, allergy: Allergy, ctx: _Context, encounter: str | None) -> None:
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
        self.out.put(
            ("AllergyIntolerance", self.key, allergy.code_system or "", label),
            {
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": _TERMINOLOGY + "allergyintolerance-clinical",
                            "code": "active",
                        }
                    ]
                },
                "category": [category] if category else [],
                "criticality": criticality,
                "code": ctx.concept(allergy.code, allergy.code_system, allergy.display),
                "patient": _ref(self.patient_url),
                "encounter": _ref(encounter) if encounter else None,
                "onsetDateTime": fhir_datetime(allergy.identified_at),
                "reaction": [
                    _drop_empty({"manifestation": [{"text": r}], "severity": reaction_severity})
                    for r in allergy.reactions
                ],
            },
        )

    def condition(self, diagnosis: Diagnosis, ctx: _Context, encounter: str | None) -> str | None:
        label = diagnosis.code or (diagnosis.display or "").lower()
        if not label:
            return None
        verification = {"A": "provisional", "W": "provisional", "F": "confirmed"}.get(
            (diagnosis.type or "").strip().upper()[:1]
        )
        return self.out.put(
            ("Condition", self.key, diagnosis.code_system or "", label),
            {
                "clinicalStatus": {
                    "coding": [{"system": _TERMINOLOGY + "condition-clinical", "code": "active"}]
                },
                "verificationStatus": {
                    "coding": [
                        {"system": _TERMINOLOGY + "condition-ver-status", "code": verification}
                    ]
                }
                if verification
                else None,
                "category": [
                    {
                        "coding": [
                            {
                                "system": _TERMINOLOGY + "condition-category",
                                "code": "encounter-diagnosis",
                                "display": "Encounter Diagnosis",
                            }
                        ]
                    }
                ],
                "code": ctx.concept(diagnosis.code, diagnosis.code_system, diagnosis.display),
                "subject": _ref(self.patient_url),
                "encounter": _ref(encounter) if encounter else None,
                "onsetDateTime": fhir_datetime(diagnosis.diagnosed_at),
            },
        )

    def service_request(
        self,
        event: ClinicalEvent,
        order: Order,
        index: int,
        ctx: _Context,
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
                "subject": _ref(self.patient_url),
                "encounter": _ref(encounter) if encounter else None,
                "occurrenceDateTime": fhir_datetime(order.observed_at),
                "authoredOn": fhir_datetime(order.ordered_at),
                "requester": _provider(order.ordering_provider),
                "reasonReference": [_ref(r) for r in reasons],
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
        ctx: _Context,
        encounter: str | None,
        based_on: str | None,
        part_of: str | None,
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
                "basedOn": [_ref(based_on)] if based_on else [],
                "partOf": [_ref(part_of)] if part_of else [],
                "status": OBSERVATION_STATUS.get((obs.status or "").strip().upper(), "unknown"),
                "code": code,
                "subject": _ref(self.patient_url),
                "encounter": _ref(encounter) if encounter else None,
                "effectiveDateTime": when,
                **_observation_value(ctx, obs),
                "interpretation": _interpretation(obs.abnormal_flags),
                "note": _notes(obs.notes),
                "referenceRange": [{"text": obs.reference_range}] if obs.reference_range else [],
            },
        )

    def report(
        self,
        event: ClinicalEvent,
        order_key: tuple[Any, ...],
        order: Order,
        ctx: _Context,
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
                "basedOn": [_ref(based_on)],
                "status": status,
                "code": ctx.concept(order.code, order.code_system, order.display)
                or {"text": "results"},
                "subject": _ref(self.patient_url),
                "encounter": _ref(encounter) if encounter else None,
                "effectiveDateTime": fhir_datetime(order.observed_at),
                "result": [_ref(r) for r in results],
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
        ctx: _Context,
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
                "subject": _ref(self.patient_url),
                "encounter": _ref(encounter) if encounter else None,
                "authoredOn": fhir_datetime(order.ordered_at),
                "requester": _provider(order.ordering_provider),
                "note": _notes(order.notes),
                "dosageInstruction": [_dosage(med)],
                "dispenseRequest": {"quantity": {"value": amount}}
                if (amount := _number(med.dispense_amount)) is not None
                else None,
            },
        )

    def administration(
        self,
        event: ClinicalEvent,
        med: Medication,
        index: int,
        order: Order | None,
        ctx: _Context,
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
                request = _ref(self.out.url(key))
        dose = _number(med.dose)
        return self.out.put(
            ("MedicationAdministration", event.event_id, index),
            {
                "status": fhir_status.get(status, "unknown"),
                "statusReason": [{"text": med.completion_status}] if status in ("RE", "NA") else [],
                "medicationCodeableConcept": _medication(ctx, med),
                "subject": _ref(self.patient_url),
                "context": _ref(encounter) if encounter else None,
                "effectiveDateTime": when,
                "request": request,
                "dosage": _drop_empty(
                    {"route": _text(med.route), "dose": _quantity(dose, med.dose_units)}
                )
                if dose is not None
                else None,
            },
        )

    def immunization(
        self,
        event: ClinicalEvent,
        med: Medication,
        index: int,
        ctx: _Context,
        encounter: str | None,
    ) -> str:
        status = (med.completion_status or "CP").strip().upper()
        not_done = status in ("RE", "NA")
        when = fhir_datetime(med.administered_at) or fhir_datetime(event.occurred_at)
        dose = _number(med.dose)
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
                "patient": _ref(self.patient_url),
                "encounter": _ref(encounter) if encounter else None,
                **({"occurrenceDateTime": when} if when else {"occurrenceString": "unknown"}),
                "manufacturer": {"display": med.manufacturer} if med.manufacturer else None,
                "lotNumber": med.lot_number,
                "route": _text(med.route),
                "doseQuantity": _quantity(dose, med.dose_units)
                if dose is not None and dose != 999  # 999: amount unknown (CDC guide)
                else None,
                "isSubpotent": True if status == "PA" else None,
            },
        )

    def appointment(self, event: ClinicalEvent, ctx: _Context) -> None:
        appt = event.payload.appointment
        if appt is None:
            return
        number = appt.placer_id or appt.filler_id
        key = ("Appointment", self.key, number) if number else ("Appointment", event.event_id)
        if event.event_type == EventType.APPOINTMENT_CANCELLED:
            status = "cancelled"
        else:
            status = APPOINTMENT_STATUS.get((appt.status or "").strip().upper(), "booked")
        start, end = fhir_instant(appt.start), fhir_instant(appt.end)
        if start and not end and appt.duration_minutes:
            end = fhir_instant(
                (_moment(start) + timedelta(minutes=appt.duration_minutes)).isoformat()  # type: ignore[operator]
            )
        if not (start and end) or not _in_order(start, end):
            start = end = None
        requested = None
        if start is None and status not in ("proposed", "cancelled", "waitlist"):
            # FHIR (app-3) lets only proposed, cancelled and waitlisted appointments go
            # without a start and an end: the time asked for is kept as requested.
            requested = _period(appt.start, appt.end)
            status = "proposed"
        participants = [{"actor": _ref(self.patient_url), "status": "accepted"}]
        for resource in appt.resources:
            participants.append({"actor": {"display": resource}, "status": "accepted"})
        if appt.location and appt.location not in appt.resources:
            participants.append({"actor": {"display": appt.location}, "status": "accepted"})
        self.out.put(
            key,
            {
                "identifier": [
                    {"type": _identifier_type(code), "value": value}
                    for code, value in (("PLAC", appt.placer_id), ("FILL", appt.filler_id))
                    if value
                ],
                "status": status,
                "appointmentType": _text(appt.type),
                "reasonCode": [_text(appt.reason)] if appt.reason else [],
                "start": start,
                "end": end,
                "minutesDuration": appt.duration_minutes
                if appt.duration_minutes and appt.duration_minutes > 0
                else None,
                "requestedPeriod": [requested] if requested else [],
                "participant": participants,
            },
        )

    def document(self, event: ClinicalEvent, ctx: _Context, encounter: str | None) -> None:
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
            attachment = _attachment(doc.content, doc.type) or _text_attachment(
                doc.content, doc.type
            )
        resource: Resource = {
            "masterIdentifier": {"value": number} if number else None,
            "status": "entered-in-error" if event.source.trigger_event == "T11" else "current",
            "docStatus": DOCUMENT_STATUS.get((doc.status or "").strip().upper()),
            "type": _text(doc.type),
            "subject": _ref(self.patient_url),
            "date": fhir_instant(doc.activity_at),
            "author": [a] if (a := _provider(doc.author)) else [],
            "content": [{"attachment": attachment}] if attachment else [],
            "context": {"encounter": [_ref(encounter)]} if encounter else None,
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
                                "system": _TERMINOLOGY + "flag-category",
                                "code": "clinical",
                                "display": "Clinical",
                            }
                        ]
                    }
                ],
                "code": _drop_empty(
                    {
                        "coding": [{"system": "urn:hl7bus:alert-rule", "code": rule}]
                        if rule
                        else [],
                        "text": get("title"),
                    }
                )
                or {"text": "alert"},
                "subject": _ref(self.patient_url),
                "period": _period(get("raised_at"), get("changed_at") if resolved else None),
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


def _medication(ctx: _Context, med: Medication) -> dict[str, Any]:
    return ctx.concept(med.code, med.code_system, med.display) or {"text": "unspecified"}


def _dosage(med: Medication) -> dict[str, Any]:
    dose = _number(med.dose)
    words = [w for w in (med.dose, med.dose_units, med.route, med.frequency) if w]
    return _drop_empty(
        {
            "text": " ".join(words),
            "timing": {"code": {"text": med.frequency}} if med.frequency else None,
            "route": _text(med.route),
            "doseAndRate": [{"doseQuantity": _quantity(dose, med.dose_units)}]
            if dose is not None
            else [],
        }
    )


def _is_pharmacy_order(event: ClinicalEvent) -> bool:
    return event.event_type == EventType.MEDICATION_ORDERED or (event.source.message_type == "RDE")


def _events_content(builder: _Builder, event: ClinicalEvent, ctx: _Context) -> None:
    encounter = builder.encounter(event, ctx)
    payload = event.payload
    for allergy in payload.allergies:
        builder.allergy(allergy, ctx, encounter)
    reasons = [
        url
        for url in (builder.condition(d, ctx, encounter) for d in payload.diagnoses)
        if url is not None
    ]
    kind = event.event_type
    administered = kind in (EventType.MEDICATION_ADMINISTERED, EventType.IMMUNIZATION_RECORDED)
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
    elif not administered:
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

    results: dict[int, list[str]] = {}
    result_statuses: dict[int, list[str]] = {}
    forms: dict[int, list[dict[str, Any]]] = {}
    for index, obs in enumerate(payload.observations):
        based_on = order_urls.get(obs.order_index) if obs.order_index is not None else None
        if (obs.value_type or "").upper() == "ED" and obs.order_index in order_keys:
            attachment = _attachment(obs.value, obs.display)
            if attachment is not None:
                forms.setdefault(obs.order_index, []).append(attachment)
                continue
        url = builder.observation(event, obs, index, ctx, encounter, based_on, part_of)
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
        ctx = _Context(event)
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

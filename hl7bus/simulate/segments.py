"""The segments the simulated hospital writes, each as its vendors write it (field
separator ``|``, encoding characters ``^~\\&``).  Free text is escaped."""

from __future__ import annotations

from datetime import datetime

from hl7bus.hl7.encoding import DEFAULT_ENCODING
from hl7bus.hl7.escape import escape

from .hospital import AUTHORITY, Clinician, Vendor
from .people import Person


def text(value: str) -> str:
    """Free text written safely inside a field."""
    return escape(value, DEFAULT_ENCODING)


def segment(name: str, fields: dict[int, str]) -> str:
    """``name`` with ``fields`` by their number (1-based); the ones between are empty."""
    values = [""] * max(fields, default=0)
    for number, value in fields.items():
        values[number - 1] = value
    return "|".join((name, *values))


def identifiers(vendor: Vendor, person: Person, *, broken: bool = False) -> str:
    """PID-3 as ``vendor`` writes it: the laboratory its own number first, the immunization
    registry the state's, registration the enterprise id beside the record number."""
    if broken:
        return ""
    mrn = f"{person.mrn}^^^{AUTHORITY}^MR"
    if vendor.application == "LABSTREAM":
        return f"{person.lab_number}^^^ASHLAB^MR~{mrn}"
    if vendor.application == "VAXTRACK":
        return f"{person.registry_id}^^^STATEIIS^SR~{mrn}"
    if vendor.application in ("PATHWAY", "SCRIBE"):
        return f"{mrn}~{person.empi}^^^ASHEMPI^PI"
    return mrn


def pid(vendor: Vendor, person: Person, account: str = "", *, broken: bool = False) -> str:
    fields = {
        1: "1",
        3: identifiers(vendor, person, broken=broken),
        5: person.xpn,
        7: person.birth_date.strftime("%Y%m%d"),
        8: person.sex,
    }
    if vendor.application in ("PATHWAY", "AGENDA", "VAXTRACK"):  # the demographics
        fields |= {
            11: f"{person.street}^^{person.town}^NY^{person.postal_code}^USA^H",
            13: f"^PRN^PH^^1^585^{person.phone}",
            15: person.language,
        }
    if account:
        fields[18] = account
    return segment("PID", fields)


def location(point_of_care: str, room: str = "", bed: str = "") -> str:
    return f"{point_of_care}^{room}^{bed}^{AUTHORITY}"


def pv1(
    vendor: Vendor,
    patient_class: str,
    where: str,
    visit: str,
    *,
    attending: Clinician | None = None,
    service: str = "",
    admission_type: str = "",
    prior: str = "",
    admitted: datetime | None = None,
    discharged: datetime | None = None,
    disposition: str = "",
) -> str:
    fields = {1: "1", 2: patient_class, 3: where, 19: visit}
    if attending is not None:
        fields |= {7: attending.xcn, 17: attending.xcn}
    if service:
        fields[10] = service
    if admission_type:
        fields[4] = admission_type
    if prior:
        fields[6] = prior
    if disposition:
        fields[36] = disposition
    if admitted is not None:
        fields[44] = vendor.ts(admitted)
    if discharged is not None:
        fields[45] = vendor.ts(discharged)
    return segment("PV1", fields)


def evn(vendor: Vendor, trigger: str, at: datetime, occurred: datetime | None = None) -> str:
    fields = {1: trigger, 2: vendor.ts(at)}
    if occurred is not None:
        fields[6] = vendor.ts(occurred)
    return segment("EVN", fields)


def obx(
    vendor: Vendor,
    index: int,
    value_type: str,
    code: str,
    value: str,
    *,
    units: str = "",
    reference: str = "",
    flag: str = "",
    observed: datetime | None = None,
) -> str:
    fields = {1: str(index), 2: value_type, 3: code, 5: value, 11: "F"}
    if units:
        fields[6] = f"{units}^{units}^UCUM"
    if reference:
        fields[7] = reference
    if flag:
        fields[8] = flag
    if observed is not None:
        fields[14] = vendor.ts(observed)
    return segment("OBX", fields)

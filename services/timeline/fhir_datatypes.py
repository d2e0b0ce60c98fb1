"""FHIR R4 data types from the values of hl7bus's events, for the FHIR export
(:mod:`.fhir`): resource ids and references, ``dateTime``, ``instant`` and ``date``,
Coding and CodeableConcept (through a :class:`Context`, which knows the event's sender),
Identifier, HumanName, Address, ContactPoint, Quantity, Period, Attachment and an
observation's ``value[x]``.  Pure: values in, JSON-ready values out."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from hl7bus.events.model import Address as EventAddress
from hl7bus.events.model import (
    ClinicalEvent,
    Identifier,
    Observation,
    PersonName,
    Provider,
    Telecom,
)
from hl7bus.services.timeline.fhir_codes import (
    AUTHORITY_SYSTEMS,
    CODE_SYSTEM_OIDS,
    CODE_SYSTEMS,
    ED_ENCODINGS,
    IDENTIFIER_TYPES,
    INTERPRETATIONS,
    NULL_FLAVORS,
    TERMINOLOGY,
    UCUM,
    UCUM_UNITS,
    V2_IDENTIFIER_TYPE,
    V3_INTERPRETATION,
    V3_MARITAL_STATUS,
    V3_NULL_FLAVOR,
)

Resource = dict[str, Any]

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:hl7bus:fhir")
"""The UUID namespace of every resource id hl7bus gives."""


# --- ids and references ------------------------------------------------------------------


def resource_id(*parts: object) -> str:
    """The UUID (a valid FHIR id) of a resource, from what makes it that resource."""
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


def reference(full_url: str) -> dict[str, str]:
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


def moment(value: str) -> datetime | None:
    if "T" not in value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def in_order(start: str | None, end: str | None) -> bool:
    """Whether a period's end is not before its start (FHIR invariant per-1), as far as the
    two values can be compared."""
    if start is None or end is None:
        return True
    first, last = moment(start), moment(end)
    if first is not None and last is not None:
        return first <= last
    if first is None and last is None and len(start) == len(end):
        return start <= end
    return True


def period(start: str | None, end: str | None) -> dict[str, str] | None:
    start, end = fhir_datetime(start), fhir_datetime(end)
    if not in_order(start, end):
        end = None  # an end before the start cannot be said in FHIR: the start is kept
    found = {k: v for k, v in (("start", start), ("end", end)) if v}
    return found or None


# --- values ------------------------------------------------------------------------------

_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")


def decimal(raw: str | None) -> int | float | None:
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


def ucum_quantity(value: int | float, units: str | None) -> dict[str, Any]:
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
            return f"{TERMINOLOGY}v2-{upper[3:]}"
        if _is_oid(name):
            table = re.fullmatch(r"2\.16\.840\.1\.113883\.12\.(\d{1,4})", name)
            if table:  # an HL7 v2 table by its OID
                return f"{TERMINOLOGY}v2-{int(table[1]):04d}"
            return CODE_SYSTEM_OIDS.get(name, f"urn:oid:{name}")
        if re.match(r"^(https?://|urn:)\S+$", name):
            return name
    return f"urn:hl7bus:codesystem:{_uri_part(sender)}:{_uri_part(name or 'local')}"


class Context:
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
        if code in NULL_FLAVORS and uri.startswith(f"{TERMINOLOGY}v2-"):
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
            found["type"] = identifier_type(ident.type)
        system = self.authority_system(ident.authority)
        if system:
            found["system"] = system
        found["value"] = ident.value
        return found


def identifier_type(code: str) -> dict[str, Any]:
    if code in IDENTIFIER_TYPES:
        return {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": code}]}
    return {"text": code}


def text_concept(value: str | None) -> dict[str, str] | None:
    return {"text": value} if value else None


def drop_empty(resource: Resource) -> Resource:
    return {k: v for k, v in resource.items() if v not in (None, [], {}, "")}


def human_name(name: PersonName | None) -> dict[str, Any] | None:
    if name is None:
        return None
    found = drop_empty(
        {
            "family": name.family,
            "given": list(name.given),
            "prefix": [name.prefix] if name.prefix else [],
            "suffix": [name.suffix] if name.suffix else [],
        }
    )
    return found or None


def provider(provider: Provider | None) -> dict[str, Any] | None:
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


def address(address: EventAddress) -> dict[str, Any]:
    kind = (address.use or "").upper()
    return drop_empty(
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


def contact_point(telecom: Telecom) -> dict[str, Any]:
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
    return drop_empty({"system": system, "value": telecom.value, "use": fhir_use})


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


def marital_status(value: str | None) -> dict[str, Any] | None:
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


def _coded_value(ctx: Context, value: str) -> dict[str, Any] | None:
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
    first = decimal(m["n1"])
    if first is None:
        return None
    comparator = m["cmp"]
    if m["sep"] is None:
        quantity = ucum_quantity(first, units)
        if comparator in ("<", ">", "<=", ">="):
            quantity = {"value": first, "comparator": comparator, **quantity}
        elif comparator not in (None, "="):
            return None
        return {"valueQuantity": quantity}
    if comparator not in (None, "="):
        return None
    second = decimal(m["n2"])
    if second is None:
        return None
    if m["sep"] in (":", "/"):
        return {"valueRatio": {"numerator": {"value": first}, "denominator": {"value": second}}}
    if m["sep"] == "-" and first <= second:
        return {
            "valueRange": {"low": ucum_quantity(first, units), "high": ucum_quantity(second, units)}
        }
    return None


def observation_value(ctx: Context, obs: Observation) -> dict[str, Any]:
    value = obs.value
    if value is None:
        return {}
    kind = (obs.value_type or "").upper()
    if kind in ("NM", "SN"):
        number = decimal(value)
        if number is not None:
            return {"valueQuantity": ucum_quantity(number, obs.units)}
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


def interpretation(flags: Sequence[str]) -> list[dict[str, Any]]:
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


def ed_attachment(value: str | None, title: str | None = None) -> dict[str, Any] | None:
    """HL7 ED (``source^type^subtype^encoding^data``) as an Attachment with its data, or
    ``None`` when the value is not encapsulated data."""
    if not value:
        return None
    parts = value.split("^", 4)
    if len(parts) < 5 or parts[3].strip().upper() not in ED_ENCODINGS:
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
    return drop_empty(
        {
            "contentType": content_type,
            "data": base64.b64encode(raw).decode("ascii"),
            "title": title,
        }
    )


def text_attachment(text: str, title: str | None = None) -> dict[str, Any]:
    return drop_empty(
        {
            "contentType": "text/plain",
            "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
            "title": title,
        }
    )

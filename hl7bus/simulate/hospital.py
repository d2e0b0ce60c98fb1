"""Ashgrove General Hospital, made up: where it is, its wards and clinicians, and the vendor
systems that send its HL7 — each writing its messages its own way.

Every vendor keys patients by the hospital's medical record number (``ASHGROVE``, type
``MR``) in its sender profile (``hl7bus/samples/profiles/ashgrove-*.toml``); what differs
is how it writes its times (with their offset, in local time without one, or in UTC without
one), which identifiers it lists in PID-3 and in what order, its character set, its version
of HL7, and its own segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

HOSPITAL: Final = "Ashgrove General Hospital"
AUTHORITY: Final = "ASHGROVE"
"""The assigning authority of the hospital's medical record numbers: every vendor's sender
profile keys patients by it."""
ZONE: Final = ZoneInfo("America/New_York")
START: Final = datetime(2026, 12, 1, 6, 0, tzinfo=ZONE)
"""When the simulated clinical clock starts, unless told otherwise."""


class Clock(StrEnum):
    """How a vendor writes its times."""

    OFFSET = "offset"  # the hospital's local time with its offset: 20261201101500-0500
    LOCAL = "local"  # the hospital's local time, without an offset: its profile says where
    UTC = "utc"  # UTC without an offset: its profile's timezone is UTC


@dataclass(frozen=True, slots=True)
class Vendor:
    """One vendor system of the hospital, as its messages show it."""

    application: str  # MSH-3
    facility: str  # MSH-4
    system: str  # what it is, in the hospital's words
    profile: str  # the name of its sender profile
    version: str  # MSH-12
    clock: Clock
    charset: str  # the codec its bytes are written in
    msh18: str  # what it declares in MSH-18 ("" for nothing)
    prefix: str  # of its message control ids
    quirks: str  # what sets it apart, in a sentence
    enhanced: bool = False  # asks for enhanced-mode ACKs (MSH-15 AL): CA, not AA

    def ts(self, at: datetime) -> str:
        """``at`` as this vendor writes a time (to the second)."""
        return _written(self.clock, at)

    def message_type(self, code: str, trigger: str, structure: str) -> str:
        """MSH-9: with its message structure from v2.4 on."""
        if self.version.startswith(("2.1", "2.2", "2.3")):
            return f"{code}^{trigger}"
        return f"{code}^{trigger}^{structure}"

    def msh(self, at: datetime, message_type: str, control_id: str) -> str:
        fields = [
            "MSH",
            "^~\\&",
            self.application,
            self.facility,
            "HL7BUS",
            AUTHORITY,
            self.ts(at),
            "",
            message_type,
            control_id,
            "P",
            self.version,
            "",
            "",
            "AL" if self.enhanced else "",
            "NE" if self.enhanced else "",
            "USA" if self.msh18 else "",
            self.msh18,
        ]
        return "|".join(fields).rstrip("|")

    def encode(self, text: str) -> bytes:
        return text.encode(self.charset)


@lru_cache(maxsize=4096)
def _written(clock: Clock, at: datetime) -> str:
    if clock is Clock.UTC:
        return at.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    local = at.astimezone(ZONE)
    text = local.strftime("%Y%m%d%H%M%S")
    return text + local.strftime("%z") if clock is Clock.OFFSET else text


PATHWAY = Vendor(
    "PATHWAY",
    AUTHORITY,
    "registration (ADT)",
    "ashgrove-pathway",
    "2.5.1",
    Clock.OFFSET,
    "utf-8",
    "UNICODE UTF-8",
    "PW",
    "times with their offset; the enterprise id beside the record number; its own ZPV "
    "segment, whose arrival mode (ZPV-2) its profile keeps as an extension",
)
ORDERLY = Vendor(
    "ORDERLY",
    AUTHORITY,
    "order entry",
    "ashgrove-orderly",
    "2.3",
    Clock.LOCAL,
    "utf-8",
    "",
    "OE",
    "HL7 2.3, local times without an offset; now and then an order status update with an "
    "empty PID-3, which hl7bus refuses (AE) to the dead-letter topic",
)
LABSTREAM = Vendor(
    "LABSTREAM",
    "ASHGROVE LAB",
    "laboratory",
    "ashgrove-labstream",
    "2.5.1",
    Clock.LOCAL,
    "utf-8",
    "",
    "LS",
    "local times without an offset; its own patient number (authority ASHLAB, type MR) "
    "before the hospital's in PID-3; local test codes its profile maps to LOINC",
)
BEDSIDE = Vendor(
    "BEDSIDE",
    AUTHORITY,
    "bedside monitors",
    "ashgrove-bedside",
    "2.6",
    Clock.UTC,
    "utf-8",
    "",
    "BS",
    "vital signs with LOINC codes, times in UTC without an offset",
)
RXLINE = Vendor(
    "RXLINE",
    "ASHGROVE PHARMACY",
    "pharmacy",
    "ashgrove-rxline",
    "2.5.1",
    Clock.OFFSET,
    "utf-8",
    "UNICODE UTF-8",
    "RX",
    "medication orders (RDE^O11) and administrations (RAS^O17) with RxNorm codes",
)
VAXTRACK = Vendor(
    "VAXTRACK",
    AUTHORITY,
    "immunizations",
    "ashgrove-vaxtrack",
    "2.5.1",
    Clock.OFFSET,
    "utf-8",
    "UNICODE UTF-8",
    "VX",
    "enhanced-mode acknowledgements (MSH-15 AL: CA); the state registry's id first in PID-3",
    enhanced=True,
)
AGENDA = Vendor(
    "AGENDA",
    "ASHGROVE CLINICS",
    "scheduling",
    "ashgrove-agenda",
    "2.3",
    Clock.LOCAL,
    "iso8859-1",
    "8859/1",
    "AG",
    "HL7 2.3 in ISO 8859-1 (MSH-18 8859/1: Latin-1 bytes), local times without an offset",
)
SCRIBE = Vendor(
    "SCRIBE",
    "ASHGROVE HIM",
    "documents",
    "ashgrove-scribe",
    "2.6",
    Clock.OFFSET,
    "utf-8",
    "UNICODE UTF-8",
    "DW",
    "clinical notes and discharge summaries (MDM^T02) with their text in OBX",
)

VENDORS: Final = (PATHWAY, ORDERLY, LABSTREAM, BEDSIDE, RXLINE, VAXTRACK, AGENDA, SCRIBE)


@dataclass(frozen=True, slots=True)
class Clinician:
    id: str
    family: str
    given: str

    @property
    def xcn(self) -> str:
        return f"{self.id}^{self.family}^{self.given}^^^DR"


CLINICIANS: Final = (
    Clinician("A1021", "VARGA", "ILONA"),
    Clinician("A1034", "OSEI", "KWAME"),
    Clinician("A1047", "LINDGREN", "TOVE"),
    Clinician("A1052", "RAMOS", "BEATRIZ"),
    Clinician("A1068", "ASHWORTH", "CALLUM"),
    Clinician("A1073", "ONYEKACHI", "NNEKA"),
    Clinician("A1089", "TREMBLAY", "LUC"),
    Clinician("A1095", "HOLLOWAY", "MAEVE"),
)


@dataclass(frozen=True, slots=True)
class Ward:
    point_of_care: str
    service: str  # PV1-10, hospital service
    rooms: range


WARDS: Final = (
    Ward("3EAST", "MED", range(301, 331)),
    Ward("4WEST", "SUR", range(401, 429)),
    Ward("5NORTH", "CAR", range(501, 524)),
    Ward("6SOUTH", "MED", range(601, 631)),
)
ICU: Final = Ward("ICU", "ICU", range(1, 13))
ED: Final = "ED"
CLINICS: Final = ("FAMCLIN", "CARDCLIN", "PULMCLIN")

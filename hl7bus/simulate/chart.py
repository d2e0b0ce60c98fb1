"""One patient's story as it is written: each thing that happens to the patient becomes the
message the right vendor system sends about it, at the time it happens.

A :class:`Chart` collects :class:`Step` values (when, which vendor, the message's type and
segments without MSH); the feed adds each vendor's MSH, with its control id, when it sends
the step.  The chart is the only writer of messages in the simulator: a scenario says *what*
happens (``admit``, ``order``, ``vitals``), the chart *how* each vendor writes it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from . import clinical
from .clinical import Condition, Drug, Vaccine
from .hospital import (
    AGENDA,
    AUTHORITY,
    BEDSIDE,
    CLINICIANS,
    LABSTREAM,
    ORDERLY,
    PATHWAY,
    RXLINE,
    SCRIBE,
    VAXTRACK,
    Clinician,
    Vendor,
)
from .people import GIVEN_FEMALE, GIVEN_MALE, Person
from .segments import evn, location, obx, pid, pv1, segment, text

BROKEN_SHARE = 0.12
"""The share of the order entry system's status updates sent with an empty PID-3."""


@dataclass(frozen=True, slots=True)
class Step:
    """One message of a story, without its MSH (the feed writes that as it sends it)."""

    at: datetime  # when the vendor sends it (MSH-7)
    vendor: Vendor
    message_type: str  # MSH-9, as the vendor writes it
    segments: tuple[str, ...]
    broken: bool = False


@dataclass
class Visit:
    """An encounter: who, which visit, under whom, and where the patient is when (a story
    is written in any order; each message shows the place at its time)."""

    person: Person
    number: str
    account: str
    patient_class: str  # PV1-2: E, I, O
    attending: Clinician
    service: str
    admitted_at: datetime
    moves: list[tuple[datetime, str]]  # PV1-3 from then on

    def where(self, at: datetime) -> str:
        return max(
            (m for m in self.moves if m[0] <= at), default=self.moves[0], key=lambda m: m[0]
        )[1]


@dataclass(frozen=True, slots=True)
class LabOrder:
    placer: str
    filler: str
    panel: str
    ordered_at: datetime
    collected_at: datetime


@dataclass(frozen=True, slots=True)
class MedicationOrder:
    placer: str
    filler: str
    drug: Drug


@dataclass(frozen=True, slots=True)
class Booking:
    placer: str
    clinic: str
    start: datetime
    minutes: int
    clinician: Clinician


@dataclass
class Chart:
    rng: random.Random
    person: Person
    tag: str
    steps: list[Step] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)

    # -- numbers and the story's steps ---------------------------------------------------------

    def number(self, kind: str) -> str:
        """The next identifier of a kind (visit, order, ...) in this patient's story."""
        self._counts[kind] = count = self._counts.get(kind, 0) + 1
        return f"{kind}{self.tag}{self.person.number:05d}{count:02d}"

    def add(
        self,
        at: datetime,
        vendor: Vendor,
        kind: tuple[str, str, str],
        segments: list[str],
        *,
        broken: bool = False,
    ) -> None:
        sent = at + timedelta(seconds=self.rng.randrange(5, 55))  # the interface's delay
        message_type = vendor.message_type(*kind)
        self.steps.append(Step(sent, vendor, message_type, tuple(segments), broken))

    def visit(
        self, person: Person, patient_class: str, where: str, at: datetime, service: str
    ) -> Visit:
        return Visit(
            person,
            self.number("V"),
            self.number("A"),
            patient_class,
            self.rng.choice(CLINICIANS),
            service,
            at,
            [(at, where)],
        )

    def _pv1(self, vendor: Vendor, visit: Visit, at: datetime, **extra: object) -> str:
        return pv1(
            vendor,
            visit.patient_class,
            visit.where(at),
            visit.number,
            attending=visit.attending,
            service=visit.service,
            admitted=visit.admitted_at,
            **extra,  # type: ignore[arg-type]
        )

    # -- registration (ADT) --------------------------------------------------------------------

    def register(self, at: datetime, visit: Visit, arrival_mode: str) -> None:
        """A04: the patient is registered, for the emergency department or a clinic."""
        rng, person = self.rng, visit.person
        segments = [evn(PATHWAY, "A04", at, at - timedelta(minutes=2)), pid(PATHWAY, person)]
        if rng.random() < 0.5:
            names = GIVEN_FEMALE if person.sex == "M" else GIVEN_MALE
            segments.append(
                segment(
                    "NK1",
                    {
                        1: "1",
                        2: f"{person.family}^{rng.choice(names)}",
                        3: "SPO^Spouse^HL70063",
                        5: f"^PRN^PH^^1^585^555{rng.randrange(100, 200):04d}",
                    },
                )
            )
        admission_type = "E" if visit.patient_class == "E" else "R"
        segments.append(self._pv1(PATHWAY, visit, at, admission_type=admission_type))
        if rng.random() < 0.3:
            segments.append(self._allergy())
        segments.append(
            segment(
                "IN1",
                {
                    1: "1",
                    2: "MLK-PPO^Meadowlark Health PPO",
                    3: "7781",
                    4: "MEADOWLARK HEALTH",
                    8: f"GRP{rng.randrange(1000, 9999)}",
                    36: f"M{self.tag}{person.number:05d}",
                },
            )
        )
        segments.append(segment("ZPV", {1: "1", 2: arrival_mode}))
        self.add(at, PATHWAY, ("ADT", "A04", "ADT_A01"), segments)

    def admit(self, at: datetime, visit: Visit, diagnosis: tuple[str, str]) -> None:
        code, words = diagnosis
        self._visit_event(
            at,
            "A01",
            "ADT_A01",
            visit,
            self._pv1(PATHWAY, visit, at, admission_type="E"),
            segment("DG1", {1: "1", 2: "I10", 3: f"{code}^{text(words)}^I10", 6: "A"}),
            occurred=at - timedelta(minutes=5),
        )

    def _visit_event(
        self,
        at: datetime,
        trigger: str,
        structure: str,
        visit: Visit,
        pv1: str,
        *more: str,
        occurred: datetime | None = None,
    ) -> None:
        """A registration system's ADT message about a visit: EVN, PID, the PV1, then
        ``more``."""
        person = pid(PATHWAY, visit.person, visit.account)
        segments = [evn(PATHWAY, trigger, at, occurred), person, pv1, *more]
        self.add(at, PATHWAY, ("ADT", trigger, structure), segments)

    def transfer(self, at: datetime, visit: Visit, where: str) -> None:
        prior = visit.where(at)
        visit.moves.append((at, where))
        self._visit_event(at, "A02", "ADT_A02", visit, self._pv1(PATHWAY, visit, at, prior=prior))

    def discharge(self, at: datetime, visit: Visit) -> None:
        pv1 = self._pv1(PATHWAY, visit, at, discharged=at, disposition="01")
        self._visit_event(at, "A03", "ADT_A03", visit, pv1)

    def update_allergy(self, at: datetime, visit: Visit) -> None:
        """A08: an allergy the patient remembers, recorded."""
        self._visit_event(
            at, "A08", "ADT_A01", visit, self._pv1(PATHWAY, visit, at), self._allergy()
        )

    def _allergy(self) -> str:
        return segment(
            "AL1",
            {
                1: "1",
                2: "DA^Drug allergy^HL70127",
                3: self.rng.choice(clinical.ALLERGIES),
                4: "MO^Moderate^HL70128",
                5: self.rng.choice(clinical.REACTIONS),
            },
        )

    def merge(self, at: datetime, survivor: Person, duplicate: Visit) -> None:
        """A40: the duplicate record is merged into the patient's own."""
        self.add(
            at,
            PATHWAY,
            ("ADT", "A40", "ADT_A39"),
            [
                evn(PATHWAY, "A40", at),
                pid(PATHWAY, survivor),
                segment(
                    "MRG",
                    {1: f"{duplicate.person.mrn}^^^{AUTHORITY}^MR", 3: duplicate.account},
                ),
            ],
        )

    # -- orders and results --------------------------------------------------------------------

    def order(self, at: datetime, visit: Visit, panels: list[str]) -> list[LabOrder]:
        """ORM^O01 new orders, then, once the specimen is taken, their status update."""
        doctor = visit.attending.xcn
        collected = at + timedelta(minutes=self.rng.randint(10, 25))
        orders = [
            LabOrder(self.number("OR"), self.number("LS"), panel, at, collected) for panel in panels
        ]
        group = self.number("OG")
        segments = [pid(ORDERLY, visit.person), self._pv1(ORDERLY, visit, at)]
        for index, o in enumerate(orders, start=1):
            segments += [
                segment(
                    "ORC",
                    {
                        1: "NW",
                        2: f"{o.placer}^ORDERLY",
                        4: f"{group}^ORDERLY",
                        7: f"^^^{ORDERLY.ts(at)}^^R",
                        9: ORDERLY.ts(at),
                        12: doctor,
                    },
                ),
                segment(
                    "OBR",
                    {1: str(index), 2: f"{o.placer}^ORDERLY", 4: clinical.PANELS[o.panel].code},
                ),
            ]
        self.add(at, ORDERLY, ("ORM", "O01", "ORM_O01"), segments)
        broken = self.rng.random() < BROKEN_SHARE
        segments = [
            pid(ORDERLY, visit.person, broken=broken),
            self._pv1(ORDERLY, visit, collected),
        ]
        for index, o in enumerate(orders, start=1):
            segments += [
                segment(
                    "ORC",
                    {
                        1: "SC",
                        2: f"{o.placer}^ORDERLY",
                        3: f"{o.filler}^LABSTREAM",
                        5: "IP",
                        9: ORDERLY.ts(collected),
                        12: doctor,
                    },
                ),
                segment(
                    "OBR",
                    {
                        1: str(index),
                        2: f"{o.placer}^ORDERLY",
                        3: f"{o.filler}^LABSTREAM",
                        4: clinical.PANELS[o.panel].code,
                        7: ORDERLY.ts(collected),
                    },
                ),
            ]
        self.add(collected, ORDERLY, ("ORM", "O01", "ORM_O01"), segments, broken=broken)
        return orders

    def results(
        self,
        at: datetime,
        visit: Visit,
        orders: list[LabOrder],
        values: dict[str, float] | None = None,
        note: str = "",
    ) -> None:
        """ORU^R01 from the laboratory: each test normal unless ``values`` says otherwise."""
        values = values or {}
        segments = [pid(LABSTREAM, visit.person), self._pv1(LABSTREAM, visit, at)]
        for index, o in enumerate(orders, start=1):
            segments += [
                segment(
                    "ORC", {1: "RE", 2: f"{o.placer}^ORDERLY", 3: f"{o.filler}^LABSTREAM", 5: "CM"}
                ),
                segment(
                    "OBR",
                    {
                        1: str(index),
                        2: f"{o.placer}^ORDERLY",
                        3: f"{o.filler}^LABSTREAM",
                        4: clinical.PANELS[o.panel].code,
                        7: LABSTREAM.ts(o.collected_at),
                        14: LABSTREAM.ts(o.collected_at + timedelta(minutes=12)),
                        16: visit.attending.xcn,
                        22: LABSTREAM.ts(at),
                        25: "F",
                    },
                ),
            ]
            for number, local in enumerate(clinical.PANELS[o.panel].tests, start=1):
                test = clinical.TESTS[local]
                value = values.get(local)
                if value is None:
                    value = clinical.normal_value(self.rng, test)
                shown = f"{value:.{test.decimals}f}"
                critical = local == "K" and value > 6.1
                segments.append(
                    obx(
                        LABSTREAM,
                        number,
                        "NM",
                        f"{local}^{test.name}^L",
                        shown,
                        units=test.units,
                        reference=test.reference,
                        flag="HH" if critical else clinical.flag(test, value),
                        observed=o.collected_at,
                    )
                )
                if critical and note:
                    segments.append(segment("NTE", {1: "1", 3: text(note)}))
        self.add(at, LABSTREAM, ("ORU", "R01", "ORU_R01"), segments)

    def vitals(self, at: datetime, visit: Visit, condition: Condition) -> None:
        """ORU^R01 from the bedside monitor: one set of vital signs."""
        v = clinical.vital_signs(self.rng, condition)
        number = self.number("VS")

        def flag(high: bool, low: bool = False) -> str:
            return "H" if high else "L" if low else "N"

        def reading(index: int, code: str, value: str, units: str, shown_flag: str) -> str:
            return obx(BEDSIDE, index, "NM", code, value, units=units, flag=shown_flag, observed=at)

        oxygen = (
            reading(3, clinical.OXYGEN_FLOW, str(v.oxygen_flow), "L/min", "N")
            if v.oxygen_flow
            else reading(3, clinical.FIO2, "21", "%", "N")
        )
        segments = [
            pid(BEDSIDE, visit.person),
            self._pv1(BEDSIDE, visit, at),
            segment(
                "OBR",
                {
                    1: "1",
                    2: f"{number}^BEDSIDE",
                    3: f"{number}^BEDSIDE",
                    4: "85353-1^Vital signs panel^LN",
                    7: BEDSIDE.ts(at),
                    25: "F",
                },
            ),
            reading(
                1,
                clinical.RESPIRATION,
                str(v.respiration),
                "/min",
                flag(v.respiration > 20, v.respiration < 12),
            ),
            reading(2, clinical.SPO2, str(v.spo2), "%", flag(False, v.spo2 < 95)),
            oxygen,
            reading(
                4,
                clinical.SYSTOLIC,
                str(v.systolic),
                "mm[Hg]",
                flag(v.systolic > 140, v.systolic < 100),
            ),
            reading(
                5,
                clinical.DIASTOLIC,
                str(v.diastolic),
                "mm[Hg]",
                flag(v.diastolic > 90, v.diastolic < 60),
            ),
            reading(6, clinical.PULSE, str(v.pulse), "/min", flag(v.pulse > 100, v.pulse < 60)),
            obx(BEDSIDE, 7, "ST", clinical.CONSCIOUSNESS, v.consciousness, observed=at),
            reading(
                8, clinical.TEMPERATURE, f"{v.temperature:.1f}", "Cel", flag(v.temperature > 38.0)
            ),
        ]
        self.add(at, BEDSIDE, ("ORU", "R01", "ORU_R01"), segments)

    # -- pharmacy and immunizations ------------------------------------------------------------

    def prescribe(self, at: datetime, visit: Visit, drugs: list[str]) -> list[MedicationOrder]:
        """RDE^O11: the pharmacy verifies the medication orders."""
        orders = [
            MedicationOrder(self.number("RX"), self.number("RF"), clinical.DRUGS[name])
            for name in drugs
        ]
        segments = [pid(RXLINE, visit.person), self._pv1(RXLINE, visit, at)]
        for o in orders:
            d = o.drug
            timing = f"^{d.frequency}^^{RXLINE.ts(at)}"
            segments += [
                segment(
                    "ORC",
                    {
                        1: "NW",
                        2: f"{o.placer}^RXLINE",
                        3: f"{o.filler}^RXLINE",
                        7: timing,
                        9: RXLINE.ts(at),
                        12: visit.attending.xcn,
                    },
                ),
                segment(
                    "RXE",
                    {
                        1: timing,
                        2: f"{d.rxnorm}^{d.name}^RXNORM",
                        3: d.dose,
                        5: f"{d.units}^{d.units}^UCUM",
                    },
                ),
                segment("RXR", {1: f"{d.route}^{clinical.ROUTES[d.route]}^HL70162"}),
            ]
        self.add(at, RXLINE, ("RDE", "O11", "RDE_O11"), segments)
        return orders

    def administer(self, at: datetime, visit: Visit, order: MedicationOrder) -> None:
        """RAS^O17: a nurse gives a dose."""
        d = order.drug
        self.add(
            at,
            RXLINE,
            ("RAS", "O17", "RAS_O17"),
            [
                pid(RXLINE, visit.person),
                self._pv1(RXLINE, visit, at),
                segment("ORC", {1: "RE", 2: f"{order.placer}^RXLINE", 3: f"{order.filler}^RXLINE"}),
                segment(
                    "RXA",
                    {
                        1: "0",
                        2: "1",
                        3: RXLINE.ts(at),
                        4: RXLINE.ts(at),
                        5: f"{d.rxnorm}^{d.name}^RXNORM",
                        6: d.dose,
                        7: f"{d.units}^{d.units}^UCUM",
                        20: "CP",
                    },
                ),
                segment("RXR", {1: f"{d.route}^{clinical.ROUTES[d.route]}^HL70162"}),
            ],
        )

    def vaccinate(self, at: datetime, visit: Visit, vaccine: Vaccine) -> None:
        """VXU^V04 to the immunization registry's interface."""
        self.add(
            at,
            VAXTRACK,
            ("VXU", "V04", "VXU_V04"),
            [
                pid(VAXTRACK, visit.person),
                self._pv1(VAXTRACK, visit, at),
                segment("ORC", {1: "RE", 3: f"{self.number('VX')}^VAXTRACK"}),
                segment(
                    "RXA",
                    {
                        1: "0",
                        2: "1",
                        3: VAXTRACK.ts(at),
                        5: f"{vaccine.cvx}^{vaccine.name}^CVX",
                        6: "0.5",
                        7: "mL^mL^UCUM",
                        9: "00^New immunization record^NIP001",
                        15: f"LOT{self.rng.randrange(10000, 99999)}",
                        17: vaccine.manufacturer,
                        20: "CP",
                        21: "A",
                    },
                ),
                segment("RXR", {1: "IM^Intramuscular^HL70162", 2: vaccine.site}),
            ],
        )

    # -- scheduling and documents --------------------------------------------------------------

    def _siu(
        self,
        at: datetime,
        trigger: str,
        booking: Booking,
        person: Person,
        reason: str,
        status: str,
        note: str = "",
    ) -> None:
        end = booking.start + timedelta(minutes=booking.minutes)
        segments = [
            segment(
                "SCH",
                {
                    1: booking.placer,
                    2: booking.placer,
                    6: reason,
                    7: "FOLLOWUP^Follow-up visit",
                    8: "ROUTINE^Routine^HL70276",
                    9: str(booking.minutes),
                    10: "MIN",
                    11: f"^^{booking.minutes}^{AGENDA.ts(booking.start)}^{AGENDA.ts(end)}",
                    25: status,
                },
            ),
            pid(AGENDA, person),
            pv1(AGENDA, "O", location(booking.clinic), ""),
            segment("RGS", {1: "1"}),
            segment("AIP", {1: "1", 3: booking.clinician.xcn, 4: "ATTENDING"}),
            segment("AIL", {1: "1", 3: location(booking.clinic, f"ROOM {booking.placer[-1]}")}),
        ]
        if note:
            segments.append(segment("NTE", {1: "1", 3: text(note)}))
        self.add(at, AGENDA, ("SIU", trigger, "SIU_S12"), segments)

    def book(self, at: datetime, start: datetime, clinic: str, person: Person) -> Booking:
        booking = Booking(self.number("AP"), clinic, start, 30, self.rng.choice(CLINICIANS))
        note = "Préfère un rendez-vous le matin." if person.language == "fr" else ""
        self._siu(at, "S12", booking, person, "NEW^New appointment", "Booked", note)
        return booking

    def reschedule(
        self, at: datetime, booking: Booking, start: datetime, person: Person
    ) -> Booking:
        moved = replace(booking, start=start)
        self._siu(at, "S13", moved, person, "PATREQ^Patient request", "Booked")
        return moved

    def cancel(self, at: datetime, booking: Booking, person: Person) -> None:
        self._siu(at, "S15", booking, person, "ADMIT^Admitted to hospital", "Cancelled")

    def document(
        self, at: datetime, visit: Visit, kind: tuple[str, str, str], lines: list[str]
    ) -> None:
        """MDM^T02: a note or a summary, with its text."""
        txa_type, loinc, words = kind
        self.add(
            at,
            SCRIBE,
            ("MDM", "T02", "MDM_T02"),
            [
                evn(SCRIBE, "T02", at),
                pid(SCRIBE, visit.person),
                self._pv1(SCRIBE, visit, at),
                segment(
                    "TXA",
                    {
                        1: "1",
                        2: f"{txa_type}^{words}",
                        3: "TX",
                        4: SCRIBE.ts(at),
                        5: visit.attending.xcn,
                        12: self.number("DOC"),
                        17: "AU",
                    },
                ),
                obx(SCRIBE, 1, "TX", f"{loinc}^{words}^LN", "~".join(text(x) for x in lines)),
            ],
        )

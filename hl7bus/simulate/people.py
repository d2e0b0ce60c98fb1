"""The simulated hospital's patients: made up, never real people.

Names are drawn at random from lists of given and family names (some with letters beyond
ASCII, all within ISO 8859-1, so that the scheduling system can write them in Latin-1);
addresses are in made-up towns, phone numbers in the 555-01xx range kept for fiction, and
identifiers carry the run's tag (:func:`run_tag`), so that two seeds give two populations.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FAMILY_NAMES: Final = _names(
    """
    OKONKWO LINDQVIST MÜLLER GARCÍA NÚÑEZ ØDEGÅRD FITZWILLIAM NAKAMURA PETROVA O'CONNELL
    HADDAD KOWALCZYK DUBOIS LEFÈVRE ROSSETTI BJÖRKLUND SØNDERGAARD IBÁÑEZ ZÚÑIGA CASTAÑEDA
    MOREAU GIRAUD HÄMÄLÄINEN ÇELIK NOVAK SATO TRAN MENSAH ADEYEMI WALSH BYRNE THORNBURY
    PEMBERTON WHITLOCK ASHDOWN KETTERING MARCHETTI ESPOSITO DELAUNAY QUIGLEY ABERNATHY
    VALDÉS KRÜGER STRAUSSER MCALLISTER OYELARAN FERREIRA HOLMGREN JANSSEN VOORHEES
    """
)
GIVEN_FEMALE: Final = _names(
    """
    AMARA ZOË INÈS MAREN SIGRID LEONOR AOIFE PRIYA HANA NOÉMIE RUTH BEATRIZ INGRID OLAMIDE
    CLARA MIREILLE JOSEFA ELIN TAMSIN YARA DAGNY LUCÍA GRETE NALEDI
    """
)
GIVEN_MALE: Final = _names(
    """
    JOSÉ BJÖRN TOBIAS EMEKA RAFAEL JOAQUÍN MATTHIAS KENJI DECLAN ANDERS OLUWASEUN THÉO
    HENRIK IDRIS MARCUS RUAIRÍ STELLAN FLORIAN MATEUS CIARÁN ESKIL BENOÎT WENDELL ANSELM
    """
)
STREETS: Final = (
    "ORCHARD WAY",
    "KESTREL LANE",
    "BIRCHWOOD AVENUE",
    "MILLRACE ROAD",
    "LANTERN STREET",
    "HOLLOW OAK DRIVE",
    "FERRY LANE",
    "QUARRY HILL ROAD",
    "WILLOW BEND",
    "SEXTANT COURT",
)
TOWNS: Final = (
    ("ASHGROVE", "14901"),
    ("MILLBROOK FALLS", "14907"),
    ("KESTREL HEIGHTS", "14912"),
    ("DUNMORE CROSSING", "14920"),
)
LANGUAGES: Final = ("en", "en", "en", "en", "es", "fr", "de", "pt")


def run_tag(seed: int) -> str:
    """Four digits that tell one seed's identifiers from another's."""
    digest = hashlib.sha256(f"hl7bus-simulate:{seed}".encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % 10_000:04d}"


@dataclass(frozen=True, slots=True)
class Person:
    """A made-up patient and the identifiers each system knows them by."""

    number: int
    mrn: str  # the hospital's medical record number: ASHGROVE, MR
    empi: str  # the enterprise id: ASHEMPI, PI
    lab_number: str  # the laboratory's own: ASHLAB, MR
    registry_id: str  # the state immunization registry's: STATEIIS, SR
    family: str
    given: str
    middle: str
    sex: str
    birth_date: date
    street: str
    town: str
    postal_code: str
    phone: str
    language: str

    @property
    def key(self) -> str:
        return f"ASHGROVE|{self.mrn}"

    @property
    def xpn(self) -> str:
        prefix = "MS" if self.sex == "F" else "MR"
        return f"{self.family}^{self.given}^{self.middle}^^{prefix}"

    def age_at(self, when: datetime) -> int:
        day = when.date()
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


def make_person(rng: random.Random, number: int, tag: str, at: datetime, ages: range) -> Person:
    """Patient ``number`` of the run tagged ``tag``, aged within ``ages`` at ``at``."""
    sex = rng.choice("FM")
    given = rng.choice(GIVEN_FEMALE if sex == "F" else GIVEN_MALE)
    middle = rng.choice((*GIVEN_FEMALE, *GIVEN_MALE))[0] if rng.random() < 0.6 else ""
    born = at.date() - timedelta(days=rng.randrange(ages.start * 365, ages.stop * 365))
    town, postal_code = rng.choice(TOWNS)
    return Person(
        number=number,
        mrn=f"AG{tag}{number:05d}",
        empi=f"E{tag}{number:06d}",
        lab_number=f"L{tag}{number:05d}",
        registry_id=f"SR{tag}{number:05d}",
        family=rng.choice(FAMILY_NAMES),
        given=given,
        middle=middle,
        sex=sex,
        birth_date=born,
        street=f"{rng.randrange(2, 990)} {rng.choice(STREETS)}",
        town=town,
        postal_code=postal_code,
        phone=f"555{rng.randrange(100, 200):04d}",
        language=rng.choice(LANGUAGES),
    )


def duplicate_of(person: Person, tag: str) -> Person:
    """The record a registration clerk makes when the search does not find the patient: a new
    record number, the middle initial missed."""
    return Person(
        **{
            **{name: getattr(person, name) for name in Person.__slots__},
            "mrn": f"AG{tag}D{person.number:05d}",
            "empi": f"E{tag}D{person.number:05d}",
            "lab_number": f"L{tag}D{person.number:05d}",
            "middle": "",
        }
    )

"""What the simulated hospital measures, orders and gives: laboratory tests with the
laboratory's local codes (its sender profile maps them to LOINC), vital signs with the LOINC
codes the alerts service reads, medications (RxNorm), vaccines (CVX), diagnoses (ICD-10).

Values are drawn at random within bands chosen for the story: a stable patient's vital signs
score 0 in NEWS2 and their results stay within the critical limits of the alerts service's
default rules; a deteriorating patient's vital signs climb to a NEWS2 of 7 or more.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum
from typing import Final


@dataclass(frozen=True, slots=True)
class LabTest:
    """One laboratory test as the laboratory codes it, with the LOINC code its profile
    maps the local code to."""

    local: str
    name: str
    loinc: str
    units: str
    low: float
    high: float
    decimals: int

    @property
    def reference(self) -> str:
        return f"{self.low:.{self.decimals}f}-{self.high:.{self.decimals}f}"


TESTS: Final = {
    t.local: t
    for t in (
        LabTest("K", "Potassium", "2823-3", "mmol/L", 3.5, 5.1, 1),
        LabTest("NA", "Sodium", "2951-2", "mmol/L", 136, 145, 0),
        LabTest("CL", "Chloride", "2075-0", "mmol/L", 98, 107, 0),
        LabTest("CO2", "Carbon dioxide, total", "2028-9", "mmol/L", 22, 29, 0),
        LabTest("BUN", "Urea nitrogen", "3094-0", "mg/dL", 7, 20, 0),
        LabTest("CREA", "Creatinine", "2160-0", "mg/dL", 0.6, 1.3, 2),
        LabTest("GLU", "Glucose", "2345-7", "mg/dL", 70, 99, 0),
        LabTest("WBC", "Leukocytes", "6690-2", "10*3/uL", 4.5, 11.0, 1),
        LabTest("HGB", "Hemoglobin", "718-7", "g/dL", 12.0, 17.5, 1),
        LabTest("HCT", "Hematocrit", "4544-3", "%", 36, 50, 0),
        LabTest("PLT", "Platelets", "777-3", "10*3/uL", 150, 400, 0),
        LabTest("LACT", "Lactate", "2524-7", "mmol/L", 0.5, 2.2, 1),
        LabTest("CHOL", "Cholesterol", "2093-3", "mg/dL", 100, 199, 0),
        LabTest("HDL", "Cholesterol in HDL", "2085-9", "mg/dL", 40, 90, 0),
        LabTest("TRIG", "Triglyceride", "2571-8", "mg/dL", 40, 149, 0),
        LabTest("A1C", "Hemoglobin A1c", "4548-4", "%", 4.0, 5.6, 1),
    )
}


@dataclass(frozen=True, slots=True)
class Panel:
    code: str  # the order's code, as order entry sends it (OBR-4)
    tests: tuple[str, ...]


PANELS: Final = {
    "BMP": Panel(
        "51990-0^Basic metabolic panel - Blood^LN", ("NA", "K", "CL", "CO2", "BUN", "CREA", "GLU")
    ),
    "CBC": Panel("58410-2^CBC panel - Blood by Automated count^LN", ("WBC", "HGB", "HCT", "PLT")),
    "LACT": Panel("2524-7^Lactate [Moles/volume] in Serum or Plasma^LN", ("LACT",)),
    "LIPID": Panel(
        "57698-3^Lipid panel with direct LDL - Serum or Plasma^LN", ("CHOL", "HDL", "TRIG")
    ),
    "A1C": Panel("4548-4^Hemoglobin A1c/Hemoglobin.total in Blood^LN", ("A1C",)),
}


def normal_value(rng: random.Random, test: LabTest) -> float:
    """A value inside the test's reference range, mostly near its middle."""
    middle, half = (test.low + test.high) / 2, (test.high - test.low) / 2
    return max(test.low, min(test.high, rng.gauss(middle, half / 2.5)))


def flag(test: LabTest, value: float) -> str:
    text = f"{value:.{test.decimals}f}"
    number = float(text)
    return "L" if number < test.low else "H" if number > test.high else "N"


# -- vital signs ------------------------------------------------------------------------------

RESPIRATION = "9279-1^Respiratory rate^LN"
SPO2 = "59408-5^Oxygen saturation in Arterial blood by Pulse oximetry^LN"
FIO2 = "3150-0^Inhaled oxygen concentration^LN"
OXYGEN_FLOW = "3151-8^Inhaled oxygen flow rate^LN"
SYSTOLIC = "8480-6^Systolic blood pressure^LN"
DIASTOLIC = "8462-4^Diastolic blood pressure^LN"
PULSE = "8867-4^Heart rate^LN"
CONSCIOUSNESS = "80288-4^Level of consciousness^LN"
TEMPERATURE = "8310-5^Body temperature^LN"


class Condition(Enum):
    """How a patient is doing, as their vital signs show it (the NEWS2 each band scores)."""

    STABLE = "stable"  # 0
    UNSETTLED = "unsettled"  # 3: two points for breathing fast, one for SpO2; no alert
    WORSENING = "worsening"  # 5-6: a NEWS2 warning
    CRITICAL = "critical"  # 7 and more: an emergency response
    RECOVERING = "recovering"  # about 4, on oxygen


@dataclass(frozen=True, slots=True)
class VitalSigns:
    respiration: int
    spo2: int
    oxygen_flow: int  # L/min; 0: on air
    systolic: int
    diastolic: int
    pulse: int
    consciousness: str
    temperature: float


def vital_signs(rng: random.Random, condition: Condition) -> VitalSigns:
    r = rng.randint
    if condition is Condition.STABLE:
        values = (r(13, 19), r(96, 99), 0, r(115, 142), r(64, 86), "Alert", r(364, 374) / 10)
    elif condition is Condition.UNSETTLED:
        values = (r(21, 23), r(94, 95), 0, r(113, 124), r(80, 89), "Alert", r(372, 379) / 10)
    elif condition is Condition.WORSENING:
        values = (r(22, 24), 94, 0, r(104, 109), r(93, 104), "Alert", r(382, 388) / 10)
    elif condition is Condition.CRITICAL:
        fever = r(387, 394) / 10
        values = (r(26, 31), r(88, 91), r(2, 4), r(88, 98), r(114, 128), "New confusion", fever)
    else:
        values = (r(17, 20), r(95, 96), 2, r(112, 120), r(84, 89), "Alert", r(370, 378) / 10)
    respiration, spo2, flow, systolic, pulse, consciousness, temperature = values
    diastolic = systolic - r(38, 52)
    return VitalSigns(
        respiration, spo2, flow, systolic, diastolic, pulse, consciousness, temperature
    )


# -- medications, vaccines, diagnoses, allergies ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Drug:
    rxnorm: str
    name: str
    dose: str
    units: str
    route: str  # HL7 table 0162
    frequency: str
    every_hours: int  # how often it is given


DRUGS: Final = {
    d.name: d
    for d in (
        Drug("161", "Acetaminophen", "650", "mg", "PO", "Q6H", 6),
        Drug("5224", "Heparin", "5000", "[iU]", "SC", "Q8H", 8),
        Drug("6918", "Metoprolol", "25", "mg", "PO", "BID", 12),
        Drug("4603", "Furosemide", "40", "mg", "IV", "BID", 12),
        Drug("2193", "Ceftriaxone", "1", "g", "IV", "Q24H", 24),
        Drug("40790", "Pantoprazole", "40", "mg", "PO", "QD", 24),
        Drug("83367", "Atorvastatin", "40", "mg", "PO", "QHS", 24),
        Drug("67108", "Enoxaparin", "40", "mg", "SC", "QD", 24),
        Drug("11124", "Vancomycin", "1", "g", "IV", "Q12H", 12),
        Drug("5856", "Insulin regular", "10", "[iU]", "IV", "ONCE", 0),
        Drug("4850", "Dextrose 50%", "25", "g", "IV", "ONCE", 0),
    )
}
ROUTES: Final = {"PO": "Oral", "SC": "Subcutaneous", "IV": "Intravenous", "IM": "Intramuscular"}
WARD_DRUGS: Final = (
    "Acetaminophen",
    "Heparin",
    "Metoprolol",
    "Furosemide",
    "Pantoprazole",
    "Atorvastatin",
    "Enoxaparin",
)


@dataclass(frozen=True, slots=True)
class Vaccine:
    cvx: str
    name: str
    manufacturer: str  # MVX
    site: str  # HL70163


VACCINES: Final = {
    "flu": Vaccine(
        "150",
        "Influenza, injectable, quadrivalent, preservative free",
        "SKB^GlaxoSmithKline^MVX",
        "LD^Left Deltoid^HL70163",
    ),
    "tdap": Vaccine("115", "Tdap", "PMC^sanofi pasteur^MVX", "RD^Right Deltoid^HL70163"),
    "pneumococcal": Vaccine(
        "33",
        "Pneumococcal polysaccharide PPV23",
        "MSD^Merck and Co., Inc.^MVX",
        "LD^Left Deltoid^HL70163",
    ),
}

DIAGNOSES: Final = (
    ("J18.9", "Pneumonia, unspecified organism"),
    ("I50.9", "Heart failure, unspecified"),
    ("J44.1", "Chronic obstructive pulmonary disease with (acute) exacerbation"),
    ("L03.115", "Cellulitis of right lower limb"),
    ("N39.0", "Urinary tract infection, site not specified"),
    ("R07.9", "Chest pain, unspecified"),
    ("I48.91", "Unspecified atrial fibrillation"),
)
SEPSIS: Final = ("A41.9", "Sepsis, unspecified organism")
HYPERKALEMIA: Final = ("E87.5", "Hyperkalemia")
ALLERGIES: Final = (
    "70618^Penicillin^RXNORM",
    "10180^Sulfamethoxazole^RXNORM",
    "2670^Codeine^RXNORM",
)
REACTIONS: Final = ("Hives", "Rash", "Nausea", "Wheezing")
ARRIVAL_MODES: Final = ("walk-in", "ambulance", "referral")

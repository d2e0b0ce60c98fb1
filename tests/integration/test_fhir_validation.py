"""The FHIR R4 bundles of the timeline, checked by the field's reference validator: HAPI
FHIR's ``FhirInstanceValidator`` in a JVM (``tests/fhir/``, run by ``tests/fhir_validator.py``).

Each patient's bundle is built from the events of the project's own test messages and the
sample hospital's feed (and, marked ``corpus``, of the public corpus), grouped by patient
key as the timeline keeps them, and must give no error: no broken structure, cardinality,
invariant, data type or required binding.  Warnings are allowed (codes the validator cannot
look up offline, such as LOINC and the senders' local codes; best-practice advice such as a
narrative) and are counted in the report this test prints.

These tests need Java 17+ and Maven, not Kafka: the first run fetches HAPI FHIR into the
local Maven repository (a minute or two), and each run starts one JVM for all bundles.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from hl7bus.errors import MessageError
from hl7bus.events.model import ClinicalEvent
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate
from hl7bus.services.timeline.fhir import bundle

from fhir_validator import Report, Validator, build
from paths import CORPUS, own_files

pytestmark = pytest.mark.integration  # a JVM, seconds to minutes; no Kafka

# Resource types the own messages must exercise, so that each mapping is validated.
EXPECTED_TYPES = {
    "Patient",
    "Encounter",
    "Observation",
    "DiagnosticReport",
    "ServiceRequest",
    "MedicationRequest",
    "MedicationAdministration",
    "MedicationDispense",
    "Specimen",
    "AllergyIntolerance",
    "Condition",
    "Immunization",
    "Appointment",
    "DocumentReference",
    "Procedure",
    "Flag",
}

# A reference that does not resolve inside the bundle is only a warning to the validator;
# hl7bus promises that every reference resolves, so it counts as an error here.
UNRESOLVED = "Bundle_BUNDLE_Not_Local"


@pytest.fixture(scope="session")
def validator() -> Validator:
    started = time.monotonic()
    found = build()
    print(
        f"\nFHIR validator: built in {found.build_seconds:.1f} s"
        if found.build_seconds
        else f"\nFHIR validator: already built ({time.monotonic() - started:.1f} s to check)"
    )
    return found


def patient_events(files: Iterable[Path]) -> tuple[dict[str, list[ClinicalEvent]], int]:
    """Every translated event of the files, by patient key in arrival order, and how many
    messages were translated."""
    by_patient: dict[str, list[ClinicalEvent]] = collections.defaultdict(list)
    messages = 0
    profiles = ProfileSet()
    for path in files:
        for raw in split_messages(path.read_bytes()):
            try:
                events = translate(raw, profiles).events
            except MessageError:
                continue  # a rejected message goes to the DLQ, not the timeline
            messages += 1
            for event in events:
                by_patient[event.patient.key].append(event)
    return by_patient, messages


def alerts_for(patient_key: str) -> list[dict[str, Any]]:
    """An alert raised and later resolved, so that Flag is validated too."""
    raised = {
        "alert_id": f"critical-potassium/{patient_key}",
        "rule": "critical-potassium",
        "severity": "CRITICAL",
        "patient_key": patient_key,
        "title": "Potassium 6.9 mmol/L",
        "raised_at": "2026-11-28T10:00:00+01:00",
        "status": "RAISED",
    }
    resolved = {**raised, "status": "RESOLVED", "changed_at": "2026-11-28T10:30+01:00"}
    return [raised, resolved]


def problems(report: Report) -> list[str]:
    """The errors of a report, and its references that do not resolve."""
    return [
        f"{i.severity}: {i.location}: {i.message}"
        for i in report.issues
        if i.is_error or i.message_id == UNRESOLVED
    ]


def summary(title: str, labels: list[str], bundles: list[dict], reports: list[Report]) -> str:
    """What was validated and what the validator said, for the test's output."""
    resources = collections.Counter(
        e["resource"]["resourceType"] for b in bundles for e in b["entry"]
    )
    errors: collections.Counter[str] = collections.Counter()
    per_label: collections.Counter[str] = collections.Counter()
    for label, report in zip(labels, reports, strict=True):
        errors[label] += len(problems(report))
        per_label[label] += 1
    warnings = collections.Counter(i.message_id for r in reports for i in r.warnings)
    lines = [
        f"{title}: {len(bundles)} bundles, {sum(resources.values())} resources "
        f"({', '.join(f'{k} {v}' for k, v in sorted(resources.items()))})",
        f"  errors: {sum(errors.values())}"
        + "".join(
            f"\n    {errors[label]:6d} in {n} bundles of {label}"
            for label, n in sorted(per_label.items())
        ),
        f"  warnings: {sum(warnings.values())}"
        + "".join(f"\n    {n:6d} {message_id}" for message_id, n in warnings.most_common()),
    ]
    return "\n".join(lines)


def test_bundles_of_the_projects_own_messages_are_valid_fhir(validator: Validator) -> None:
    by_patient, messages = patient_events(own_files())
    keys = sorted(by_patient)
    bundles = [
        bundle(key, by_patient[key], alerts_for(key) if i == 0 else ())
        for i, key in enumerate(keys)
    ]
    types = {e["resource"]["resourceType"] for b in bundles for e in b["entry"]}
    assert types >= EXPECTED_TYPES, f"not exercised: {sorted(EXPECTED_TYPES - types)}"

    started = time.monotonic()
    reports = validator.validate(bundles)
    seconds = time.monotonic() - started
    labels = [
        ", ".join(sorted({f"{e.source.message_type}" for e in by_patient[key]})) for key in keys
    ]
    print(f"\n{messages} messages; validated in {seconds:.1f} s (one JVM)")
    print(summary("own messages and sample feed", labels, bundles, reports))
    found = {key: problems(r) for key, r in zip(keys, reports, strict=True) if problems(r)}
    assert found == {}


@pytest.mark.corpus
def test_bundles_of_the_corpus_are_valid_fhir(validator: Validator) -> None:
    by_patient, messages = patient_events(sorted(CORPUS.glob("*.hl7")))
    keys = sorted(by_patient)
    bundles = [bundle(key, by_patient[key]) for key in keys]
    started = time.monotonic()
    reports = validator.validate(bundles)
    seconds = time.monotonic() - started
    # Errors per message type: a bundle's errors count under the types of its messages.
    labels = [
        ", ".join(
            sorted({f"{e.source.message_type}^{e.source.trigger_event}" for e in by_patient[key]})
        )
        for key in keys
    ]
    print(f"\n{messages} corpus messages; validated in {seconds:.1f} s (one JVM)")
    print(summary("corpus", labels, bundles, reports))
    found = {key: problems(r)[:5] for key, r in zip(keys, reports, strict=True) if problems(r)}
    assert found == {}

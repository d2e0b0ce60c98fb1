"""The simulated hospital (``hl7bus.simulate``): a reproducible feed from several vendor
systems, each message translated by hl7bus's own mapping, through the sender profiles the dev
stack's connector loads, into the events it means (the deliberately broken ones refused as the
connector refuses them); each vendor's quirks read right; each patient's story in an order
that makes sense; every kind of content a hospital sends."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import timedelta
from itertools import islice

import pytest
from simulate_support import Translated, finished_stories, profiles, translated_feed

from hl7bus.errors import ErrorCode
from hl7bus.events.model import ClinicalEvent, EventType
from hl7bus.hl7.header import read_header
from hl7bus.services.timeline.order import instant
from hl7bus.simulate import VENDORS, Scenario, messages

E = EventType

# What each message type and trigger means, read from the HL7 standard (the ORC-1 order
# control decides between a new order and a status change).
MEANS: dict[str, set[EventType]] = {
    "ADT^A04": {E.PATIENT_REGISTERED},
    "ADT^A01": {E.PATIENT_ADMITTED},
    "ADT^A02": {E.PATIENT_TRANSFERRED},
    "ADT^A03": {E.PATIENT_DISCHARGED},
    "ADT^A08": {E.PATIENT_UPDATED},
    "ADT^A40": {E.PATIENT_MERGED},
    "ORM^O01 NW": {E.ORDER_PLACED},
    "ORM^O01 SC": {E.ORDER_STATUS_CHANGED},
    "ORU^R01": {E.OBSERVATIONS_REPORTED},
    "RDE^O11": {E.MEDICATION_ORDERED},
    "RAS^O17": {E.MEDICATION_ADMINISTERED},
    "VXU^V04": {E.IMMUNIZATION_RECORDED},
    "SIU^S12": {E.APPOINTMENT_BOOKED},
    "SIU^S13": {E.APPOINTMENT_RESCHEDULED},
    "SIU^S15": {E.APPOINTMENT_CANCELLED},
    "MDM^T02": {E.DOCUMENT_ADDED},
}
VITAL_SIGNS = {"9279-1", "59408-5", "3150-0", "3151-8", "8480-6", "8867-4", "80288-4", "8310-5"}


def _kind(item: Translated) -> str:
    header = read_header(item.sent.data)
    kind = f"{header.message_type}^{header.trigger_event}"
    if kind == "ORM^O01":
        orc = next(s for s in item.sent.data.split(b"\r") if s.startswith(b"ORC|"))
        kind += " " + orc.split(b"|")[1].decode()
    return kind


def _events(items: tuple[Translated, ...] | None = None) -> list[tuple[Translated, ClinicalEvent]]:
    items = translated_feed() if items is None else items
    return [(i, e) for i in items if i.translation for e in i.translation.events]


# -- reproducible ------------------------------------------------------------------------------


def test_the_same_seed_and_options_give_the_same_bytes() -> None:
    first = list(islice(messages(seed=5, patients=10), 600))
    again = list(islice(messages(seed=5, patients=10), 600))
    assert first == again
    vendor, data = first[0]
    assert isinstance(vendor, str) and data.startswith(b"MSH|^~\\&|" + vendor.encode() + b"|")


def test_another_process_gives_the_same_bytes() -> None:
    """Nothing depends on the interpreter's string hashing or on the clock."""
    script = (
        "import hashlib, itertools, sys\n"
        "from hl7bus.simulate import messages\n"
        "d = hashlib.sha256()\n"
        "for vendor, data in itertools.islice(messages(seed=5, patients=10), 600):\n"
        "    d.update(vendor.encode() + data)\n"
        "print(d.hexdigest())\n"
    )
    here = hashlib.sha256()
    for vendor, data in islice(messages(seed=5, patients=10), 600):
        here.update(vendor.encode() + data)
    for hash_seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            timeout=60,
            check=True,
        )
        assert done.stdout.strip() == here.hexdigest()


def test_another_seed_or_census_gives_another_feed() -> None:
    first = [data for _, data in islice(messages(seed=5, patients=10), 300)]
    other_seed = [data for _, data in islice(messages(seed=6, patients=10), 300)]
    other_census = [data for _, data in islice(messages(seed=5, patients=11), 300)]
    assert not set(first) & set(other_seed)  # other patients, other control ids
    assert first != other_census


# -- every message means what it says ----------------------------------------------------------


def test_every_message_translates_into_the_events_its_type_means() -> None:
    items = translated_feed()
    assert len(items) == 3000
    seen = Counter()
    for item in items:
        if item.sent.broken:
            continue
        assert item.error is None, (item.sent.control_id, item.error)
        assert item.translation is not None and item.translation.mapped
        kind = _kind(item)
        seen[kind] += 1
        types = {e.event_type for e in item.translation.events}
        assert types and types <= MEANS[kind], (item.sent.control_id, kind, types)
    assert set(seen) == set(MEANS), "every kind of message is sent"


def test_the_broken_messages_are_refused_for_their_empty_patient_identifier() -> None:
    items = translated_feed()
    broken = [i for i in items if i.sent.broken]
    assert broken, "the feed holds broken messages"
    assert len(broken) < len(items) * 0.03, "an occasional one"
    for item in broken:
        assert item.translation is None and item.error is not None
        assert item.error.code is ErrorCode.REQUIRED_FIELD_MISSING
        assert (item.error.segment, item.error.field) == ("PID", 3)
        assert item.error.control_id == item.sent.control_id


def test_every_vendor_has_its_sender_profile_among_the_dev_stacks() -> None:
    for vendor in VENDORS:
        profile = profiles().for_sender(vendor.application, vendor.facility)
        assert profile.name == vendor.profile, vendor.application
    assert len({v.application for v in VENDORS}) == len(VENDORS) >= 6
    for item, event in _events():
        vendor = next(v for v in VENDORS if v.application == item.sent.vendor)
        assert event.source.profile == vendor.profile


def test_each_event_is_keyed_by_the_hospitals_medical_record_number() -> None:
    """Whatever identifiers a vendor lists first (the laboratory its own number, the
    immunization registry the state's), its profile picks the hospital's record number."""
    keys = Counter()
    for item, event in _events():
        assert event.patient.key.startswith("ASHGROVE|")
        if item.sent.scenario is not Scenario.DUPLICATE_RECORD:
            assert event.patient.key == item.sent.patient_key
        keys[item.sent.vendor] += 1
    assert set(keys) == {v.application for v in VENDORS}
    lab = [i for i in translated_feed() if i.sent.vendor == "LABSTREAM" and not i.sent.broken]
    assert lab and all(b"^^^ASHLAB^MR~" in i.sent.data for i in lab)


def test_times_are_read_in_each_vendors_own_zone() -> None:
    """Each event's recorded_at (MSH-7) is the instant the simulated vendor sent it at, whether
    the vendor writes an offset, local time without one, or UTC without one."""
    offsets = defaultdict(set)
    for item, event in _events():
        assert instant(event.recorded_at) == int(item.sent.sent_at.timestamp() * 1_000_000)
        offsets[item.sent.vendor].add(event.recorded_at[-6:])
    assert offsets["BEDSIDE"] == {"+00:00"}
    for vendor in ("LABSTREAM", "ORDERLY", "AGENDA", "PATHWAY"):
        assert offsets[vendor] <= {"-05:00", "-04:00"}, vendor
    assert b"-0500|" in next(i.sent.data for i in translated_feed() if i.sent.vendor == "PATHWAY")
    for vendor in ("LABSTREAM", "BEDSIDE", "AGENDA"):
        data = next(i.sent.data for i in translated_feed() if i.sent.vendor == vendor)
        assert data.split(b"|")[6].isdigit(), "no offset in MSH-7"


def test_the_latin1_vendor_sends_latin1_bytes_that_read_as_the_patients_names() -> None:
    names = {}
    for item, event in _events():
        if item.sent.vendor == "PATHWAY" and event.patient.name:
            names[event.patient.key] = event.patient.name
    accented = 0
    for item, event in _events():
        if item.sent.vendor != "AGENDA":
            continue
        assert b"|8859/1" in item.sent.data.split(b"\r")[0]
        name = event.patient.name
        assert name == names[event.patient.key]
        assert name.family.encode("latin-1") in item.sent.data
        if not name.family.isascii() or not all(g.isascii() for g in name.given):
            accented += 1
            with pytest.raises(UnicodeDecodeError):
                item.sent.data.decode("utf-8")
    assert accented >= 3


def test_the_registration_systems_z_segment_is_an_extension() -> None:
    modes = Counter()
    for item, event in _events():
        if item.sent.vendor == "PATHWAY" and b"\rZPV|" in item.sent.data:
            modes[event.extensions["arrival_mode"]] += 1
    assert len(modes) >= 2


# -- each patient's story makes sense ----------------------------------------------------------


def _by_story() -> dict[int, list[tuple[Translated, ClinicalEvent]]]:
    stories = defaultdict(list)
    for item, event in _events():
        stories[item.sent.story].append((item, event))
    return stories


def test_messages_go_out_in_time_order() -> None:
    sent = [item.sent.sent_at for item in translated_feed()]
    assert sent == sorted(sent)


def test_each_patients_story_is_in_a_sensible_order() -> None:
    for story, pairs in _by_story().items():
        first: dict[str, EventType] = {}
        in_care: dict[str, bool] = defaultdict(bool)
        admitted: dict[str, bool] = defaultdict(bool)
        ordered: set[str] = set()
        medications: set[str] = set()
        booked: set[str] = set()
        merged_away: set[str] = set()
        discharged_at: dict[str, int] = {}
        for item, event in pairs:
            key, kind = event.patient.key, event.event_type
            where = (story, item.sent.control_id, kind)
            assert key not in merged_away, where
            first.setdefault(key, kind)
            assert first[key] is E.PATIENT_REGISTERED, where
            payload = event.payload
            if kind is E.PATIENT_REGISTERED:
                in_care[key] = event.encounter.patient_class == "emergency"
            elif kind is E.PATIENT_ADMITTED:
                in_care[key] = admitted[key] = True
                if key in discharged_at:  # a readmission: within 30 days
                    days = (instant(event.occurred_at) - discharged_at[key]) / 86_400e6
                    assert 0 < days < 30, where
            elif kind in (E.PATIENT_TRANSFERRED, E.PATIENT_DISCHARGED):
                assert admitted[key], where
                if kind is E.PATIENT_DISCHARGED:
                    in_care[key] = admitted[key] = False
                    discharged_at[key] = instant(event.occurred_at)
            elif kind is E.PATIENT_MERGED:
                merged_away.add(payload.merge.prior_patient_key)
            elif kind is E.ORDER_PLACED:
                ordered.add(payload.orders[0].placer_order_number)
            elif kind is E.ORDER_STATUS_CHANGED:
                assert payload.orders[0].placer_order_number in ordered, where
            elif kind is E.OBSERVATIONS_REPORTED:
                codes = {o.code for o in payload.observations}
                if codes & VITAL_SIGNS:
                    assert in_care[key], where
                else:
                    assert all(o.placer_order_number in ordered for o in payload.orders), where
            elif kind is E.MEDICATION_ORDERED:  # in the emergency department, or admitted
                assert in_care[key], where
                medications.add(payload.orders[0].placer_order_number)
            elif kind is E.MEDICATION_ADMINISTERED:
                assert in_care[key] and payload.orders[0].placer_order_number in medications
            elif kind is E.APPOINTMENT_BOOKED:
                booked.add(payload.appointment.placer_id)
            elif kind in (E.APPOINTMENT_RESCHEDULED, E.APPOINTMENT_CANCELLED):
                assert payload.appointment.placer_id in booked, where


def test_a_readmission_comes_within_30_days_and_a_duplicate_record_is_merged() -> None:
    items = translated_feed()
    done = finished_stories(items)
    stories = _by_story()
    readmitted = merged = 0
    for story, pairs in stories.items():
        if story not in done:
            continue
        scenario = pairs[0][0].sent.scenario
        types = [e.event_type for _, e in pairs]
        if scenario is Scenario.READMISSION:
            assert types.count(E.PATIENT_ADMITTED) == 2
            assert types.count(E.PATIENT_DISCHARGED) == 2
            readmitted += 1
        if scenario is Scenario.DUPLICATE_RECORD:
            (merge,) = [e for _, e in pairs if e.event_type is E.PATIENT_MERGED]
            keys = {e.patient.key for _, e in pairs}
            assert keys == {merge.patient.key, merge.payload.merge.prior_patient_key}
            assert merge.patient.key == pairs[0][0].sent.patient_key
            merged += 1
    assert readmitted and merged


# -- what the hospital sends -------------------------------------------------------------------


def test_the_feed_covers_what_a_hospital_sends() -> None:
    items = translated_feed()
    events = [e for _, e in _events(items)]
    assert {e.event_type for e in events} >= {t for types in MEANS.values() for t in types}
    assert {i.sent.scenario for i in items} == set(Scenario)
    assert {i.sent.vendor for i in items} == {v.application for v in VENDORS}
    observations = [o for e in events for o in e.payload.observations]
    assert {o.code for o in observations} >= VITAL_SIGNS
    critical = [o for o in observations if o.code == "2823-3" and "HH" in o.abnormal_flags]
    assert critical and all(float(o.value) > 6.1 and o.units == "mmol/L" for o in critical)
    assert any(o.local_code for o in observations), "the laboratory's local codes, mapped"
    assert any(e.payload.diagnoses for e in events)
    assert any(e.payload.allergies for e in events)
    assert any(e.payload.document and e.payload.document.content for e in events)
    assert any(e.encounter and e.encounter.prior_location for e in events), "transfers"
    enhanced = [i for i in items if read_header(i.sent.data).enhanced]
    assert enhanced and {i.sent.vendor for i in enhanced} == {"VAXTRACK"}


def test_the_clinical_clock_runs_days_not_years() -> None:
    items = translated_feed()
    span = items[-1].sent.sent_at - items[0].sent.sent_at
    assert timedelta(days=2) < span < timedelta(days=120)

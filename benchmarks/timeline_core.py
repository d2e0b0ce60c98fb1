"""The timeline service's pure core on one core: events/s through entry, identity and
summary, printed beside the baseline of the same run (fastavro decoding each event's
Avro record, which the consumer does for every event anyway).

The events are a realistic mix made from the project's own messages and the sample feed
(results most often, then visits, orders, medications, appointments, documents, an
occasional merge), spread over many patients, each patient's events in clinical order as
they arrive live.  Goal: apply ≥ 20,000 events/s (the store's target).

Run ``python -m benchmarks.timeline_core [--events N] [--patients P] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import io
import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import fastavro

from hl7bus.errors import MessageError
from hl7bus.events.records import to_record
from hl7bus.hl7 import split_messages
from hl7bus.kafka.serde import parsed_schema
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate
from hl7bus.services.timeline import identity as idn
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.entries import event_entry

REPO = Path(__file__).resolve().parent.parent
SECONDS_PER_EVENT = 3  # the whole hospital's feed: one event every 3 s
LAGS = {  # minutes between the clinical time and the report
    "OBSERVATIONS_REPORTED": (10, 120),
    "DOCUMENT_ADDED": (30, 240),
    "DOCUMENT_UPDATED": (0, 60),
    "MEDICATION_ADMINISTERED": (0, 15),
    "IMMUNIZATION_RECORDED": (0, 30),
}
WEIGHTS = {  # share of each kind of event in the mix
    "OBSERVATIONS_REPORTED": 50,
    "PATIENT_": 18,
    "ORDER_": 10,
    "MEDICATION_": 10,
    "APPOINTMENT_": 4,
    "DOCUMENT_": 3,
    "IMMUNIZATION_": 3,
}


def templates() -> list[dict]:
    paths = sorted((REPO / "tests" / "messages").glob("*.hl7"))
    paths += sorted((REPO / "hl7bus" / "samples" / "feed").glob("*.hl7"))
    found = []
    for path in paths:
        for chunk in split_messages(path.read_bytes()):
            try:
                found.extend(to_record(e) for e in translate(chunk, ProfileSet()).events)
            except MessageError:
                continue
    return [r for r in found if r["event_type"] not in ("PATIENT_LINKED", "PATIENT_UNLINKED")]


def mix(n: int, patients: int, seed: int = 7) -> list[dict]:
    """``n`` event records over ``patients`` patients, each patient's in clinical order.

    Each patient has one registration's demographics (PID), which most of their events
    repeat; a third come from ancillary systems that send a shorter PID (no address or
    phones).  About one event in 500 merges another patient into this one."""
    rnd = random.Random(seed)
    pool = templates()
    by_kind = {k: [r for r in pool if r["event_type"].startswith(k)] for k in WEIGHTS}
    by_kind["PATIENT_"] = [r for r in by_kind["PATIENT_"] if r["event_type"] != "PATIENT_MERGED"]
    merges = [r for r in pool if r["event_type"] == "PATIENT_MERGED"]
    registrations = [r["patient"] for r in pool if r["event_type"].startswith("PATIENT_")]
    people = []
    for p in range(patients):
        person = copy.deepcopy(rnd.choice(registrations))
        person["key"] = f"BENCH|P{p:06d}"
        person["identifiers"] = [
            {"value": f"P{p:06d}", "authority": "BENCH", "type": "MR"},
            {"value": f"E{p:06d}", "authority": "EMPI", "type": "PI"},
        ]
        short = {**person, "address": [], "phones": [], "identifiers": person["identifiers"][:1]}
        people.append((person, short))
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    records = []
    start = datetime(2026, 11, 1, tzinfo=timezone(timedelta(hours=-6)))
    for i in range(n):
        p = rnd.randrange(patients)
        if rnd.random() < 0.002:
            record = copy.deepcopy(rnd.choice(merges))
            other = rnd.randrange(patients)
            record["payload"]["merge"]["prior_patient_key"] = f"BENCH|P{other:06d}"
            record["payload"]["merge"]["prior_identifiers"] = [
                {"value": f"P{other:06d}", "authority": "BENCH", "type": "MR"}
            ]
        else:
            record = copy.deepcopy(rnd.choice(by_kind[rnd.choices(kinds, weights)[0]]))
        full, short = people[p]
        record["patient"] = full if rnd.random() < 0.67 else short
        record["event_id"] = f"bench-{i:08d}"
        # The feed runs live: recorded now; results and documents tell of a while ago.
        now = start + timedelta(seconds=i * SECONDS_PER_EVENT)
        lag = LAGS.get(record["event_type"], (0, 0))
        occurred = now - timedelta(minutes=rnd.uniform(*lag))
        record["recorded_at"] = now.isoformat()
        record["occurred_at"] = occurred.isoformat(timespec="minutes")
        records.append(record)
    return records


def rate(name: str, work: Callable[[], int], repeat: int) -> float:
    """The best of ``repeat`` runs, in events per second of this process's CPU time (the
    figure stays meaningful on a machine that other work shares), with the wall-clock
    figure beside it."""
    best = best_wall = 0.0
    for _ in range(repeat):
        start, start_wall = time.process_time(), time.perf_counter()
        count = work()
        best = max(best, count / (time.process_time() - start))
        best_wall = max(best_wall, count / (time.perf_counter() - start_wall))
    print(f"  {name:<44} {best:>10,.0f} events/s  (wall clock {best_wall:,.0f})")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    records = mix(args.events, args.patients)
    schema = parsed_schema("ClinicalEvent")
    encoded = []
    for record in records:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, schema, record)
        encoded.append(out.getvalue())
    entries = [event_entry(r) for r in records]
    latest: dict[str, object] = {}
    before: dict[str, object] = {}
    for e in entries:
        before[e.event_id] = latest.get(e.patient_key, e.order)
        latest[e.patient_key] = max(latest.get(e.patient_key, e.order), e.order)

    def last_order(e):
        return before[e.event_id]

    kinds: dict[str, int] = {}
    for r in records:
        kinds[r["event_type"]] = kinds.get(r["event_type"], 0) + 1
    print(
        f"{len(records):,} events over {args.patients:,} patients, "
        f"{sum(map(len, encoded)) / len(encoded):,.0f} Avro bytes each on average; "
        f"mix: {json.dumps(dict(sorted(kinds.items(), key=lambda kv: -kv[1])))}"
    )

    def decode() -> int:
        for data in encoded:
            fastavro.schemaless_reader(io.BytesIO(data), schema, schema)
        return len(encoded)

    def build_entries() -> int:
        for record in records:
            event_entry(record)
        return len(records)

    def identity() -> int:
        state = idn.Identity()
        for entry in entries:
            state, _ = idn.apply(state, entry)
        return len(entries)

    in_order = sorted(entries, key=lambda e: e.order)

    def summaries_in_order() -> int:
        """Each entry into its patient's summary, in clinical order (never late)."""
        states: dict[str, sm.PatientSummary] = {}
        empty = sm.PatientSummary()
        for entry in in_order:
            key = entry.patient_key
            states[key] = sm.apply(states.get(key, empty), entry)
        return len(in_order)

    def summaries() -> int:
        """Each entry as it arrives into its patient's summary (a fold again when apply
        cannot take it)."""
        states: dict[str, sm.PatientSummary] = {}
        stored: dict[str, list] = {}
        empty = sm.PatientSummary()
        for entry in entries:
            key = entry.patient_key
            stored.setdefault(key, []).append(entry)
            try:
                states[key] = sm.apply(states.get(key, empty), entry)
            except sm.EntryOutOfOrder:
                states[key] = sm.fold(stored[key])
        return len(entries)

    def everything() -> int:
        """What the consumer loop does per event, the store's part left out: entry,
        identity, the survivor's summary; a merge (or an entry that arrives out of clinical
        order) folds the survivor's entries again."""
        state = idn.Identity()
        states: dict[str, sm.PatientSummary] = {}
        stored: dict[str, list] = {}
        empty = sm.PatientSummary()
        refolds[0] = 0
        for record in records:
            entry = event_entry(record)
            state, decision = idn.apply(state, entry)
            stored.setdefault(entry.patient_key, []).append(entry)
            survivor = idn.resolve(state, entry.patient_key)
            if decision.outcome is not idn.Outcome.MERGED:
                try:
                    states[survivor] = sm.apply(states.get(survivor, empty), entry)
                    continue
                except sm.EntryOutOfOrder:
                    pass
            refolds[0] += 1
            members = idn.group(state, survivor)
            states[survivor] = sm.fold(e for k in members for e in stored.get(k, ()))
            for moved in decision.moved:
                states.pop(moved, None)
        return len(records)

    refolds = [0]
    gc.collect()
    gc.freeze()  # what was built before the run is not the run's garbage to collect
    print("baseline:")
    rate("fastavro decode of the event record", decode, args.repeat)
    print("timeline core:")
    rate("entries.event_entry", build_entries, args.repeat)
    rate("identity.apply", identity, args.repeat)
    rate("summary.apply (clinical order)", summaries_in_order, args.repeat)
    rate("summary.apply (arrival order)", summaries, args.repeat)
    rate("entry + identity.apply + summary.apply", everything, args.repeat)
    late = sum(1 for e in entries if e.order < last_order(e))
    print(
        f"  ({late:,} events arrived after a later one of the same patient; "
        f"{refolds[0]:,} folded their patient again)"
    )


if __name__ == "__main__":
    main()

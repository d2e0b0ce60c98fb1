"""The timeline store, on SQLite and on a real PostgreSQL server: batches and the offsets
stored with them, repeated event ids, merges and links in every order, search by any
cross-referenced identifier, stable cursors, the live stream, and what the web reads."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from hl7bus.errors import MessageError
from hl7bus.events.model import EventType
from hl7bus.events.records import to_record
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.entries import Entry, event_entry
from hl7bus.services.timeline.fhir import bundle
from hl7bus.services.timeline.identity import Outcome, Refusal
from hl7bus.services.timeline.order import OrderKey
from hl7bus.services.timeline.store import (
    InvalidCursor,
    OffsetsMoved,
    QueryError,
    Store,
    encode_cursor,
    open_store,
)

from paths import own_files
from postgres import drop_schema
from timeline_events import BACKENDS, entries, event, ident, link, merge, result, store_url

pytestmark = pytest.mark.database

GROUP, TOPIC = "hl7bus-timeline", "clinical.events"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    found, schema = store_url(request.param, tmp_path, postgres)
    yield found
    if schema is not None:
        drop_schema(postgres, schema)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with open_store(url) as opened:
        yield opened


def at(n: int) -> dict:
    """Offsets after ``n`` records of partition 0."""
    return {(GROUP, TOPIC, 0): n}


def ids(found: list[Entry]) -> list[str]:
    return [e.event_id for e in found]


def test_a_batch_is_stored_in_clinical_order_with_its_offsets(store: Store) -> None:
    later = result("LAB|P1", "2026-03-01T10:30Z", "2823-3", "4.1")
    admitted = event(
        EventType.PATIENT_ADMITTED, "LAB|P1", "2026-03-01T08:00Z", location="4W", family="Ng"
    )
    batch = entries(later, admitted)
    applied = store.apply_batch(batch, at(2))
    assert (applied.stored, applied.repeated) == (2, 0)
    found, cursor = store.timeline("LAB|P1")
    assert ids(found) == [admitted.event_id, later.event_id]  # clinical order
    assert cursor is None
    assert found[1].summary.startswith("2823-3 4.1")
    assert found[1].event == to_record(later)
    assert store.read_offsets(GROUP, TOPIC) == {0: 2}
    key, summary = store.summary("LAB|P1")
    assert key == "LAB|P1"
    assert summary == sm.fold(batch)
    assert summary.stay.location.point_of_care == "4W"
    assert summary.results["2823-3"].latest.value == "4.1"


def test_a_repeated_event_id_changes_nothing(store: Store) -> None:
    first = result("LAB|P2", "2026-03-01T10:30Z", "2823-3", "4.1")
    second = result("LAB|P2", "2026-03-01T11:30Z", "2823-3", "5.0")
    store.apply_batch(entries(first, second, first), at(3))
    before = store.summary("LAB|P2")
    stream = store.stream_since(0)
    applied = store.apply_batch(entries(second, first), at(5))
    assert (applied.stored, applied.repeated) == (0, 2)
    assert store.summary("LAB|P2") == before
    assert before[1].event_count == 2
    assert ids(store.timeline("LAB|P2")[0]) == [first.event_id, second.event_id]
    assert store.stream_since(0) == stream
    assert store.read_offsets(GROUP, TOPIC) == {0: 5}


def test_a_batch_that_fails_stores_neither_its_entries_nor_its_offsets(store: Store) -> None:
    good = result("LAB|P3", "2026-03-01T10:30Z", "2823-3", "4.1")
    store.apply_batch(entries(good), at(1))
    fine = event_entry(to_record(result("LAB|P3", "2026-03-01T11:00Z", "2823-3", "4.4")))
    broken = event_entry({**to_record(result("LAB|P3", "2026-03-01T12:00Z", "X", "1")), "bad": {1}})
    with pytest.raises(TypeError):
        store.apply_batch([fine, broken], at(3))
    assert store.read_offsets(GROUP, TOPIC) == {0: 1}
    assert ids(store.timeline("LAB|P3")[0]) == [good.event_id]
    assert store.summary("LAB|P3")[1].event_count == 1
    # The store goes on: the same batch without the broken record is stored whole.
    store.apply_batch([fine], at(3))
    assert ids(store.timeline("LAB|P3")[0]) == [good.event_id, fine.event_id]
    assert store.summary("LAB|P3")[1] == sm.fold([event_entry(to_record(good)), fine])


def test_offsets_that_moved_meanwhile_are_refused(url: str, store: Store) -> None:
    store.apply_batch(entries(result("LAB|P4", "2026-03-01T10:30Z", "A", "1")), at(1))
    with open_store(url) as other:  # another writer: a rebuilt store, another consumer
        other.apply_batch(entries(result("LAB|P4", "2026-03-01T11:30Z", "A", "2")), at(7))
    late = entries(result("LAB|P4", "2026-03-01T12:30Z", "A", "3"))
    with pytest.raises(OffsetsMoved):
        store.apply_batch(late, at(2), expected={(GROUP, TOPIC, 0): 1})
    assert store.read_offsets(GROUP, TOPIC) == {0: 7}
    assert store.apply_batch(late, at(8), expected={(GROUP, TOPIC, 0): 7}).stored == 1
    # What the second writer stored is part of the first writer's summary too.
    summary = store.summary("LAB|P4")[1]
    assert summary.results["A"].count == 3
    assert [r.value for r in summary.results["A"].history] == ["1", "2", "3"]


def _scenario(n: int) -> tuple[list, dict[str, str]]:
    """Three records of one person, C merged into A and A into B, with events before and
    after the merges (one under the merged-away key A after its merge)."""
    a, b, c = f"MRN|A{n}", f"MRN|B{n}", f"MRN|C{n}"
    events = [
        result(a, "2026-01-01T08:00Z", "2823-3", "3.9"),
        event(EventType.PATIENT_ADMITTED, b, "2026-01-01T09:00Z", location="4W", family="Okafor"),
        result(c, "2026-01-01T07:00Z", "2951-2", "140"),
        merge(b, a, "2026-01-02T10:00Z"),
        merge(a, c, "2026-01-02T11:00Z"),
        result(a, "2026-01-03T08:00Z", "2823-3", "4.6"),
        event(EventType.PATIENT_TRANSFERRED, c, "2026-01-03T09:00Z", location="ICU"),
    ]
    return events, {"a": a, "b": b, "c": c}


def test_merges_in_every_order_give_the_same_timeline_and_summary(store: Store) -> None:
    rng = random.Random(8)
    for n in range(40):
        events, keys = _scenario(n)
        everything = entries(*events)
        arrival = everything[:]
        rng.shuffle(arrival)
        # Batches of every size, from one entry each to all at once.
        cut = sorted(rng.sample(range(1, len(arrival)), rng.randrange(0, len(arrival) - 1)))
        for start, end in zip([0, *cut], [*cut, len(arrival)], strict=True):
            store.apply_batch(arrival[start:end], at(n))
        for key in keys.values():
            survivor, summary = store.summary(key)
            assert survivor == keys["b"]
            assert summary == sm.fold(everything)
        found, _ = store.timeline(keys["c"])
        assert ids(found) == [e.event_id for e in sorted(everything, key=lambda e: e.order)]
        assert summary.stay.location.point_of_care == "ICU"
        assert summary.results["2823-3"].latest.value == "4.6"
        assert {i.value for i in summary.identifiers} >= {f"A{n}", f"B{n}", f"C{n}"}


def test_a_circular_merge_is_refused_with_its_reason(store: Store) -> None:
    applied = store.apply_batch(entries(merge("MRN|X1", "MRN|Y1", "2026-01-01T00:00Z")), at(1))
    assert [d.outcome for d in applied.decisions] == [Outcome.MERGED]
    swapped = merge("MRN|Y1", "MRN|X1", "2026-01-02T00:00Z")
    same = merge("MRN|Z1", "MRN|Z1", "2026-01-03T00:00Z")
    applied = store.apply_batch(entries(swapped, same), at(3))
    assert [d.refusal for d in applied.decisions] == [
        Refusal.CIRCULAR_MERGE,
        Refusal.CIRCULAR_MERGE,
    ]
    assert all(d.reason and "X1" not in d.reason for d in applied.decisions)
    assert store.summary("MRN|Y1")[0] == "MRN|X1"
    assert store.summary("MRN|Z1")[0] == "MRN|Z1"
    # The refused merge is on the timeline all the same (the sender said it).
    assert swapped.event_id in ids(store.timeline("MRN|X1")[0])


def test_linked_records_are_shown_together_until_unlinked(store: Store) -> None:
    mine = result("MRN|L1", "2026-01-01T08:00Z", "A", "1")
    theirs = result("MRN|L2", "2026-01-01T09:00Z", "A", "2")
    linking = link("MRN|L1", "MRN|L2", "2026-01-02T00:00Z")
    store.apply_batch(entries(mine, theirs, linking), at(3))
    found, _ = store.timeline("MRN|L1")
    assert [(e.event_id, e.linked) for e in found] == [
        (mine.event_id, None),
        (theirs.event_id, "MRN|L2"),
        (linking.event_id, None),
    ]
    assert next((e.event_id, e.linked) for e in store.timeline("MRN|L2")[0]) == (
        mine.event_id,
        "MRN|L1",
    )
    assert store.summary("MRN|L1")[1].results["A"].latest.value == "1"  # records stay distinct
    unlinking = link("MRN|L2", "MRN|L1", "2026-01-03T00:00Z", unlink=True)
    store.apply_batch(entries(unlinking), at(4))
    assert ids(store.timeline("MRN|L1")[0]) == [mine.event_id, linking.event_id]


def test_a_search_by_any_cross_referenced_identifier_finds_the_patient(store: Store) -> None:
    admitted = event(
        EventType.PATIENT_ADMITTED,
        "HOSP|H100",
        "2026-02-01T08:00Z",
        identifiers=(ident("EMPI|E555", "PI"), ident("SSN|123-45-6789", "SS")),
        family="Van der Berg",
        given="Anna",
    )
    other = event(
        EventType.PATIENT_REGISTERED, "HOSP|H101", "2026-02-01T09:00Z", family="Vance", given="Bo"
    )
    merged = merge("HOSP|H100", "HOSP|H099", "2026-02-02T00:00Z")
    store.apply_batch(entries(admitted, other, merged), at(3))
    for value, authority in [("E555", None), ("E555", "EMPI"), ("H100", "HOSP"), ("H099", None)]:
        found = store.find_patients(identifier=value, authority=authority)
        assert [key for key, _ in found] == ["HOSP|H100"], (value, authority)
    assert store.find_patients(identifier="E555", authority="HOSP") == []
    assert store.find_patients(identifier="nobody") == []
    assert [k for k, _ in store.find_patients(family="van")] == ["HOSP|H100", "HOSP|H101"]
    assert [k for k, _ in store.find_patients(family="VAN DER")] == ["HOSP|H100"]
    assert [k for k, _ in store.find_patients(family="van", given="b")] == ["HOSP|H101"]
    assert [k for k, _ in store.find_patients(family="van", limit=1)] == ["HOSP|H100"]
    found = store.find_patients(identifier="E555", family="van der")
    assert found[0][1].name.family == "Van der Berg"
    with pytest.raises(QueryError):
        store.find_patients()


def test_cursor_paging_is_stable_while_new_entries_arrive(store: Store) -> None:
    key = "MRN|PAGE"
    first = [result(key, f"2026-01-{day:02d}T08:00Z", "A", str(day)) for day in range(1, 26)]
    store.apply_batch(entries(*first), at(25))
    pages, cursor, arrived = [], None, 0
    while True:
        page, cursor = store.timeline(key, limit=7, cursor=cursor)
        pages.append(page)
        # Meanwhile: one entry before everything shown, one after everything.
        arrived += 1
        store.apply_batch(
            entries(
                result(key, f"2025-12-{arrived:02d}T08:00Z", "A", "early"),
                result(key, f"2026-02-{arrived:02d}T08:00Z", "A", "late"),
            ),
            at(25 + 2 * arrived),
        )
        if cursor is None:
            break
    seen = [e for page in pages for e in page]
    assert len(seen) == len({e.event_id for e in seen}), "no entry twice"
    assert [e.event_id for e in seen[:25]] == [e.event_id for e in first]
    assert all(e.event["payload"]["observations"][0]["value"] == "late" for e in seen[25:])
    assert [e.order for e in seen] == sorted(e.order for e in seen)


def test_a_bad_cursor_time_or_limit_is_a_query_error(store: Store) -> None:
    store.apply_batch(
        entries(*[result("MRN|Q", f"2026-01-0{d}T08:00Z", "A", "1") for d in (1, 2)]), at(2)
    )
    _, cursor = store.timeline("MRN|Q", limit=1)
    assert cursor is not None
    beyond_64_bits = encode_cursor(OrderKey(2**63, 0, "x"))  # both databases refuse alike
    bad_cursors = ["", "not a cursor", cursor[:-3], cursor + "x!", "eyJhIjoxfQ"]
    bad_cursors += ["WzIsMSwxLCJ4Il0", beyond_64_bits]
    for bad in bad_cursors:
        with pytest.raises(InvalidCursor):
            store.timeline("MRN|Q", cursor=bad or "=")
    assert issubclass(InvalidCursor, ValueError)
    for kwargs in [{"since": "yesterday"}, {"until": "2026-13-01"}, {"limit": 0}, {"limit": 5000}]:
        with pytest.raises(QueryError):
            store.timeline("MRN|Q", **kwargs)
    assert store.timeline("MRN|NOBODY") == ([], None)
    assert store.summary("MRN|NOBODY") is None


def test_a_timeline_filters_by_type_time_and_code(store: Store) -> None:
    key = "MRN|F"
    potassium = result(key, "2026-01-01T08:00Z", "2823-3", "4.0")
    sodium = result(key, "2026-01-02T08:00Z", "2951-2", "140")
    admitted = event(EventType.PATIENT_ADMITTED, key, "2026-01-03T08:00-05:00", location="4W")
    store.apply_batch(entries(potassium, sodium, admitted), at(3))

    def found(**kwargs) -> list[str]:
        return ids(store.timeline(key, **kwargs)[0])

    assert found(types=["PATIENT_ADMITTED"]) == [admitted.event_id]
    assert found(types=["OBSERVATIONS_REPORTED", "PATIENT_ADMITTED"]) == ids(store.timeline(key)[0])
    assert found(code="2823-3") == [potassium.event_id]
    assert found(code="2823") == []
    assert found(since="2026-01-02") == [sodium.event_id, admitted.event_id]
    assert found(until="2026-01-02T08:00Z") == [potassium.event_id, sodium.event_id]
    assert found(since="2026-01-03T13:00Z", until="2026-01-03T13:00Z") == [admitted.event_id]


def test_the_stream_hands_out_every_entry_once_in_the_order_stored(store: Store) -> None:
    assert store.latest_sequence() == 0
    one = result("MRN|S1", "2026-01-05T08:00Z", "A", "1")
    two = result("MRN|S2", "2026-01-01T08:00Z", "A", "2")
    three = result("MRN|S1", "2026-01-01T08:00Z", "A", "3")
    store.apply_batch(entries(one, two), at(2))
    store.apply_batch(entries(three), at(3))
    stream = store.stream_since(0)
    assert [e.event_id for _, e in stream] == [one.event_id, two.event_id, three.event_id]
    numbers = [n for n, _ in stream]
    assert numbers == sorted(numbers) and store.latest_sequence() == numbers[-1]
    assert [e.event_id for _, e in store.stream_since(numbers[0])] == [two.event_id, three.event_id]
    assert [e.event_id for _, e in store.stream_since(0, "MRN|S1")] == [
        one.event_id,
        three.event_id,
    ]
    assert store.stream_since(numbers[-1]) == []
    assert [e.event_id for _, e in store.stream_since(0, limit=1)] == [one.event_id]


def test_events_for_the_fhir_bundle(store: Store) -> None:
    admitted = event(
        EventType.PATIENT_ADMITTED, "MRN|E2", "2026-01-02T08:00Z", family="Diaz", location="4W"
    )
    earlier = result("MRN|E1", "2026-01-01T08:00Z", "2823-3", "4.0")
    store.apply_batch(
        entries(admitted, earlier, merge("MRN|E2", "MRN|E1", "2026-01-03T00:00Z")), at(3)
    )
    events, alerts = store.events("MRN|E1")
    assert [e.event_id for e in events][:2] == [earlier.event_id, admitted.event_id]
    assert events[1] == admitted
    assert alerts == []
    fhir = bundle("MRN|E2", events, alerts)
    kinds = {entry["resource"]["resourceType"] for entry in fhir["entry"]}
    assert {"Patient", "Observation", "Encounter"} <= kinds


def test_a_reopened_store_goes_on_where_it_was(url: str) -> None:
    key = "MRN|R"
    events = [result(key, f"2026-01-{d:02d}T08:00Z", "A", str(d)) for d in range(1, 11)]
    with open_store(url) as store:
        store.apply_batch(entries(*events[:6]), at(6))
    with open_store(url) as store:  # its summary read back from the store, no memory
        assert store.read_offsets(GROUP, TOPIC) == {0: 6}
        late = result(key, "2025-12-31T08:00Z", "A", "late")  # older than all: a refold
        applied = store.apply_batch(entries(events[6], late, *events[7:]), at(11))
        assert applied.refolded == 1
        assert store.summary(key)[1] == sm.fold(entries(*events, late))


def test_the_projects_messages_fold_into_the_same_state_as_folding_them_whole(store: Store) -> None:
    feed = []
    for path in own_files():
        for chunk in split_messages(path.read_bytes()):
            try:
                feed.extend(translate(chunk, ProfileSet()).events)
            except MessageError:
                continue
    everything = entries(*feed)
    assert len(everything) > 50
    for start in range(0, len(everything), 7):
        store.apply_batch(everything[start : start + 7], at(start + 7))
    by_survivor: dict[str, list[Entry]] = {}
    for entry in everything:
        survivor, _ = store.summary(entry.patient_key)
        by_survivor.setdefault(survivor, []).append(entry)
    for survivor, mine in by_survivor.items():
        assert store.summary(survivor)[1] == sm.fold(mine)
        found, _ = store.timeline(survivor, limit=1000)
        own = [e for e in found if e.linked is None]
        assert sorted(ids(own)) == sorted({e.event_id for e in mine})

"""The timeline service end to end, through the real broker and registry: HL7 in through
the MLLP connector and the entries in the store within a second of each ACK; SIGKILLed at
random points during a stream of thousands of events and restarted, with nothing lost and
nothing applied twice; and rebuilt from the topics into the same timeline it built live."""

from __future__ import annotations

import os
import random
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cleanup import RUN_PREFIX
from service_support import Feed, ServiceProcess, launch_service

from hl7bus.events.alerts import AlertSeverity, AlertStatus, ClinicalAlert
from hl7bus.events.model import ClinicalEvent, EventType
from hl7bus.events.records import encode, to_record
from hl7bus.mllp.framing import frame
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.entries import Entry, alert_entry, event_entry
from hl7bus.services.timeline.store import Store, open_store

from conftest import BusTopics, free_port
from mllp_support import good_messages, metric, own_samples, wait_for
from postgres import drop_schema
from timeline_events import BACKENDS, event, merge, result, store_url

pytestmark = pytest.mark.integration


# -- the service as a process ---------------------------------------------------------------------


@pytest.fixture
def start_timeline(
    bus_topics: BusTopics, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    """``hl7bus service timeline --store URL [args]`` as a process of its own, in a consumer
    group of this test, with extra ``HL7BUS_*`` settings as keywords; returned once it has
    partitions assigned (or, with ``ready`` False, once it runs).  Killed after the test."""
    group = f"{RUN_PREFIX}timeline.{uuid.uuid4().hex[:8]}"
    started: list[ServiceProcess] = []

    def start(url: str, *args: str, ready: bool = True, **settings: str) -> ServiceProcess:
        port = free_port()
        env = {
            **os.environ,
            **bus_topics.env(),
            "HL7BUS_TIMELINE_GROUP": group,
            # A restarted instance takes its partitions back at once (static membership).
            "HL7BUS_TIMELINE_INSTANCE_ID": "timeline-1",
            "HL7BUS_TIMELINE_METRICS_PORT": str(port),
            **settings,
        }
        log = tmp_path / f"timeline-{len(started)}.log"
        return launch_service(
            "timeline", ["--store", url, *args], env, log, started, ready=ready, timeout=60
        )

    yield start
    for running in started:
        running.stop(signal.SIGKILL)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    found, schema = store_url(request.param, tmp_path, postgres)
    yield found
    if schema is not None:
        drop_schema(postgres, schema)


# -- records onto the topics ----------------------------------------------------------------------


MOVEMENTS = [
    EventType.PATIENT_ADMITTED,
    EventType.PATIENT_TRANSFERRED,
    EventType.PATIENT_DISCHARGED,
]


def day_of_events(count: int, patients: int, seed: int) -> tuple[list[ClinicalEvent], list]:
    """``count`` events over ``patients`` patients (results, visits; a few merges of one
    patient into another, each patient merged away at most once and never a survivor too),
    and some alerts raised, acknowledged and resolved."""
    rng = random.Random(seed)
    keys = [f"KILL|P{n:04d}" for n in range(patients)]
    priors = rng.sample(keys[: patients // 2], 8)
    survivors = rng.sample(keys[patients // 2 :], 8)
    events: list[ClinicalEvent] = []
    for n in range(count):
        key = rng.choice(keys)
        minute = n // 2 + rng.randrange(0, 90)  # a little out of clinical order
        when = f"2026-03-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}Z"
        if n % 400 == 399 and priors:
            events.append(merge(survivors.pop(), priors.pop(), when))
        elif rng.random() < 0.15:
            kind = rng.choice(
                [
                    EventType.PATIENT_ADMITTED,
                    EventType.PATIENT_TRANSFERRED,
                    EventType.PATIENT_DISCHARGED,
                ]
            )
            events.append(event(kind, key, when, location=rng.choice(["4W", "ICU", "ER"])))
        else:
            code = rng.choice(["2823-3", "2951-2", "2160-0", "718-7"])
            events.append(result(key, when, code, str(rng.randrange(1, 200))))
    alerts = []
    for n in range(30):
        raised = ClinicalAlert(
            alert_id=f"alert-{seed}-{n}",
            rule="potassium-high",
            severity=AlertSeverity.CRITICAL,
            patient_key=rng.choice(keys),
            title="Potassium critically high",
            raised_at=f"2026-03-02T{n % 24:02d}:00Z",
        )
        alerts.append(raised)
        if n % 3 == 0:
            alerts.append(
                ClinicalAlert(
                    **{
                        **{f: getattr(raised, f) for f in raised.__dataclass_fields__},
                        "status": AlertStatus.RESOLVED,
                        "changed_by": "nurse",
                        "changed_at": f"2026-03-03T{n % 24:02d}:00Z",
                    }
                )
            )
    return events, alerts


def everything_of(events: list[ClinicalEvent], alerts: list) -> list[Entry]:
    return [event_entry(to_record(e)) for e in events] + [alert_entry(a) for a in alerts]


def check_store(store: Store, expected: list[Entry]) -> None:
    """Every patient's entries are the expected ones by event id, in clinical order, each
    once; each patient's state is the fold of exactly those entries."""
    by_survivor: dict[str, dict[str, Entry]] = {}
    for entry in expected:
        found = store.summary(entry.patient_key)
        assert found is not None, entry.patient_key
        by_survivor.setdefault(found[0], {})[entry.event_id] = entry
    stored = sum(1 for _ in _all_entries(store))
    assert stored == len({e.event_id for e in expected}), "no entry lost, none twice"
    for survivor, mine in by_survivor.items():
        timeline, cursor = store.timeline(survivor, limit=1000)
        assert cursor is None
        assert [e.event_id for e in timeline] == [
            e.event_id for e in sorted(mine.values(), key=lambda e: e.order)
        ], survivor
        assert store.summary(survivor)[1] == sm.fold(mine.values()), survivor


def _all_entries(store: Store) -> Iterator[tuple[int, Entry]]:
    sequence = 0
    while True:
        page = store.stream_since(sequence, limit=1000)
        if not page:
            return
        yield from page
        sequence = page[-1][0]


def wait_until_stored(store: Store, count: int, timeout: float = 90) -> None:
    wait_for(lambda: store.latest_sequence() >= count, timeout, f"{count} entries in the store")


# -- the tests ------------------------------------------------------------------------------------


def _ack(port: int, wire: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(frame(wire))
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            chunk = sock.recv(65536)
            assert chunk, "the connector closed the connection without an ACK"
            answer += chunk
    return answer


def test_hl7_through_the_mllp_connector_is_on_the_timeline_within_a_second(
    start_mllp, start_timeline, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'timeline.db'}"
    connector = start_mllp()
    start_timeline(url)
    messages = good_messages(f"TL{uuid.uuid4().hex[:4]}", 25, own_samples())
    with open_store(url) as store:
        seen: set[str] = set()
        sequence = 0
        slowest = 0.0
        for message in messages:
            ack = _ack(connector.port, message.wire)
            assert b"MSA|AA" in ack or b"MSA|CA" in ack, ack
            acked = time.monotonic()
            wanted = set(message.event_ids)
            while not wanted <= seen:
                for number, entry in store.stream_since(sequence):
                    seen.add(entry.event_id)
                    sequence = number
                assert time.monotonic() - acked < 1.0, f"{message.name}: not on the timeline"
                time.sleep(0.01)
            slowest = max(slowest, time.monotonic() - acked)
            for key in message.patient_keys:
                survivor, _ = store.summary(key)
                shown = {e.event_id for e in store.timeline(survivor, limit=1000)[0]}
                assert shown & wanted
        print(f"slowest ACK -> stored: {slowest * 1000:.0f} ms")


def test_a_timeline_service_killed_at_random_points_loses_nothing_and_doubles_nothing(
    url: str, bus_topics: BusTopics, start_timeline
) -> None:
    rng = random.Random(9)
    events, alerts = day_of_events(3000, 150, seed=9)
    expected = everything_of(events, alerts)
    feed = Feed(bus_topics)

    def produce() -> None:
        for start in range(0, len(events), 100):
            feed.events(events[start : start + 100])
            time.sleep(0.05)
        feed.alerts(alerts)

    # Small batches: many transactions, so that a kill often lands inside one.
    small = {"HL7BUS_TIMELINE_BATCH_SIZE": "50"}
    service = start_timeline(url, **small)
    producing = threading.Thread(target=produce)
    producing.start()
    for _ in range(3):
        time.sleep(rng.uniform(0.3, 2.0))
        service.stop(signal.SIGKILL)
        service = start_timeline(url, ready=False, **small)
    producing.join(120)
    with open_store(url) as store:
        wait_until_stored(store, len({e.event_id for e in expected}))
        time.sleep(1)  # anything more now would be a duplicate or a stray entry
        service.stop()
        check_store(store, expected)
        group = _group_from_log(service)
        assert sum(store.read_offsets(group, bus_topics.topics.events).values()) == len(events)
        assert sum(store.read_offsets(group, bus_topics.topics.alerts).values()) == len(alerts)


def _group_from_log(service: ServiceProcess) -> str:
    import json

    for line in service.log_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "timeline service started":
            return entry["group"]
    raise AssertionError("the service did not say its group")


def test_a_rebuilt_timeline_equals_the_one_built_live(
    url: str, bus_topics: BusTopics, start_timeline
) -> None:
    events, alerts = day_of_events(1500, 80, seed=11)
    feed = Feed(bus_topics)
    feed.events(events)
    feed.alerts(alerts)
    expected = everything_of(events, alerts)
    live = start_timeline(url)
    with open_store(url) as reader:
        wait_until_stored(reader, len(expected))
        live.stop()
        group = _group_from_log(live)
        keys = sorted({e.patient_key for e in expected})
        before = {key: reader.summary(key) for key in keys}
        timelines = {key: reader.timeline(key, limit=1000)[0] for key in keys}
        last = reader.latest_sequence()

        rebuilding = start_timeline(url, "--rebuild", ready=False)
        assert reader.summary(keys[0]) == before[keys[0]]  # the old store keeps serving
        wait_for(
            lambda: "took the old one's place" in rebuilding.log_text(), 120, "the switch-over"
        )
        # After the switch the rebuilt store goes on live.
        newcomer = result("KILL|NEW", "2026-04-01T08:00Z", "2823-3", "5.5")
        feed.events([newcomer])
        wait_for(lambda: reader.summary("KILL|NEW"), 30, "an entry after the switch")
        rebuilding.stop()

        assert {key: reader.summary(key) for key in keys} == before
        assert {key: reader.timeline(key, limit=1000)[0] for key in keys} == timelines
        check_store(reader, [*expected, *everything_of([newcomer], [])])
        assert sum(reader.read_offsets(group, bus_topics.topics.events).values()) == (
            len(events) + 1
        )
        # The rebuilt store numbers its entries after the old one's: a live stream that
        # resumes from an old number misses nothing.
        assert reader.stream_since(0, limit=1)[0][0] == last + 1


def test_records_that_cannot_be_read_are_skipped_counted_and_logged_without_patient_data(
    bus_topics: BusTopics, start_timeline, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'timeline.db'}"
    service = start_timeline(url)
    feed = Feed(bus_topics)
    # Values no log timestamp can hold (they have three decimals, then the offset).
    before = result("BAD|P1", "2026-01-01T08:00Z", "2823-3", "4.10972", family="Quixote")
    after = result("BAD|P1", "2026-01-01T09:00Z", "2823-3", "4.20972", family="Quixote")
    not_avro = b"MSH|^~\\&|Quixote"
    unknown_schema = struct.pack(">bI", 0, 987_654_321) + encode(before)
    broken = feed.event_header + encode(before)[:20]
    not_an_event = feed.event_header + b"\x00" * 5  # an empty id: no patient
    feed.events([before])
    for value in (not_avro, unknown_schema, broken, not_an_event):
        feed.producer.produce(feed.topics.events, key=b"BAD|P1", value=value)
    feed.events([after])
    with open_store(url) as store:
        wait_until_stored(store, 2, timeout=30)
        ids = [e.event_id for e in store.timeline("BAD|P1")[0]]
        assert ids == [before.event_id, after.event_id]
        group = _group_from_log(service)
        assert sum(store.read_offsets(group, bus_topics.topics.events).values()) == 6
    skipped = metric(service.metrics_port, "hl7bus_timeline_skipped_total")
    assert skipped == 4
    assert service.healthy()
    service.stop()
    log = service.log_text()
    assert log.count('"record skipped"') == 4
    assert "Quixote" not in log and "4.10972" not in log

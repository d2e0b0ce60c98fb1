"""The operators' commands against a real broker and registry, run as a user runs them
(``hl7bus ...`` in a process of its own, with the bus's settings in its environment).

The bus under test is fed through the real MLLP connector, whose message limit is set
below the size of one admission: that admission is answered AR and dead-lettered whole
(``message too large``), a cause an operator fixes by raising the limit and then by
replaying the dead letter, which is not bound by the connector's limit.  A message
without PID-3 and one of HL7 version 3.0 are dead-lettered for their content and their
header: their replay fails again and leaves them where they are.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from hl7bus.events.model import ClinicalEvent
from hl7bus.hl7 import split_messages
from hl7bus.kafka import serde
from hl7bus.kafka.clients import consumer_config, producer_config
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

from conftest import BusTopics, launch_mllp, prefixed_bus, read_topic
from mllp_support import exchange, patient_message
from paths import OWN_MESSAGES

pytestmark = pytest.mark.integration

HL7BUS = Path(sys.executable).parent / "hl7bus"
LIMIT = 1000  # bytes: the connector's HL7BUS_MLLP_MAX_MESSAGE_BYTES

GOOD = ("oru-r01-critical-potassium", "adt-a02-transfer", "rde-o11-two-orders")
TOO_LARGE = "adt-a01-admit"  # 1057 bytes
BROKEN = ("broken-missing-pid-3", "broken-unsupported-version")
POTASSIUM_PATIENT = "NORTHWARD|NW448120"
RIVERBEND_PATIENT = "RBGH|RB004417"  # transfer, pharmacy orders and the admission


@dataclass(frozen=True)
class Sent:
    name: str
    wire: bytes
    control_id: str
    ack: str
    events: tuple[ClinicalEvent, ...]

    @property
    def event_ids(self) -> list[str]:
        return [e.event_id for e in self.events]


@dataclass
class Fed:
    bus: BusTopics
    sent: dict[str, Sent]
    started: datetime
    alert_id: str
    port: int

    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HL7BUS_")}
        return {**clean, **self.bus.env()}


def hl7bus(fed: Fed, *args: str, ok: bool = True, timeout: float = 120, env=None):
    done = subprocess.run(
        [str(HL7BUS), *args],
        env=env or fed.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    if ok:
        assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def as_json(fed: Fed, *args: str, status: int = 0):
    done = hl7bus(fed, *args, "--json", ok=False)
    assert done.returncode == status, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def json_lines(fed: Fed, *args: str) -> list[dict]:
    out = hl7bus(fed, *args, "--json").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def message(name: str) -> bytes:
    (first, *_) = split_messages((OWN_MESSAGES / f"{name}.hl7").read_bytes())
    return first


def write_alert(bus: BusTopics, sent: Sent, *, commit: bool = True) -> tuple[str, Producer]:
    """One ClinicalAlert on the alerts topic, in a transaction as the alerts service writes."""
    client = serde.registry_client(bus.registry)
    schema_id = client.get_latest_version(f"{bus.topics.alerts}-value").schema_id
    write = serde.wire_writer("ClinicalAlert", schema_id)
    alert_id = str(uuid.uuid4())
    value = write(
        {
            "alert_id": alert_id,
            "rule": "critical-value",
            "severity": "CRITICAL",
            "patient_key": sent.events[0].patient.key,
            "title": "Potassium critical",
            "raised_at": datetime.now(UTC).isoformat(),
            "event_ids": sent.event_ids,
        }
    )
    producer = Producer(producer_config(bus.kafka, transactional_id=f"test-{alert_id}"))
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(bus.topics.alerts, value, sent.events[0].patient.key.encode())
    if commit:
        producer.commit_transaction(30)
    else:
        producer.flush(30)
    return alert_id, producer


@pytest.fixture(scope="module")
def fed(bus, tmp_path_factory) -> Iterator[Fed]:
    folder = tmp_path_factory.mktemp("operators")
    with prefixed_bus(bus, partitions=2) as topics:
        started = datetime.now(UTC) - timedelta(seconds=1)
        running: list = []
        connector = launch_mllp(
            topics, folder / "mllp.log", running, HL7BUS_MLLP_MAX_MESSAGE_BYTES=str(LIMIT)
        )
        try:
            sent: dict[str, Sent] = {}
            for name in (*GOOD, TOO_LARGE, *BROKEN):
                wire = message(name)
                ack = exchange(connector.port, wire)
                try:
                    events = tuple(translate(wire, ProfileSet()).events)
                except Exception:
                    events = ()
                sent[name] = Sent(name, wire, ack.control_id, ack.code, events)
            assert [sent[n].ack for n in GOOD] == ["AA"] * 3
            # AR, or CE in enhanced mode (MSH-15 AL): not stored whole, do not resend as is
            assert sent[TOO_LARGE].ack in ("AR", "CE") and len(sent[TOO_LARGE].wire) > LIMIT
            assert {sent[n].ack for n in BROKEN} <= {"AE", "AR", "CE", "CR"}
            alert_id, _ = write_alert(topics, sent[GOOD[0]])
            yield Fed(topics, sent, started, alert_id, connector.port)
        finally:
            for process in running:
                process.stop()


def event_ids_on(bus: BusTopics, at_least: int = 0) -> list[str]:
    return [r.value["event_id"] for r in read_topic(bus, bus.topics.events, at_least=at_least)]


# -- topics, lag -------------------------------------------------------------------------------


def test_topics_lists_the_bus_topics_with_counts_retention_and_schema(fed: Fed) -> None:
    topics = {t["name"]: t for t in as_json(fed, "topics")["topics"]}
    names = fed.bus.topics
    assert {names.raw, names.events, names.dlq, names.alerts, names.audit} <= set(topics)
    assert all(name.startswith(fed.bus.prefix) for name in topics)
    raw, events, dlq = topics[names.raw], topics[names.events], topics[names.dlq]
    assert raw["partitions"] == 2
    assert raw["records"] == len(GOOD) + len(BROKEN)  # the one too large has no raw record
    assert events["records"] == sum(len(fed.sent[n].events) for n in GOOD)
    assert dlq["records"] == 3
    assert topics[names.alerts]["records"] == 2  # the alert and its transaction's marker
    for topic in (raw, events, dlq):
        assert topic["cleanup_policy"] == "delete"
        assert topic["retention"] and topic["retention_ms"] is not None
        assert topic["subject"] == f"{topic['name']}-value"
        assert isinstance(topic["schema_id"], int) and topic["schema_version"] >= 1
        assert topic["compatibility"] == "BACKWARD"
    people = hl7bus(fed, "topics").stdout
    assert names.events in people and "BACKWARD" in people


def test_lag_per_partition_of_a_group_that_read_part_of_a_topic(fed: Fed) -> None:
    group = f"{fed.bus.prefix}group-{uuid.uuid4().hex[:6]}"
    events = fed.bus.topics.events
    total = sum(len(fed.sent[n].events) for n in GOOD)
    consumer = Consumer({**consumer_config(fed.bus.kafka, group), "enable.partition.eof": True})
    consumer.assign([TopicPartition(events, p, 0) for p in (0, 1)])
    read = 0
    while read < 2:
        msg = consumer.poll(10)
        assert msg is not None
        if not msg.error():
            read += 1
    consumer.commit(asynchronous=False)
    consumer.close()

    lags = as_json(fed, "lag", group)["lags"]
    assert {(x["group"], x["topic"]) for x in lags} == {(group, events)}
    assert sum(x["lag"] for x in lags) == total - 2
    for x in lags:
        assert x["committed"] + x["lag"] == x["end"]
    every_group = as_json(fed, "lag")["lags"]
    assert [x for x in every_group if x["group"] == group] == lags
    assert group in hl7bus(fed, "lag", group).stdout


def test_lag_on_a_topic_written_in_transactions_counts_only_committed_records(fed: Fed) -> None:
    """An open transaction's record is not there for a ``read_committed`` consumer: the
    end offset is the last stable one, so a group that read every committed alert has no
    lag."""
    alerts = fed.bus.topics.alerts
    _, open_producer = write_alert(fed.bus, fed.sent[GOOD[0]], commit=False)
    try:
        group = f"{fed.bus.prefix}alerts-{uuid.uuid4().hex[:6]}"
        consumer = Consumer({**consumer_config(fed.bus.kafka, group), "enable.partition.eof": True})
        consumer.assign([TopicPartition(alerts, p, 0) for p in (0, 1)])
        seen, eof = 0, 0
        while eof < 2:
            msg = consumer.poll(10)
            assert msg is not None
            if msg.error():
                eof += 1
            else:
                seen += 1
        consumer.commit(asynchronous=False)
        consumer.close()
        assert seen == 1
        lags = as_json(fed, "lag", group)["lags"]
        assert sum(x["lag"] for x in lags) == 0
        assert sum(x["end"] for x in lags) == 2  # the committed alert and its marker
    finally:
        open_producer.abort_transaction(30)


# -- tail --------------------------------------------------------------------------------------


def test_tail_reads_records_decoded_with_filters_and_limits(fed: Fed) -> None:
    all_ids = {i for n in GOOD for i in fed.sent[n].event_ids}
    lines = json_lines(fed, "tail", "clinical.events")
    assert {line["value"]["event_id"] for line in lines} == all_ids
    assert all(line["topic"] == fed.bus.topics.events for line in lines)
    stamps = [line["timestamp"] for line in lines]
    assert stamps == sorted(stamps)  # partitions merged in time order

    assert len(json_lines(fed, "tail", "clinical.events", "--limit", "2")) == 2
    riverbend = json_lines(fed, "tail", "clinical.events", "--patient", RIVERBEND_PATIENT)
    assert {line["value"]["event_id"] for line in riverbend} == {
        *fed.sent["adt-a02-transfer"].event_ids,
        *fed.sent["rde-o11-two-orders"].event_ids,
    }
    typed = json_lines(fed, "tail", "clinical.events", "--type", "ORDER_CANCELLED")
    assert [line["value"]["event_type"] for line in typed] == ["ORDER_CANCELLED"]

    assert json_lines(fed, "tail", "clinical.events", "--from", "end") == []
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert json_lines(fed, "tail", "clinical.events", "--from", later) == []
    since = json_lines(fed, "tail", "clinical.events", "--from", fed.started.isoformat())
    assert len(since) == len(lines)
    at_one = json_lines(fed, "tail", "clinical.events", "--from", "1")
    assert len(at_one) == len(lines) - sum(
        1 for p in (0, 1) if any(x["partition"] == p for x in lines)
    )

    raw = json_lines(fed, "tail", "hl7.raw", "--type", "ORU^R01")
    assert [line["value"]["raw"] for line in raw] == [fed.sent[GOOD[0]].wire.decode()]
    dead = json_lines(fed, "tail", "hl7.dlq", "--patient", RIVERBEND_PATIENT)
    assert [line["value"]["message_control_id"] for line in dead] == [
        fed.sent[TOO_LARGE].control_id
    ]
    people = hl7bus(fed, "tail", "clinical.events", "--limit", "1").stdout
    assert fed.bus.topics.events in people


def test_tail_follow_shows_new_records_as_they_come(fed: Fed) -> None:
    """The second message is sent once the first is shown, so after the follower read to
    the end it found at its start: it comes from following."""
    key = f"FOLLOW|{uuid.uuid4().hex[:8]}"
    authority, mrn = key.split("|")
    since = datetime.now(UTC).isoformat()
    follower = subprocess.Popen(
        [
            str(HL7BUS),
            *("tail", "clinical.events", "--follow", "--json"),
            *("--patient", key, "--from", since),
        ],
        env=fed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for n in (1, 2):
            control_id = f"FOLLOW-{n}-{uuid.uuid4().hex[:6]}"
            ack = exchange(fed.port, patient_message(control_id, "Follow", "Fay", mrn, authority))
            assert ack.code == "AA"
            record = json.loads(follower.stdout.readline())
            assert record["value"]["patient"]["key"] == key
            assert record["value"]["source"]["message_control_id"] == control_id
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(20)
    assert follower.returncode == 130
    assert follower.stderr.read() == ""


# -- dead letters ------------------------------------------------------------------------------


def test_dlq_list_and_show(fed: Fed) -> None:
    letters = as_json(fed, "dlq", "list")["dead_letters"]
    assert len(letters) == 3
    by_control = {d["message_control_id"]: d for d in letters}
    too_large = by_control[fed.sent[TOO_LARGE].control_id]
    assert too_large["error_code"] == "message too large"
    assert too_large["id"] and "raw" not in too_large
    missing_pid = by_control[fed.sent["broken-missing-pid-3"].control_id]
    assert (missing_pid["error_segment"], missing_pid["error_field"]) == ("PID", 3)

    assert [
        d["id"] for d in as_json(fed, "dlq", "list", "--code", "message_too_large")["dead_letters"]
    ] == [too_large["id"]]
    assert len(as_json(fed, "dlq", "list", "--sender", "admitwise")["dead_letters"]) == 3
    assert as_json(fed, "dlq", "list", "--sender", "PILLPATH")["dead_letters"] == []
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert as_json(fed, "dlq", "list", "--since", later)["dead_letters"] == []
    assert len(as_json(fed, "dlq", "list", "--since", "1h")["dead_letters"]) == 3

    shown = as_json(fed, "dlq", "show", too_large["id"])
    assert shown["raw"] == fed.sent[TOO_LARGE].wire.decode()
    assert shown["error_message"].startswith(f"The message is {len(fed.sent[TOO_LARGE].wire)}")
    assert (shown["topic"], shown["partition"], shown["offset"]) == (
        fed.bus.topics.dlq,
        too_large["partition"],
        too_large["offset"],
    )
    by_place = as_json(fed, "dlq", "show", f"{too_large['partition']}:{too_large['offset']}")
    assert by_place["id"] == too_large["id"]
    people = hl7bus(fed, "dlq", "show", too_large["id"]).stdout
    assert "message too large" in people and fed.sent[TOO_LARGE].control_id in people


def test_dlq_replay_dry_run_translates_and_writes_nothing(fed: Fed) -> None:
    before = read_topic(fed.bus, fed.bus.topics.events)
    report = as_json(fed, "dlq", "replay", "--code", "message too large", "--dry-run")
    assert report["dry_run"] is True
    (outcome,) = report["outcomes"]
    assert outcome["status"] == "would replay"
    assert outcome["event_ids"] == fed.sent[TOO_LARGE].event_ids
    # Some would fail again: exit status 2, as for messages translate rejects.
    again = as_json(fed, "dlq", "replay", "--since", "1h", "--dry-run", status=2)
    statuses = sorted(o["status"] for o in again["outcomes"])
    assert statuses == ["failed", "failed", "would replay"]
    assert len(read_topic(fed.bus, fed.bus.topics.events, quiet_s=1)) == len(before)


# -- find --------------------------------------------------------------------------------------


def test_find_a_patient_across_topics(fed: Fed) -> None:
    found = as_json(fed, "find", RIVERBEND_PATIENT)
    assert {r["value"]["message_control_id"] for r in found["raw"]} == {
        fed.sent["adt-a02-transfer"].control_id,
        fed.sent["rde-o11-two-orders"].control_id,
    }
    assert {e["value"]["event_id"] for e in found["events"]} == {
        *fed.sent["adt-a02-transfer"].event_ids,
        *fed.sent["rde-o11-two-orders"].event_ids,
    }
    assert [d["message_control_id"] for d in found["dead_letters"]] == [
        fed.sent[TOO_LARGE].control_id
    ]
    assert found["alerts"] == []
    potassium = as_json(fed, "find", POTASSIUM_PATIENT)
    assert [a["value"]["alert_id"] for a in potassium["alerts"]] == [fed.alert_id]


def test_find_a_message_by_its_control_id(fed: Fed) -> None:
    sent = fed.sent[GOOD[0]]
    found = as_json(fed, "find", sent.control_id)
    assert [r["value"]["raw"] for r in found["raw"]] == [sent.wire.decode()]
    assert [e["value"]["event_id"] for e in found["events"]] == sent.event_ids
    assert found["dead_letters"] == []
    assert [a["value"]["alert_id"] for a in found["alerts"]] == [fed.alert_id]
    broken = as_json(fed, "find", fed.sent["broken-missing-pid-3"].control_id)
    assert len(broken["raw"]) == 1 and len(broken["dead_letters"]) == 1
    assert broken["events"] == []
    people = hl7bus(fed, "find", sent.control_id).stdout
    assert sent.control_id in people


# -- status, errors ----------------------------------------------------------------------------


def test_status_lists_kafka_and_the_registry_with_health_and_version(fed: Fed) -> None:
    done = hl7bus(fed, "status", "--json", ok=False)
    assert done.returncode in (0, 3), done.stderr
    components = {c["name"]: c for c in json.loads(done.stdout)["components"]}
    assert components["Kafka"]["state"] == "up"
    assert components["Kafka"]["address"] == fed.bus.kafka.bootstrap_servers
    assert components["Registry"]["state"] == "up"
    assert components["Registry"]["version"]
    assert {"MLLP", "Timeline", "Alerts", "Web"} <= set(components)


@pytest.mark.parametrize(
    ("args", "env", "status", "says"),
    [
        (["tail", "no.such.topic"], {}, 1, "no topic 'no.such.topic'"),
        (["tail", "clinical.events", "--from", "yesterday"], {}, 2, "--from 'yesterday'"),
        (["dlq", "list", "--since", "2026-11-28T10:00"], {}, 2, "offset"),
        (["dlq", "show", "0:999999"], {}, 1, "no dead letter 0:999999"),
        (["dlq", "replay"], {}, 2, "which dead letters"),
        (["replay"], {}, 2, "--since"),
        (
            ["topics"],
            {"HL7BUS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
            1,
            "no Kafka broker answers at 127.0.0.1:1",
        ),
    ],
)
def test_errors_are_one_sentence_and_a_non_zero_exit(fed: Fed, args, env, status, says) -> None:
    done = hl7bus(fed, *args, ok=False, env={**fed.env(), **env}, timeout=60)
    assert done.returncode == status, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert says in lines[0]


# -- replay (changes the bus: last) ------------------------------------------------------------


def test_replay_of_a_dead_letter_whose_cause_is_fixed_and_of_the_raw_topic(fed: Fed) -> None:
    too_large = fed.sent[TOO_LARGE]
    letters = {d["message_control_id"]: d for d in as_json(fed, "dlq", "list")["dead_letters"]}
    letter = letters[too_large.control_id]
    broken = letters[fed.sent["broken-missing-pid-3"].control_id]

    report = as_json(fed, "dlq", "replay", letter["id"], broken["id"], status=2)
    outcomes = {o["id"]: o for o in report["outcomes"]}
    assert outcomes[letter["id"]]["status"] == "replayed"
    assert outcomes[letter["id"]]["event_ids"] == too_large.event_ids
    assert outcomes[broken["id"]]["status"] == "failed"
    assert outcomes[broken["id"]]["error_code"] == "required field missing"

    # Its events, with the ids the connector would have given, pointing at a raw record
    # that says it was replayed, and from which dead letter.
    events = read_topic(fed.bus, fed.bus.topics.events, at_least=5)
    replayed = [e for e in events if e.value["event_id"] in too_large.event_ids]
    assert len(replayed) == 1
    assert replayed[0].key == RIVERBEND_PATIENT.encode()
    source = replayed[0].value["source"]
    raw = {(r.partition, r.offset): r for r in read_topic(fed.bus, fed.bus.topics.raw)}
    pointed = raw[(source["raw_partition"], source["raw_offset"])].value
    assert pointed["raw"] == too_large.wire
    assert pointed["replay"]["dead_letter_id"] == letter["id"]
    assert (pointed["replay"]["dlq_partition"], pointed["replay"]["dlq_offset"]) == (
        letter["partition"],
        letter["offset"],
    )
    assert pointed["received_at"] == letter["received_at"]
    # Nothing leaves the dead-letter topic; the one that failed again is as it was.
    assert len(read_topic(fed.bus, fed.bus.topics.dlq)) == 3

    # The raw topic re-run through the current mapping: the same event ids again.
    before = [r.value["event_id"] for r in events]
    done = as_json(fed, "replay", "--since", fed.started.isoformat(), "--rate", "50")
    assert done["failed"] and {f["error_code"] for f in done["failed"]} == {
        "required field missing",
        "unsupported version id",
    }
    after = event_ids_on(fed.bus, at_least=2 * len(before))
    assert sorted(after) == sorted(before * 2)
    assert done["events"] == len(before)
    capped = as_json(fed, "replay", "--since", fed.started.isoformat(), "--max", "1")
    assert capped["messages"] == 1

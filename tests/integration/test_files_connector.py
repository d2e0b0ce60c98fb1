"""``hl7bus connector files DIR`` as a real process against the real broker: files dropped
into the folder become raw records, events and dead letters, and each file is moved to
``done/`` or ``error/`` only once Kafka holds all of its messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hl7bus.hl7 import split_messages

from conftest import BusTopics, ConnectorProcess, free_port, read_topic
from paths import CORPUS

pytestmark = pytest.mark.integration

SETTLE_S = 1.0


def adt(control_id: str, mrn: str = "111", event: str = "A01") -> bytes:
    return (
        f"MSH|^~\\&|REG|GENHOSP|BUS|HOSP|20240115103000||ADT^{event}|{control_id}|P|2.5\r"
        f"EVN|{event}|20240115103000\r"
        f"PID|1||{mrn}^^^GENHOSP^MR||Doe^Jane||19800101|F\r"
        "PV1|1|I|WARD^12^A\r"
    ).encode()


def oru(control_id: str, mrn: str = "111") -> bytes:
    return (
        f"MSH|^~\\&|LAB|GENHOSP|BUS|HOSP|20240115113000||ORU^R01|{control_id}|P|2.5\r"
        f"PID|1||{mrn}^^^GENHOSP^MR||Doe^Jane\r"
        "OBR|1|P1|F1|2345-7^Glucose^LN|||20240115110000\r"
        "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|3.9-6.1|N|||F\r"
    ).encode()


def unsupported(control_id: str) -> bytes:
    """An ADT^A01 whose MSH-12 is no v2 version: a dead letter."""
    return adt(control_id).replace(b"|P|2.5\r", b"|P|3.0\r")


def vendor_type(control_id: str) -> bytes:
    """A vendor's own message type: well-formed, no mapper, stored without events."""
    return (
        f"MSH|^~\\&|REG|GENHOSP|BUS|HOSP|20240115103000||ZZZ^Z99|{control_id}|P|2.5\r"
        "ZSH|1|handover\r"
    ).encode()


def batch(*messages: bytes) -> bytes:
    return (
        b"FHS|^~\\&|REG|GENHOSP\rBHS|^~\\&|REG|GENHOSP\r"
        + b"".join(messages)
        + f"BTS|{len(messages)}\rFTS|1\r".encode()
    )


def mllp_capture(*messages: bytes) -> bytes:
    return b"".join(b"\x0b" + m + b"\x1c\r" for m in messages)


@dataclass
class FilesConnector(ConnectorProcess):
    directory: Path = Path()
    metrics_port: int = 0

    def drop(self, name: str, data: bytes) -> Path:
        """Write a file the way careful senders do: under a temporary name, then renamed."""
        partial = self.directory / f"{name}.part"
        partial.write_bytes(data)
        return partial.rename(self.directory / name)

    def filed(self, name: str) -> Path | None:
        for folder in ("done", "error"):
            if (self.directory / folder / name).exists():
                return self.directory / folder / name
        return None

    def wait_filed(self, name: str, timeout: float = 60) -> Path:
        found = wait_for(lambda: self.filed(name), timeout)
        assert found is not None, f"{name} was not filed within {timeout} s:\n{self.log_text()}"
        return found


def wait_for(probe: Callable[[], object], timeout: float, every: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    return None


def health(port: int) -> tuple[int, dict] | None:
    """``/healthz``'s status and answer (503 while Kafka is unreachable); None before it
    serves."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except OSError:
        return None


@pytest.fixture
def start_files(bus_topics: BusTopics, tmp_path: Path) -> Iterator[Callable[..., FilesConnector]]:
    """Start ``hl7bus connector files DIR``; extra ``HL7BUS_*`` settings as keywords."""
    started: list[FilesConnector] = []

    def start(directory: Path | None = None, **settings: str) -> FilesConnector:
        directory = directory or tmp_path / "inbox"
        directory.mkdir(exist_ok=True)
        metrics_port = free_port()
        env = {
            **os.environ,
            **bus_topics.env(),
            "HL7BUS_FILES_SETTLE_S": str(SETTLE_S),
            "HL7BUS_FILES_POLL_INTERVAL_S": "0.1",
            "HL7BUS_FILES_METRICS_PORT": str(metrics_port),
            **settings,
        }
        log = tmp_path / f"files-{len(started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "hl7bus.cli", "connector", "files", str(directory)],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        running = FilesConnector(process, log, directory=directory, metrics_port=metrics_port)
        started.append(running)
        up = wait_for(lambda: process.poll() is not None or health(metrics_port), 60, 0.1)
        assert up and process.poll() is None, f"connector did not start:\n{running.log_text()}"
        return running

    yield start
    for running in started:
        running.stop(signal.SIGKILL)


def stored_count(bus_topics: BusTopics, topic: str) -> int:
    """Records Kafka holds on ``topic`` now (its partitions' high watermarks)."""
    from confluent_kafka import Consumer, TopicPartition

    from hl7bus.kafka.clients import consumer_config

    consumer = Consumer(consumer_config(bus_topics.kafka, "test-watermarks"))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def sidecar(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".result.json").read_text())


def test_files_become_records_and_are_filed_only_once_stored(start_files, bus_topics):
    connector = start_files()
    topics = bus_topics.topics
    bad = unsupported("BAD-1")

    connector.drop("single.hl7", adt("ADT-1"))
    single = connector.wait_filed("single.hl7")
    # The moment the file is filed, Kafka already holds its raw record and its event.
    assert (stored_count(bus_topics, topics.raw), stored_count(bus_topics, topics.events)) == (1, 1)

    connector.drop(
        "batch.hl7", batch(adt("B-1", "222"), oru("B-2", "222"), adt("B-3", "333", "A03"))
    )
    batched = connector.wait_filed("batch.hl7")
    assert stored_count(bus_topics, topics.raw) == 4

    connector.drop("mixed.hl7", adt("M-1") + bad + oru("M-3"))
    mixed = connector.wait_filed("mixed.hl7")
    assert stored_count(bus_topics, topics.raw) == 7
    assert stored_count(bus_topics, topics.dlq) == 1

    framed_messages = (adt("F-1", "444"), vendor_type("Z-1"), oru("F-2", "444"))
    connector.drop("framed.hl7", mllp_capture(*framed_messages))
    framed = connector.wait_filed("framed.hl7")
    assert stored_count(bus_topics, topics.dlq) == 1  # the vendor's type is no dead letter

    assert single.parent.name == "done" and batched.parent.name == "done"
    assert framed.parent.name == "done" and mixed.parent.name == "error"
    assert not any(p.is_file() for p in connector.directory.iterdir())
    assert mixed.read_bytes() == adt("M-1") + bad + oru("M-3")  # moved as it was

    results = sidecar(mixed)["results"]
    assert [(r["control_id"], r["outcome"], r["error_code"]) for r in results] == [
        ("M-1", "translated", None),
        ("BAD-1", "dead_letter", "unsupported version id"),
        ("M-3", "translated", None),
    ]
    assert sidecar(batched)["translated"] == 3 and sidecar(batched)["dead_letter"] == 0
    framed_result = sidecar(framed)
    assert (framed_result["translated"], framed_result["without_events"]) == (2, 1)
    assert framed_result["results"][1] == {
        **framed_result["results"][1],
        "control_id": "Z-1",
        "outcome": "without_events",
        "events": 0,
        "error_code": None,
        "message_type": "ZZZ^Z99",
    }
    assert sidecar(single)["filed_as"] == "done/single.hl7"

    raw = read_topic(bus_topics, topics.raw, at_least=10)
    assert sorted(r.value["message_control_id"] for r in raw) == sorted(
        ["ADT-1", "B-1", "B-2", "B-3", "M-1", "BAD-1", "M-3", "F-1", "Z-1", "F-2"]
    )
    assert {r.value["connector"] for r in raw} == {"files:files"}
    assert {r.value["peer"] for r in raw} == {"single.hl7", "batch.hl7", "mixed.hl7", "framed.hl7"}

    events = read_topic(bus_topics, topics.events, at_least=8)
    per_message = Counter(e.value["source"]["message_control_id"] for e in events)
    assert set(per_message) == {"ADT-1", "B-1", "B-2", "B-3", "M-1", "M-3", "F-1", "F-2"}
    raw_at = {(r.partition, r.offset): r.value["message_control_id"] for r in raw}
    for event in events:  # every event points at its message's raw record
        source = event.value["source"]
        assert (
            raw_at[(source["raw_partition"], source["raw_offset"])]
            == (source["message_control_id"])
        )

    (dead,) = read_topic(bus_topics, topics.dlq, at_least=1)
    assert dead.value["raw"] == bad
    assert dead.value["error_code"] == "unsupported version id"
    assert (dead.value["error_segment"], dead.value["error_field"]) == ("MSH", 12)
    assert dead.value["dead_letter_id"]
    assert dead.value["message_control_id"] == "BAD-1"
    assert raw_at[(dead.value["raw_partition"], dead.value["raw_offset"])] == "BAD-1"

    assert connector.stop() == 0
    assert "Doe" not in connector.log_text()  # no patient data in the logs


@pytest.mark.corpus
def test_corpus_batch_files(start_files, bus_topics):
    connector = start_files()
    good = CORPUS / "cdcdex__GenV1_Batch_No_headers_eightMSHs__1.batch.hl7"
    with_header = CORPUS / "cdcrs__sample-batch-pdi-20210608-0001__1.batch.hl7"
    one_bad = CORPUS / "cdcdex__phlip-flu-batch__1.batch.hl7"
    for path in (good, with_header, one_bad):
        connector.drop(path.name, path.read_bytes())
    assert connector.wait_filed(good.name).parent.name == "done"
    assert connector.wait_filed(with_header.name).parent.name == "done"
    assert connector.wait_filed(one_bad.name).parent.name == "error"
    expected = sum(len(split_messages(p.read_bytes())) for p in (good, with_header, one_bad))
    assert stored_count(bus_topics, bus_topics.topics.raw) == expected
    (dead,) = read_topic(bus_topics, bus_topics.topics.dlq, at_least=1)
    assert dead.value["error_code"] == "required field missing"
    assert dead.value["raw"] in split_messages(one_bad.read_bytes())


def test_a_file_written_slowly_is_not_picked_up_half_written(start_files, bus_topics):
    connector = start_files()
    data = adt("S-1", "555") + oru("S-2", "555") + adt("S-3", "555", "A03")
    path = connector.directory / "slow.hl7"
    pieces = [data[i : i + 40] for i in range(0, len(data), 40)]
    with path.open("wb") as handle:
        for piece in pieces:  # one piece every 0.3 s: never still for the settle interval
            handle.write(piece)
            handle.flush()
            time.sleep(0.3)
            assert connector.filed("slow.hl7") is None, "picked up while still being written"
            assert path.exists()
    assert len(pieces) * 0.3 > 2 * SETTLE_S
    assert connector.wait_filed("slow.hl7").parent.name == "done"
    raw = read_topic(bus_topics, bus_topics.topics.raw, at_least=3)
    assert [r.value["raw"] for r in sorted(raw, key=lambda r: r.value["message_control_id"])] == (
        split_messages(data)
    )
    assert stored_count(bus_topics, bus_topics.topics.dlq) == 0


def test_temporary_and_hidden_files_are_left_alone(start_files, bus_topics):
    connector = start_files()
    for name in ("upload.hl7.part", "upload.hl7.tmp", ".upload.hl7"):
        (connector.directory / name).write_bytes(adt("T-1"))
    connector.drop("real.hl7", adt("T-2"))
    connector.wait_filed("real.hl7")
    time.sleep(SETTLE_S * 2)
    assert sorted(p.name for p in connector.directory.iterdir() if p.is_file()) == [
        ".upload.hl7",
        "upload.hl7.part",
        "upload.hl7.tmp",
    ]
    assert stored_count(bus_topics, bus_topics.topics.raw) == 1


def test_without_kafka_the_file_stays_and_is_sent_again_later(start_files, bus_topics, tmp_path):
    inbox = tmp_path / "inbox"
    nowhere = start_files(
        inbox,
        HL7BUS_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        HL7BUS_FILES_STORE_TIMEOUT_S="1",
        HL7BUS_FILES_RETRY_INITIAL_S="0.5",
    )
    status, answer = health(nowhere.metrics_port)
    assert (status, answer["ok"], answer["kafka"]) == (503, False, "unreachable")
    nowhere.drop("waiting.hl7", adt("W-1") + oru("W-2"))
    assert wait_for(lambda: nowhere.log_text().count("file not stored") >= 2, 30), (
        nowhere.log_text()
    )
    assert (inbox / "waiting.hl7").exists()
    assert not any(any((inbox / folder).iterdir()) for folder in ("done", "error"))
    assert nowhere.stop() == 0
    entries = [json.loads(line) for line in nowhere.log_text().splitlines() if line.strip()]
    assert all(isinstance(entry, dict) for entry in entries)  # librdkafka's lines too
    assert any(e["logger"] == "hl7bus.kafka.librdkafka" for e in entries)

    connector = start_files(inbox)
    assert health(connector.metrics_port)[0] == 200
    assert connector.wait_filed("waiting.hl7").parent.name == "done"
    assert stored_count(bus_topics, bus_topics.topics.raw) == 2


def test_sending_a_file_again_gives_the_same_event_ids(start_files, bus_topics):
    connector = start_files()
    data = batch(adt("R-1", "666"), oru("R-2", "666"))
    connector.drop("again.hl7", data)
    connector.wait_filed("again.hl7")
    connector.drop("again.hl7", data)
    again = wait_for(lambda: (connector.directory / "done" / "again.2.hl7").exists(), 30)
    assert again, connector.log_text()
    events = read_topic(bus_topics, bus_topics.topics.events, at_least=4)
    ids = Counter(e.value["event_id"] for e in events)
    assert len(ids) == 2 and set(ids.values()) == {2}


def test_an_empty_file_goes_to_error_with_a_note(start_files, bus_topics):
    connector = start_files()
    connector.drop("empty.hl7", b"\r\n\r\n")
    filed = connector.wait_filed("empty.hl7")
    assert filed.parent.name == "error"
    assert sidecar(filed)["messages"] == 0
    assert stored_count(bus_topics, bus_topics.topics.raw) == 0


def test_a_message_over_the_size_limit_goes_to_the_dead_letter_topic(start_files, bus_topics):
    connector = start_files(HL7BUS_FILES_MAX_MESSAGE_BYTES="2000")
    big = adt("BIG-1") + b"NTE|1||" + b"x" * 5000 + b"\r"
    connector.drop("big.hl7", adt("OK-1") + big)
    filed = connector.wait_filed("big.hl7")
    assert filed.parent.name == "error"
    assert [r["error_code"] for r in sidecar(filed)["results"]] == [None, "message too large"]
    (dead,) = read_topic(bus_topics, bus_topics.topics.dlq, at_least=1)
    assert dead.value["message_control_id"] == "BIG-1"
    assert big.startswith(dead.value["raw"]) and len(dead.value["raw"]) < len(big)


def test_sigterm_finishes_the_file_in_hand(start_files, bus_topics):
    connector = start_files()
    messages = [adt(f"G-{n}", str(1000 + n % 7)) for n in range(2000)]
    connector.drop("big-batch.hl7", batch(*messages))
    assert wait_for(lambda: "file arrived" in connector.log_text(), 30), connector.log_text()
    connector.process.send_signal(signal.SIGTERM)
    assert "file done" not in connector.log_text()  # the signal came in the middle of it
    assert connector.process.wait(60) == 0
    assert connector.filed("big-batch.hl7") is not None, connector.log_text()
    assert sidecar(connector.filed("big-batch.hl7"))["translated"] == 2000
    assert stored_count(bus_topics, bus_topics.topics.raw) == 2000

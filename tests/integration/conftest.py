"""Integration fixtures: the bus's topics under a unique prefix, and connectors run as real
processes (``hl7bus connector ...``) against the test broker and registry."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cleanup import RUN_PREFIX, forget

from hl7bus.kafka.setup import prepare_bus
from hl7bus.kafka.topics import Topics
from hl7bus.settings import KafkaSettings, RegistrySettings

from mllp_support import metric, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BusTopics:
    prefix: str
    topics: Topics
    kafka: KafkaSettings
    registry: RegistrySettings

    def env(self) -> dict[str, str]:
        return {
            "HL7BUS_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "HL7BUS_KAFKA_TOPIC_PREFIX": self.prefix,
            "HL7BUS_REGISTRY_URL": self.registry.url,
        }


@contextlib.contextmanager
def prefixed_bus(bus, partitions: int = 3) -> Iterator[BusTopics]:
    """The bus's topics and subjects under a prefix no one else uses, deleted afterwards."""
    prefix = f"{RUN_PREFIX}{uuid.uuid4().hex[:10]}."
    kafka = KafkaSettings(bootstrap_servers=bus.bootstrap_servers, topic_prefix=prefix)
    registry = RegistrySettings(url=bus.registry_url)
    topics = Topics.with_prefix(prefix)
    try:
        topics = prepare_bus(kafka, registry, partitions=partitions, echo=lambda _line: None)
        yield BusTopics(prefix, topics, kafka, registry)
    finally:
        # The services' own topics too: the alerts service's rule-state changelog.
        forget(kafka, registry.url, [*topics.all(), prefix + "alerts.state"])


@pytest.fixture
def bus_topics(bus) -> Iterator[BusTopics]:
    """The bus's topics under a prefix no other test uses (deleted after it)."""
    with prefixed_bus(bus) as topics:
        yield topics


@dataclass
class ConnectorProcess:
    """A connector run as a real process, with its log file."""

    process: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class RunningConnector(ConnectorProcess):
    port: int = 0
    metrics_port: int = 0
    env: dict[str, str] = field(default_factory=dict)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"connector exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"connector did not listen on {port} within {timeout} s")


@pytest.fixture
def start_mllp(bus_topics: BusTopics, tmp_path: Path) -> Iterator[Callable[..., RunningConnector]]:
    """Start ``hl7bus connector mllp`` on a free port; extra ``HL7BUS_*`` settings as keywords
    (``start_mllp(HL7BUS_MLLP_STORE_TIMEOUT_S="2")``).  Stopped after the test."""
    started: list[RunningConnector] = []

    def start(**settings: str) -> RunningConnector:
        return launch_mllp(bus_topics, tmp_path / f"mllp-{len(started)}.log", started, **settings)

    yield start
    for running in started:
        running.stop(signal.SIGKILL if running.process.poll() is None else signal.SIGTERM)


def launch_mllp(
    bus_topics: BusTopics, log: Path, started: list[RunningConnector], **settings: str
) -> RunningConnector:
    """``hl7bus connector mllp`` on a free port of ``bus_topics``, listening when this
    returns (appended to ``started`` first, for the caller to stop)."""
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        **bus_topics.env(),
        "HL7BUS_MLLP_PORT": str(port),
        "HL7BUS_MLLP_METRICS_PORT": str(metrics_port),
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hl7bus.cli", "connector", "mllp"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    running = RunningConnector(
        process, log, port=int(env["HL7BUS_MLLP_PORT"]), metrics_port=metrics_port, env=env
    )
    started.append(running)
    _wait_for_port(running.port, process, log)
    # The probe was a connection too: hand over a connector that has seen it closed.
    wait_for(lambda: metric(metrics_port, "hl7bus_mllp_connections") == 0, 5, "probe gone")
    return running


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: dict
    partition: int
    offset: int


def read_topic(
    bus_topics: BusTopics,
    topic: str,
    *,
    at_least: int = 0,
    timeout: float = 30.0,
    quiet_s: float = 2.0,
) -> list[Record]:
    """Every record of ``topic`` from the beginning, decoded with confluent-kafka's own
    AvroDeserializer.  Waits until ``at_least`` records arrived and then ``quiet_s`` passes
    with nothing new (or ``timeout``)."""
    from confluent_kafka import Consumer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from hl7bus.kafka import serde
    from hl7bus.kafka.clients import consumer_config

    deserializer = serde.avro_deserializer(serde.registry_client(bus_topics.registry))
    consumer = Consumer(consumer_config(bus_topics.kafka, f"test-reader-{uuid.uuid4().hex}"))
    consumer.subscribe([topic])
    found: list[Record] = []
    deadline = time.monotonic() + timeout
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                if len(found) >= at_least and time.monotonic() - last_new > quiet_s:
                    break
                continue
            if msg.error():
                continue
            value = deserializer(msg.value(), SerializationContext(topic, MessageField.VALUE))
            found.append(Record(msg.key(), value, msg.partition(), msg.offset()))
            last_new = time.monotonic()
    finally:
        consumer.close()
    return found

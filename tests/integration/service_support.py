"""What the services' integration tests share: a service run as a process of its own
(``hl7bus service ...``), and records produced straight onto the test's topics."""

from __future__ import annotations

import io
import signal
import struct
import subprocess
import sys
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import fastavro

from hl7bus.events.alerts import ClinicalAlert, alert_to_record
from hl7bus.events.model import ClinicalEvent
from hl7bus.events.records import encode
from hl7bus.kafka import serde
from hl7bus.kafka.clients import producer_config
from hl7bus.kafka.setup import register_record_schema

from conftest import BusTopics
from mllp_support import wait_for


@dataclass
class ServiceProcess:
    """A service's process, its log file and the port of its ``/metrics`` and ``/healthz``."""

    process: subprocess.Popen
    log: Path
    metrics_port: int

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2
            ) as answer:
                return answer.status == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


class Feed:
    """Clinical events and alerts produced straight onto the test's topics, in Confluent's
    wire format with the schema ids the registry gave; alerts written with fastavro (not
    the bus's writer)."""

    def __init__(self, bus_topics: BusTopics) -> None:
        from confluent_kafka import Producer

        client = serde.registry_client(bus_topics.registry)
        self.topics = bus_topics.topics
        self.event_header = struct.pack(
            ">bI", 0, register_record_schema(client, self.topics.events, "ClinicalEvent")
        )
        self.alert_header = struct.pack(
            ">bI", 0, register_record_schema(client, self.topics.alerts, "ClinicalAlert")
        )
        self.alert_schema = serde.parsed_schema("ClinicalAlert")
        self.producer = Producer(producer_config(bus_topics.kafka, linger_ms=5))

    def events(self, events: Iterable[ClinicalEvent]) -> None:
        for e in events:
            self.producer.produce(
                self.topics.events, key=e.patient.key.encode(), value=self.event_header + encode(e)
            )
            self.producer.poll(0)
        self._flush()

    def alerts(self, alerts: Iterable[ClinicalAlert]) -> None:
        for alert in alerts:
            out = io.BytesIO()
            fastavro.schemaless_writer(out, self.alert_schema, alert_to_record(alert))
            self.producer.produce(
                self.topics.alerts,
                key=alert.patient_key.encode(),
                value=self.alert_header + out.getvalue(),
            )
        self._flush()

    def _flush(self) -> None:
        assert self.producer.flush(30) == 0, "Kafka did not take every record"


def launch_service(
    service: str,
    args: list[str],
    env: dict[str, str],
    log: Path,
    started: list[ServiceProcess],
    *,
    ready: bool = True,
    timeout: float = 90,
) -> ServiceProcess:
    """``hl7bus service SERVICE ARGS`` as a process of its own with ``env`` (which sets its
    metrics port in ``HL7BUS_<SERVICE>_METRICS_PORT``), appended to ``started`` (for the
    caller to stop); returned once it has partitions assigned (or, with ``ready`` False,
    once it answers ``/healthz``)."""
    port = int(env[f"HL7BUS_{service.upper()}_METRICS_PORT"])
    process = subprocess.Popen(
        [sys.executable, "-m", "hl7bus.cli", "service", service, *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    running = ServiceProcess(process, log, port)
    started.append(running)

    def up() -> bool:
        assert process.poll() is None, f"exited {process.returncode}:\n{running.log_text()}"
        return running.healthy() and (not ready or "partitions assigned" in running.log_text())

    wait_for(up, timeout, f"the {service} service to start")
    return running

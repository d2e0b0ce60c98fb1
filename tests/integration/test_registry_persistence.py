"""Schemas outlive the registry: Apicurio Registry keeps them in Kafka (``kafkasql``),
so a schema id written into records still resolves after the registry restarts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cleanup import forget
from confluent_kafka.schema_registry import Schema

from hl7bus.devstack import artifacts
from hl7bus.devstack.java import find_java
from hl7bus.devstack.process import ManagedProcess
from hl7bus.devstack.stack import REGISTRY_MIN_JAVA, start_registry_process, wait_for_registry
from hl7bus.kafka import serde
from hl7bus.settings import DevStackSettings, RegistrySettings

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_schema_id_resolves_after_registry_restart(
    bus, kafka_settings, unique_name, tmp_path: Path
):
    settings = DevStackSettings()
    java = find_java(
        REGISTRY_MIN_JAVA,
        explicit=settings.registry_java_home,
        purpose="Apicurio Registry",
        setting="HL7BUS_DEV_REGISTRY_JAVA_HOME",
    )
    home = artifacts.ensure_registry(settings)
    port, management_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}/apis/ccompat/v7"
    journal = unique_name("registry-journal")
    proc = ManagedProcess("test-registry", tmp_path / "registry.pid", tmp_path / "registry.log")

    def start() -> None:
        start_registry_process(
            proc,
            java,
            home,
            host="127.0.0.1",
            port=port,
            management_port=management_port,
            bootstrap_servers=bus.bootstrap_servers,
            heap="256m",
            journal_topic=journal,
            snapshots_topic=journal + "-snapshots",
        )
        wait_for_registry(proc, url, timeout_s=180)

    try:
        start()
        client = serde.registry_client(RegistrySettings(url=url))
        subject = unique_name("events") + "-value"
        schema_id = client.register_schema(
            subject, Schema(serde.schema_text("ClinicalEvent"), "AVRO")
        )
        assert proc.stop()
        assert not proc.running()

        start()
        fresh = serde.registry_client(RegistrySettings(url=url))  # no cached ids
        schema = fresh.get_schema(schema_id)
        assert '"ClinicalEvent"' in schema.schema_str
        assert fresh.get_latest_version(subject).schema_id == schema_id
    finally:
        proc.stop()
        # The test registry's schemas live only in its own journal: they go with it.
        forget(kafka_settings, None, [journal, journal + "-snapshots"])

"""A second single-node Kafka, just for the tests that stop and start a broker: started from
the jars ``hl7bus dev up`` cached, on free loopback ports, with its data in a test folder."""

from __future__ import annotations

import uuid
from pathlib import Path

from cleanup import RUN_PREFIX

from hl7bus.devstack import artifacts
from hl7bus.devstack.java import find_java
from hl7bus.devstack.stack import KAFKA_MIN_JAVA, LocalStack
from hl7bus.kafka.setup import prepare_bus
from hl7bus.settings import DevStackSettings, KafkaSettings, RegistrySettings

from conftest import BusTopics, free_port


class SpareKafka:
    """One KRaft node that a test may stop and start again (same data folder)."""

    def __init__(self, home: Path) -> None:
        cached = DevStackSettings()  # where `hl7bus dev up` keeps the jars
        self.settings = DevStackSettings(
            home=home,
            kafka_port=free_port(),
            controller_port=free_port(),
            registry_port=free_port(),
            registry_management_port=free_port(),
            start_timeout_s=90,
        )
        self.stack = LocalStack(self.settings)
        self.libs = artifacts.ensure_kafka(cached)
        self.java = find_java(
            KAFKA_MIN_JAVA,
            explicit=cached.java_home,
            purpose="Apache Kafka",
            setting="HL7BUS_DEV_JAVA_HOME",
        )

    @property
    def bootstrap_servers(self) -> str:
        return self.settings.bootstrap_servers

    def start(self) -> None:
        self.stack._start_kafka(self.java, self.libs)
        self.stack._wait_for_kafka()

    def stop(self) -> None:
        self.stack.kafka.stop(timeout_s=20)

    @property
    def running(self) -> bool:
        return self.stack.kafka.running()

    def bus(self, registry_url: str) -> BusTopics:
        """The bus's topics on this broker under a fresh prefix; schemas in ``registry_url``."""
        prefix = f"{RUN_PREFIX}{uuid.uuid4().hex[:10]}."
        kafka = KafkaSettings(bootstrap_servers=self.bootstrap_servers, topic_prefix=prefix)
        registry = RegistrySettings(url=registry_url)
        topics = prepare_bus(kafka, registry, partitions=3, echo=lambda _line: None)
        return BusTopics(prefix, topics, kafka, registry)

"""Typed, frozen settings, read once from the environment at an entry point and passed down.

Every variable starts with ``HL7BUS_``; nothing here is read at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".hl7bus"


class KafkaSettings(BaseSettings):
    """Where the Kafka cluster is and how to talk to it (``HL7BUS_KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    client_id: str = "hl7bus"
    max_record_bytes: int = Field(
        default=16 * 1024 * 1024,
        description="largest record the bus writes; its topics are created to accept it",
    )


class RegistrySettings(BaseSettings):
    """The Confluent-compatible schema registry (``HL7BUS_REGISTRY_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_REGISTRY_", frozen=True, extra="ignore")

    url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    basic_auth: SecretStr | None = Field(default=None, description="user:password")
    timeout_s: float = Field(
        default=10.0, gt=0, description="for each HTTP request; a timed-out request is retried"
    )


class DevStackSettings(BaseSettings):
    """The local Kafka and registry that ``hl7bus dev up`` runs on loopback (``HL7BUS_DEV_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_DEV_", frozen=True, extra="ignore")

    home: Path = Field(default_factory=_default_home)
    host: str = "127.0.0.1"
    kafka_port: int = 9092
    controller_port: int = 9093
    registry_port: int = 8081
    registry_management_port: int = 9081
    mllp_port: int = 2575
    mllp_metrics_port: int = 9464
    kafka_version: str = "4.1.1"
    log4j_version: str = "2.25.3"
    slf4j_version: str = "2.0.17"
    registry_version: str = "3.3.3"
    kafka_heap: str = "384m"
    registry_heap: str = "320m"
    partitions: int = 3
    java_home: Path | None = Field(default=None, description="Java 17+ for Kafka")
    registry_java_home: Path | None = Field(default=None, description="Java 21+ for the registry")
    start_timeout_s: float = 180.0

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def state_dir(self) -> Path:
        return self.home / "dev"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def registry_url(self) -> str:
        return f"http://{self.host}:{self.registry_port}/apis/ccompat/v7"


class MllpSettings(BaseSettings):
    """The MLLP listener (``HL7BUS_MLLP_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_MLLP_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 2575
    name: str = "mllp"
    max_message_bytes: int = 8 * 1024 * 1024
    max_connections: int = 256
    idle_timeout_s: float = 300.0
    read_timeout_s: float = 30.0
    frame_timeout_s: float = Field(
        default=300.0,
        description="a frame that has begun must be complete within this, "
        "however its bytes trickle in",
    )
    store_timeout_s: float = 10.0
    drain_timeout_s: float = 30.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = Field(
        default=None, description="CA of client certificates: set it to require mutual TLS"
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9464
    profiles: list[Path] = Field(default_factory=list)
    workers: int = Field(
        default=1,
        ge=1,
        description="processes sharing the port (SO_REUSEPORT), each with its own producer; "
        "a connection stays in one. Worker i serves metrics on metrics_port + i",
    )


class FileSettings(BaseSettings):
    """The file connector: a folder that vendor systems drop HL7 v2 files into
    (``HL7BUS_FILES_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_FILES_", frozen=True, extra="ignore")

    directory: Path
    name: str = "files"
    poll_interval_s: float = 1.0
    settle_s: float = Field(
        default=2.0, description="a file is complete once its size and mtime kept still this long"
    )
    store_timeout_s: float = 10.0
    max_file_bytes: int = 256 * 1024 * 1024
    max_message_bytes: int = Field(
        default=8 * 1024 * 1024,
        description="a larger message goes to the dead-letter topic (its first bytes); "
        "keep it under HL7BUS_KAFKA_MAX_RECORD_BYTES",
    )
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    profiles: list[Path] = Field(default_factory=list)

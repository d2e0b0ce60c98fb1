"""Typed, frozen settings, read once from the environment at an entry point and passed down.

Every variable starts with ``HL7BUS_``; nothing here is read at import time.  A value that
does not fit is refused with :class:`InvalidSetting`: one sentence naming the variable,
what is wrong with it and an example of a right value.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from hl7bus.errors import InvalidSetting

Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[float, Field(gt=0)]
Bytes = Annotated[int, Field(gt=0)]


def _default_home() -> Path:
    return Path.home() / ".hl7bus"


class _Settings(BaseSettings):
    """Settings whose bad values are one sentence (:class:`InvalidSetting`), never a
    validation report."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _invalid(type(self), exc) from None
        except SettingsError as exc:  # a list that is not JSON
            raise _unparsable(type(self), exc) from None


_PROBLEMS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "list_type": "must be a JSON list",
    "string_type": "must be text",
    "missing": "is not set",
}


def _problem(error: Any) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    if kind in _PROBLEMS:
        return _PROBLEMS[kind]
    for bound, words in (("ge", "at least"), ("gt", "more than"), ("le", "at most")):
        if bound in context:
            limit = context[bound]
            return (
                f"must be {words} {limit:g}"
                if isinstance(limit, float)
                else (f"must be {words} {limit}")
            )
    if kind == "value_error" and "error" in context:
        return str(context["error"])
    message = str(error["msg"])
    return message[:1].lower() + message[1:]


def _variable(cls: type[BaseSettings], name: str) -> str:
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def _example(cls: type[BaseSettings], name: str) -> str:
    info = cls.model_fields[name]
    if info.examples:
        value: Any = info.examples[0]
    elif info.default is not PydanticUndefined and info.default is not None:
        value = info.default
    elif info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    else:
        value = "…"
    if isinstance(value, list):
        value = json.dumps([str(v) for v in value])
    elif isinstance(value, float):
        value = f"{value:g}"
    return shlex.quote(str(value))


def _sentence(cls: type[BaseSettings], name: str, problem: str, given: Any) -> InvalidSetting:
    variable = _variable(cls, name)
    secret = "SecretStr" in repr(cls.model_fields[name].annotation)
    shown = "" if secret or given is None else f" (it is {given!r})"
    return InvalidSetting(
        f"{variable} {problem}{shown}; for example {variable}={_example(cls, name)}"
    )


def _invalid(cls: type[BaseSettings], exc: ValidationError) -> InvalidSetting:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    if name not in cls.model_fields:
        return InvalidSetting(f"{cls.__name__}: {_problem(error)}")
    given = error.get("input") if error["type"] != "missing" else None
    return _sentence(cls, name, _problem(error), given)


def _unparsable(cls: type[BaseSettings], exc: SettingsError) -> InvalidSetting:
    found = re.search(r'field "([^"]+)"', str(exc))
    if found is None or found.group(1) not in cls.model_fields:
        return InvalidSetting(f"{cls.__name__}: {exc}")
    name = found.group(1)
    given = next((v for k, v in os.environ.items() if k.upper() == _variable(cls, name)), None)
    return _sentence(cls, name, "must be a JSON list", given)


class KafkaSettings(_Settings):
    """Where the Kafka cluster is and how to talk to it (``HL7BUS_KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = Field(default=None, examples=["SCRAM-SHA-512"])
    sasl_username: str | None = Field(default=None, examples=["hl7bus"])
    sasl_password: SecretStr | None = Field(default=None, examples=["…"])
    ssl_ca_location: Path | None = Field(default=None, examples=["/etc/hl7bus/kafka-ca.pem"])
    client_id: str = "hl7bus"
    max_record_bytes: Bytes = Field(
        default=16 * 1024 * 1024,
        description="largest record the bus writes; its topics are created to accept it",
    )


class RegistrySettings(_Settings):
    """The Confluent-compatible schema registry (``HL7BUS_REGISTRY_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_REGISTRY_", frozen=True, extra="ignore")

    url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    basic_auth: SecretStr | None = Field(
        default=None, description="user:password", examples=["user:password"]
    )
    timeout_s: float = Field(
        default=10.0, gt=0, description="for each HTTP request; a timed-out request is retried"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url


class DevStackSettings(_Settings):
    """The local stack that ``hl7bus dev up`` runs on loopback (``HL7BUS_DEV_*``): Kafka, the
    registry, the sample MLLP connector, the timeline service and the web front door."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_DEV_", frozen=True, extra="ignore")

    home: Path = Field(default_factory=_default_home)
    host: str = "127.0.0.1"
    kafka_port: Port = 9092
    controller_port: Port = 9093
    registry_port: Port = 8081
    registry_management_port: Port = 9081
    mllp_port: Port = 2575
    mllp_metrics_port: Port = 9464
    timeline_metrics_port: Port = 9466
    alerts_metrics_port: Port = 9467
    web_port: Port = 8400
    kafka_version: str = "4.1.1"
    log4j_version: str = "2.25.3"
    slf4j_version: str = "2.0.17"
    registry_version: str = "3.3.3"
    kafka_heap: str = "512m"
    registry_heap: str = "320m"
    partitions: int = Field(default=3, ge=1)
    java_home: Path | None = Field(
        default=None, description="Java 17+ for Kafka", examples=["/usr/lib/jvm/java-21"]
    )
    registry_java_home: Path | None = Field(
        default=None, description="Java 21+ for the registry", examples=["/usr/lib/jvm/java-21"]
    )
    start_timeout_s: Seconds = 180.0

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

    @property
    def timeline_store(self) -> str:
        """The timeline store of the local stack, beside its data and logs."""
        return f"sqlite:///{self.state_dir / 'timeline.db'}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"


class MllpSettings(_Settings):
    """The MLLP listener (``HL7BUS_MLLP_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_MLLP_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: Port = 2575
    name: str = "mllp"
    max_message_bytes: Bytes = 8 * 1024 * 1024
    max_connections: int = Field(default=256, ge=1)
    idle_timeout_s: Seconds = 300.0
    read_timeout_s: Seconds = 30.0
    frame_timeout_s: Seconds = Field(
        default=300.0,
        description="a frame that has begun must be complete within this, "
        "however its bytes trickle in",
    )
    store_timeout_s: Seconds = 10.0
    drain_timeout_s: Seconds = 30.0
    tls_cert: Path | None = Field(default=None, examples=["/etc/hl7bus/mllp.pem"])
    tls_key: Path | None = Field(default=None, examples=["/etc/hl7bus/mllp.key"])
    tls_client_ca: Path | None = Field(
        default=None,
        description="CA of client certificates: set it to require mutual TLS",
        examples=["/etc/hl7bus/senders-ca.pem"],
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: Port | None = 9464
    profiles: list[Path] = Field(default_factory=list, examples=[["profiles/"]])
    workers: int = Field(
        default=1,
        ge=1,
        description="processes sharing the port (SO_REUSEPORT), each with its own producer; "
        "a connection stays in one. Worker i serves metrics on metrics_port + i",
    )


class FileSettings(_Settings):
    """The file connector: a folder that vendor systems drop HL7 v2 files into
    (``HL7BUS_FILES_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_FILES_", frozen=True, extra="ignore")

    directory: Path = Field(examples=["/var/lib/hl7bus/inbox"])
    name: str = "files"
    poll_interval_s: Seconds = 1.0
    settle_s: float = Field(
        default=2.0,
        ge=0,
        description="a file is complete once its size and mtime kept still this long",
    )
    store_timeout_s: Seconds = 10.0
    max_file_bytes: Bytes = 256 * 1024 * 1024
    max_message_bytes: Bytes = Field(
        default=8 * 1024 * 1024,
        description="a larger message goes to the dead-letter topic (its first bytes); "
        "keep it under HL7BUS_KAFKA_MAX_RECORD_BYTES",
    )
    retry_initial_s: Seconds = 1.0
    retry_max_s: Seconds = 60.0
    metrics_host: str = "127.0.0.1"
    metrics_port: Port | None = Field(default=None, examples=[9465])
    profiles: list[Path] = Field(default_factory=list, examples=[["profiles/"]])


class WebSettings(_Settings):
    """The web front door: the HTTP API over the timeline store (``HL7BUS_WEB_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_WEB_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: Port = 8400
    store: str | None = Field(
        default=None,
        description="the timeline store's URL (sqlite:///… or postgresql://…); "
        "unset: the timeline service's default",
        examples=["sqlite:///var/lib/hl7bus/timeline.db"],
    )
    token_secret: SecretStr | None = Field(
        default=None,
        description="signs and checks bearer tokens (HMAC-SHA256); unset: the secret that "
        "`hl7bus dev up` keeps under HL7BUS_DEV_HOME",
        examples=["a-random-string-of-at-least-32-characters"],
    )
    audit_timeout_s: Seconds = Field(
        default=5.0,
        description="an access-audit record Kafka has not acknowledged within this stops "
        "patient data from being served (503) until Kafka has it",
    )
    alert_change_timeout_s: Seconds = Field(
        default=5.0,
        description="acknowledging or resolving an alert answers 503 when Kafka has not "
        "acknowledged the change within this",
    )
    stream_poll_s: Seconds = 0.2
    stream_heartbeat_s: Seconds = 15.0
    mllp_metrics_url: str = Field(
        default="http://127.0.0.1:9464/metrics",
        description="the MLLP connector's Prometheus /metrics, read for the operators' "
        "figures and charts; empty: none",
        examples=["http://mllp:9464/metrics"],
    )
    figures_poll_s: Seconds = Field(
        default=5.0, description="how often the connectors' /metrics are read"
    )
    lag_poll_s: Seconds = Field(
        default=15.0, description="how often the consumer groups' lag is read (and alarmed on)"
    )
    lag_alarm: Annotated[int, Field(ge=0)] = Field(
        default=1000,
        description="a consumer group more records behind than this on the bus's topics "
        "raises the lag alarm",
    )
    dead_letter_alarm: Annotated[int, Field(ge=0)] = Field(
        default=10,
        description="more dead letters than this within HL7BUS_WEB_DEAD_LETTER_WINDOW_S "
        "raises the dead-letter alarm",
    )
    dead_letter_window_s: Seconds = Field(
        default=60.0, description="the window the dead-letter alarm counts in"
    )

    @field_validator("mllp_metrics_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, or empty for none")
        return url

    @field_validator("token_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError(
                "must be at least 32 characters (a random string, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return secret


class AlertsSettings(_Settings):
    """The alerts service: a consumer group evaluating the rules over ``clinical.events``
    and producing ``clinical.alerts`` in Kafka transactions (``HL7BUS_ALERTS_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_ALERTS_", frozen=True, extra="ignore")

    rules: Path | None = Field(
        default=None,
        description="the rule file (TOML); unset: the rules that ship with hl7bus",
        examples=["/etc/hl7bus/rules.toml"],
    )
    group: str = Field(default="hl7bus-alerts", description="the Kafka consumer group")
    instance_id: str = Field(
        default="1",
        description="this instance's name in the group: its transactional id is "
        "GROUP-INSTANCE_ID, so a restarted instance fences its earlier self; give each "
        "instance its own",
        examples=["alerts-2"],
    )
    state_topic: str = Field(
        default="alerts.state",
        description="the compacted changelog of each patient's rule state (with the topic "
        "prefix), written in the same transaction as the alerts and the offsets",
    )
    batch_size: int = Field(
        default=500, ge=1, description="records read per poll, evaluated in one transaction"
    )
    batch_linger_s: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="after a batch's first record, how long to wait for more before its "
        "transaction: fewer, larger transactions (less work for the broker) for that much "
        "more latency",
    )
    poll_timeout_s: Seconds = 0.1
    restore_timeout_s: Seconds = Field(
        default=120.0,
        description="how long reading the state back from its changelog may take on an "
        "assignment before the service gives up",
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: Port | None = 9467


class TimelineSettings(_Settings):
    """The timeline service: a consumer group folding ``clinical.events`` and
    ``clinical.alerts`` into the timeline store (``HL7BUS_TIMELINE_*``)."""

    model_config = SettingsConfigDict(env_prefix="HL7BUS_TIMELINE_", frozen=True, extra="ignore")

    store: str = Field(
        default="sqlite:///~/.hl7bus/timeline.db",
        description="sqlite:///PATH (~ is the home folder) or postgresql://…[?schema=NAME]",
        examples=["postgresql://hl7bus@db.example.org/hl7bus?schema=timeline"],
    )
    group: str = Field(default="hl7bus-timeline", description="the Kafka consumer group")
    instance_id: str | None = Field(
        default=None,
        description="this instance's static membership of the group (group.instance.id): "
        "restarted with the same id, it gets its partitions back at once instead of after "
        "the session timeout; give each instance its own",
        examples=["timeline-1"],
    )
    batch_size: int = Field(
        default=5000, ge=1, description="records read per poll, stored in one transaction"
    )
    poll_timeout_s: Seconds = 0.1
    summary_cache: int = Field(
        default=2_000,
        ge=0,
        description="patients' summaries kept in memory between batches, each with its last "
        "entries (about 150 KB a patient), and four times as many without them (some 20 KB "
        "each); a patient not kept is read back from the store",
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: Port | None = 9466

    @field_validator("store")
    @classmethod
    def _store_url(cls, url: str) -> str:
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must be a sqlite:///PATH or postgresql://… URL")
        return url

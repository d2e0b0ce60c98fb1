"""Kafka client set-up shared by every connector and service: one place for the
delivery settings the bus promises (idempotent producers, ``acks=all``, committed reads),
and for where librdkafka's own log lines go (hl7bus's JSON logs, never raw stderr)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from hl7bus.logs import LibrdkafkaLog, fields
from hl7bus.settings import KafkaSettings

log = logging.getLogger("hl7bus.kafka")


def client_config(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security settings common to producers, consumers and admin clients;
    their log lines go through hl7bus's logging."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": settings.client_id,
        "security.protocol": settings.security_protocol,
        "logger": LibrdkafkaLog(),
    }
    if settings.sasl_mechanism:
        config["sasl.mechanism"] = settings.sasl_mechanism
        config["sasl.username"] = settings.sasl_username or ""
        if settings.sasl_password is not None:
            config["sasl.password"] = settings.sasl_password.get_secret_value()
    if settings.ssl_ca_location:
        config["ssl.ca.location"] = str(settings.ssl_ca_location)
    return config


def quiet_logger() -> LibrdkafkaLog:
    """librdkafka's lines at debug level, for probes whose failures are expected and said
    in a sentence of their own (is a broker there?) and for short-lived commands."""
    return LibrdkafkaLog(logging.DEBUG)


def require_reachable(settings: KafkaSettings, timeout_s: float = 10.0) -> None:
    """Fail with one sentence when no broker answers at the bootstrap address."""
    from hl7bus.errors import Hl7BusError

    if not broker_answers(settings, timeout_s):
        raise Hl7BusError(
            f"no Kafka broker answers at {settings.bootstrap_servers}; start one with "
            "`hl7bus dev up` or set HL7BUS_KAFKA_BOOTSTRAP_SERVERS"
        )


def broker_answers(settings: KafkaSettings, timeout_s: float, admin: Any = None) -> bool:
    """Whether a broker answers a metadata request within ``timeout_s``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    if admin is None:
        admin = AdminClient({**client_config(settings), "logger": quiet_logger()})
    try:
        admin.list_topics(timeout=timeout_s)
        return True
    except KafkaException:
        return False
    finally:
        admin.poll(0)  # hand its log lines over


class BrokerWatch:
    """Whether Kafka is reachable now: a metadata request every ``interval_s`` from a
    thread of its own; ``on_change(reachable)`` is called when the answer changes.

    ``reachable`` is the answer known at start (e.g. from :func:`require_reachable`).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        on_change: Callable[[bool], None],
        *,
        reachable: bool = True,
        interval_s: float = 2.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.on_change = on_change
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.reachable = reachable
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kafka-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout_s + 1)

    def _watch(self) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({**client_config(self.settings), "logger": quiet_logger()})
        while not self._stopping.wait(self.interval_s):
            reachable = broker_answers(self.settings, self.timeout_s, admin)
            if reachable == self.reachable or self._stopping.is_set():
                continue
            self.reachable = reachable
            where = fields(bootstrap_servers=self.settings.bootstrap_servers)
            if reachable:
                log.info("kafka reachable again", extra=where)
            else:
                log.error("kafka unreachable", extra=where)
            self.on_change(reachable)


def producer_config(
    settings: KafkaSettings,
    *,
    transactional_id: str | None = None,
    linger_ms: float = 2.0,
    delivery_timeout_ms: int = 30_000,
) -> dict[str, Any]:
    """An idempotent producer that reports success only when every in-sync replica has
    the record."""
    config = client_config(settings)
    config.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            # HL7 messages can carry whole documents (base64 PDFs): allow records up to the
            # bus's limit, plus room for the request's own framing.
            "message.max.bytes": settings.max_record_bytes + 64 * 1024,
            "linger.ms": linger_ms,
            "compression.type": "lz4",
            "delivery.timeout.ms": delivery_timeout_ms,
            "message.timeout.ms": delivery_timeout_ms,
        }
    )
    if transactional_id:
        config["transactional.id"] = transactional_id
    return config


def consumer_config(
    settings: KafkaSettings, group_id: str, *, from_beginning: bool = True
) -> dict[str, Any]:
    """A consumer in ``group_id`` that reads only committed records and commits explicitly."""
    config = client_config(settings)
    config.update(
        {
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "isolation.level": "read_committed",
        }
    )
    return config


def ensure_topics(
    settings: KafkaSettings,
    topics: list[str] | tuple[str, ...],
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
    config: dict[str, str] | None = None,
) -> None:
    """Create the topics that do not exist yet (with topic ``config``); existing ones are
    left as they are."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(client_config(settings))
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
        wanted = [
            NewTopic(
                t,
                num_partitions=partitions,
                replication_factor=replication_factor,
                config=dict(config or {}),
            )
            for t in topics
            if t not in existing
        ]
        present = [t for t in topics if t in existing]
        if config and present:
            _set_topic_config(admin, present, config, timeout_s)
        if not wanted:
            return
        for future in admin.create_topics(wanted, request_timeout=timeout_s).values():
            try:
                future.result(timeout=timeout_s)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    finally:
        admin.poll(0)  # hand its log lines over


def _set_topic_config(admin, topics: list[str], config: dict[str, str], timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    """Bring existing topics to ``config`` (only the keys given; the rest stays)."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            topic,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in config.items()
            ],
        )
        for topic in topics
    ]
    for future in admin.incremental_alter_configs(resources, request_timeout=timeout_s).values():
        future.result(timeout=timeout_s)

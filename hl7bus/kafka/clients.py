"""Kafka client set-up shared by every connector and service: one place for the
delivery settings the bus promises (idempotent producers, ``acks=all``, committed reads)."""

from __future__ import annotations

import logging
from typing import Any

from hl7bus.settings import KafkaSettings


def client_config(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security settings common to producers, consumers and admin clients."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": settings.client_id,
        "security.protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        config["sasl.mechanism"] = settings.sasl_mechanism
        config["sasl.username"] = settings.sasl_username or ""
        if settings.sasl_password is not None:
            config["sasl.password"] = settings.sasl_password.get_secret_value()
    if settings.ssl_ca_location:
        config["ssl.ca.location"] = str(settings.ssl_ca_location)
    return config


def quiet_logger() -> logging.Logger:
    """A logger that drops librdkafka's own lines, for clients of short-lived commands."""
    logger = logging.getLogger("hl7bus.kafka.clients.quiet")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def require_reachable(settings: KafkaSettings, timeout_s: float = 10.0) -> None:
    """Fail with one sentence when no broker answers at the bootstrap address."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from hl7bus.errors import Hl7BusError

    admin = AdminClient({**client_config(settings), "logger": quiet_logger()})
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException:
        raise Hl7BusError(
            f"no Kafka broker answers at {settings.bootstrap_servers}; start one with "
            "`hl7bus dev up` or set HL7BUS_KAFKA_BOOTSTRAP_SERVERS"
        ) from None


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
    for topic, future in admin.create_topics(wanted, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        del topic


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

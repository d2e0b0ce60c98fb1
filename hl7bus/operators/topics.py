"""The bus's topics as operators see them (``hl7bus topics``): partitions, records,
retention, clean-up, and the schema of their values with its compatibility level."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hl7bus.operators.bus import (
    TIMEOUT_S,
    admin_client,
    bus_names,
    cluster_topics,
    kafka_failed,
    topic_name,
    unknown_topic,
)
from hl7bus.settings import KafkaSettings, RegistrySettings

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def retention_text(ms: int | None) -> str:
    """``retention.ms`` as people say it: ``7d``, ``1d 12h``, ``forever``.  Pure."""
    if ms is None:
        return "?"
    if ms < 0:
        return "forever"
    parts = []
    for unit, size in _UNITS:
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return " ".join(parts[:2]) or f"{ms}ms"


@dataclass(frozen=True, slots=True)
class TopicView:
    """One topic.  ``records`` is the sum over its partitions of end minus start offsets:
    the records it holds, counting the markers of transactions (``clinical.alerts``) and the
    gaps compaction left (``alerts.state``).  ``schema_*`` are of the latest version of its
    subject ``<topic>-value`` (None when it has none); ``compatibility`` is the subject's
    level, or the registry's default when the subject has none of its own."""

    name: str
    partitions: int
    records: int
    retention_ms: int | None
    cleanup_policy: str | None
    subject: str | None
    schema_id: int | None
    schema_version: int | None
    compatibility: str | None

    @property
    def retention(self) -> str:
        return retention_text(self.retention_ms)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "retention": self.retention}


def describe_topics(
    kafka: KafkaSettings, registry: RegistrySettings, names: list[str] | None = None
) -> list[TopicView]:
    """The topics named (default names of bus topics take the prefix), else the bus's:
    those of :func:`hl7bus.operators.bus.bus_names` and, with a prefix, every topic whose
    name starts with it."""
    from confluent_kafka import KafkaException

    admin = admin_client(kafka)
    present = cluster_topics(kafka, admin)
    if names:
        wanted = [topic_name(kafka, n) for n in names]
        for name in wanted:
            if name not in present:
                raise unknown_topic(kafka, name)
    else:
        prefix, known = kafka.topic_prefix, set(bus_names(kafka))
        wanted = sorted(t for t in present if t in known or (prefix and t.startswith(prefix)))
    try:
        counts = _records(admin, {t: sorted(present[t].partitions) for t in wanted})
        configs = _configs(admin, wanted)
    except KafkaException as exc:
        raise kafka_failed(kafka, exc) from exc
    schemas = _schemas(registry, wanted)
    return [
        TopicView(
            name,
            len(present[name].partitions),
            counts[name],
            _int(configs[name].get("retention.ms")),
            configs[name].get("cleanup.policy"),
            *schemas[name],
        )
        for name in wanted
    ]


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def _records(admin: Any, partitions: dict[str, list[int]]) -> dict[str, int]:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    asked = [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
    counts = dict.fromkeys(partitions, 0)
    if not asked:
        return counts
    offsets = {}
    for name, spec in (("start", OffsetSpec.earliest()), ("end", OffsetSpec.latest())):
        futures = admin.list_offsets({tp: spec for tp in asked}, request_timeout=TIMEOUT_S)
        offsets[name] = {
            (tp.topic, tp.partition): f.result(TIMEOUT_S).offset for tp, f in futures.items()
        }
    for (topic, partition), end in offsets["end"].items():
        counts[topic] += max(end - offsets["start"][(topic, partition)], 0)
    return counts


def _configs(admin: Any, topics: list[str]) -> dict[str, dict[str, str]]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    if not topics:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    futures = admin.describe_configs(resources, request_timeout=TIMEOUT_S)
    return {
        resource.name: {k: e.value for k, e in future.result(TIMEOUT_S).items()}
        for resource, future in futures.items()
    }


def _schemas(registry: RegistrySettings, topics: list[str]) -> dict[str, tuple]:
    """Topic -> (subject, schema id, version, compatibility) of its value subject."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from hl7bus.kafka.serde import registry_client, registry_errors

    client = registry_client(registry)
    found: dict[str, tuple] = {}
    with registry_errors(registry):
        default = client.get_compatibility()
        for topic in topics:
            subject = f"{topic}-value"
            try:
                latest = client.get_latest_version(subject)
            except SchemaRegistryError as exc:
                if exc.http_status_code != 404:
                    raise
                found[topic] = (None, None, None, None)
                continue
            try:
                level = client.get_compatibility(subject)
            except SchemaRegistryError as exc:
                if exc.http_status_code != 404:
                    raise
                level = default
            found[topic] = (subject, latest.schema_id, latest.version, level)
    return found

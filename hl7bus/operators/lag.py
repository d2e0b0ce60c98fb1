"""Consumer groups' lag per partition (``hl7bus lag``): how many records of each partition a
group has not committed yet."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hl7bus.errors import Hl7BusError
from hl7bus.operators.bus import TIMEOUT_S, admin_client, cluster_topics, kafka_failed
from hl7bus.settings import KafkaSettings


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """``end`` is the partition's last stable offset, what a ``read_committed`` consumer can
    reach: on a topic without transactions the high watermark, on one written in
    transactions (``clinical.alerts``) the end of its committed records, so an open
    transaction is no lag.  ``committed`` None: the group has committed nothing here."""

    group: str
    topic: str
    partition: int
    committed: int | None
    end: int | None
    lag: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def lag_of(committed: int | None, end: int | None) -> int | None:
    """Pure.  A group that read records of a transaction since aborted may have committed
    beyond the stable end: that is no lag."""
    if committed is None or end is None:
        return None
    return max(end - committed, 0)


def group_lags(kafka: KafkaSettings, groups: list[str] | None = None) -> list[PartitionLag]:
    """Every partition each group (every consumer group of the cluster, or those named) has
    committed an offset of, on topics that still exist."""
    from confluent_kafka import KafkaException

    admin = admin_client(kafka)
    present = cluster_topics(kafka, admin)
    try:
        listed = sorted(g.group_id for g in admin.list_consumer_groups().result(TIMEOUT_S).valid)
        if groups:
            missing = [g for g in groups if g not in listed]
            if missing:
                raise Hl7BusError(
                    f"no consumer group {missing[0]!r} on the Kafka cluster at "
                    f"{kafka.bootstrap_servers}; `hl7bus lag` lists every group's lag"
                )
        committed = _committed(admin, groups or listed)
        committed = {k: v for k, v in committed.items() if k[1] in present}
        ends = _stable_ends(admin, {(topic, p) for _, topic, p in committed})
    except KafkaException as exc:
        raise kafka_failed(kafka, exc) from exc
    return [
        PartitionLag(
            group, topic, p, offset, ends.get((topic, p)), lag_of(offset, ends.get((topic, p)))
        )
        for (group, topic, p), offset in sorted(committed.items())
    ]


def _committed(admin: Any, groups: list[str]) -> dict[tuple[str, str, int], int]:
    from confluent_kafka import ConsumerGroupTopicPartitions

    futures = {
        group: admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=TIMEOUT_S
        )[group]
        for group in groups
    }
    found = {}
    for group, future in futures.items():
        for tp in future.result(TIMEOUT_S).topic_partitions or ():
            if tp.error is None and tp.offset >= 0:
                found[(group, tp.topic, tp.partition)] = tp.offset
    return found


def _stable_ends(admin: Any, partitions: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    if not partitions:
        return {}
    futures = admin.list_offsets(
        {TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions},
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=TIMEOUT_S,
    )
    return {(tp.topic, tp.partition): f.result(TIMEOUT_S).offset for tp, f in futures.items()}

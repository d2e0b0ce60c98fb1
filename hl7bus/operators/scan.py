"""Reading a topic from a start to its end (as it was when reading began), its partitions
merged in time order, and on as records arrive when following.

Reads committed records only (``read_committed``): a transaction still open or aborted on
``clinical.alerts`` is not shown.  Nothing is committed: the reader belongs to no group.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from hl7bus.errors import Hl7BusError
from hl7bus.operators.bus import TIMEOUT_S, kafka_failed, new_consumer, partitions_of
from hl7bus.operators.times import Start
from hl7bus.settings import KafkaSettings

STALL_S = 60.0
"""Reading that makes no progress this long is given up with a sentence."""


class TimeOrder:
    """Records of several partitions, given out in time order: the earliest buffered record
    goes out once every partition still being read has one buffered (a partition with
    nothing buffered may still hold an earlier one).  Pure."""

    def __init__(self, partitions: set[int]) -> None:
        self.active = set(partitions)
        self.pending: dict[int, deque] = {p: deque() for p in partitions}

    def add(self, message: Any) -> None:
        self.pending[message.partition()].append(message)

    def finish(self, partition: int) -> None:
        self.active.discard(partition)

    def ready(self) -> Iterator[Any]:
        while not any(not self.pending[p] for p in self.active):
            heads = [(q[0].timestamp()[1], p) for p, q in self.pending.items() if q]
            if not heads:
                return
            yield self.pending[min(heads)[1]].popleft()


def spans(
    consumer: Any, topic: str, partitions: list[int], start: Start, until_ms: int | None = None
) -> dict[int, tuple[int, int]]:
    """Partition -> (first offset, end offset) to read, the end exclusive."""
    from confluent_kafka import TopicPartition

    marks = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), TIMEOUT_S, cached=False)
        for p in partitions
    }

    def at(ms: int) -> dict[int, int]:
        asked = [TopicPartition(topic, p, ms) for p in partitions]
        found = consumer.offsets_for_times(asked, TIMEOUT_S)
        return {
            tp.partition: tp.offset if tp.offset >= 0 else marks[tp.partition][1] for tp in found
        }

    ends = at(until_ms) if until_ms is not None else {p: high for p, (_, high) in marks.items()}
    if start.kind == "time":
        firsts = at(start.value or 0)
    elif start.kind == "offset":
        firsts = {p: min(max(start.value or 0, low), high) for p, (low, high) in marks.items()}
    elif start.kind == "end":
        firsts = {p: high for p, (_, high) in marks.items()}
    else:
        firsts = {p: low for p, (low, _) in marks.items()}
    return {p: (firsts[p], max(firsts[p], ends[p])) for p in partitions}


def planned(kafka: KafkaSettings, topic: str, start: Start, until_ms: int | None = None) -> int:
    """How many offsets :func:`read` will go through (records, and transaction markers)."""
    from confluent_kafka import KafkaException

    consumer = new_consumer(kafka)
    try:
        span = spans(consumer, topic, partitions_of(kafka, consumer, topic), start, until_ms)
    except KafkaException as exc:
        raise kafka_failed(kafka, exc) from exc
    finally:
        consumer.close()
    return sum(end - first for first, end in span.values())


def read(
    kafka: KafkaSettings,
    topic: str,
    start: Start,
    *,
    until_ms: int | None = None,
    follow: bool = False,
    poll_s: float = 0.5,
) -> Iterator[Any]:
    """Kafka messages of ``topic`` from ``start`` to the end (or ``until_ms``), in time
    order across partitions; with ``follow``, then every new one as it arrives."""
    from confluent_kafka import KafkaException

    consumer = new_consumer(kafka)
    try:
        span = spans(consumer, topic, partitions_of(kafka, consumer, topic), start, until_ms)
        yield from _bounded(consumer, topic, span, follow, poll_s)
        while follow:
            for message in consumer.consume(500, poll_s):
                if not message.error():
                    yield message
    except KafkaException as exc:
        raise kafka_failed(kafka, exc) from exc
    finally:
        consumer.close()


def _bounded(
    consumer: Any, topic: str, span: dict[int, tuple[int, int]], follow: bool, poll_s: float
) -> Iterator[Any]:
    from confluent_kafka import KafkaError, TopicPartition

    reading = {p for p, (first, end) in span.items() if first < end}
    assigned = span if follow else {p: span[p] for p in reading}
    consumer.assign([TopicPartition(topic, p, first) for p, (first, _) in assigned.items()])
    order = TimeOrder(reading)
    later: list[Any] = []  # following: what came after the end, for after the merge
    progress = time.monotonic()
    while order.active:
        for message in consumer.consume(500, poll_s):
            progress = time.monotonic()
            p = message.partition()
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise Hl7BusError(f"reading {topic} failed: {message.error().str()}")
                order.finish(p)
            elif p not in order.active or message.offset() >= span[p][1]:
                order.finish(p)
                if follow:
                    later.append(message)
            else:
                order.add(message)
                if message.offset() >= span[p][1] - 1:
                    order.finish(p)
        yield from order.ready()
        if time.monotonic() - progress > STALL_S:
            raise Hl7BusError(f"Kafka sent nothing of {topic} for {STALL_S:g} s; try again")
    yield from order.ready()
    yield from later

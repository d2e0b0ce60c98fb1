"""The timeline service's consumer loop: ``clinical.events`` and ``clinical.alerts`` into
the timeline store.

A consumer group (``hl7bus-timeline`` unless set) that commits nothing to Kafka: the next
offset of each partition is stored in the timeline store, in the same transaction as the
entries and state it produced, and read back when a partition is assigned.  A crash
anywhere resumes with nothing lost and nothing applied twice (and event ids make a record
read twice harmless anyway).

Each poll's records are decoded (Confluent wire format; the writer's schema from the
registry by id, the bus's current schema as the reader's) and stored as one batch.  A
record that cannot be decoded or stored is logged (where it is and why, never its
content), counted and skipped: its offset advances with the rest.  When the store cannot
be reached the batch waits and is tried again, health says so, and nothing is skipped.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hl7bus.kafka.serde import Decoder, RegistryUnavailable, Undecodable
from hl7bus.kafka.topics import Topics
from hl7bus.logs import fields
from hl7bus.metrics import LATENCY_BUCKETS, serve_in_thread
from hl7bus.services.timeline.entries import Entry, alert_entry, event_entry
from hl7bus.services.timeline.identity import Outcome
from hl7bus.services.timeline.store import OffsetsMoved, Store, StoreFailure
from hl7bus.settings import KafkaSettings, RegistrySettings, TimelineSettings

log = logging.getLogger("hl7bus.timeline")

SKIP_REASONS: Final = ("undecodable", "unreadable", "unapplicable")
IDENTITY_OUTCOMES: Final = ("merged", "linked", "unlinked", "refused")
BACKOFF_S: Final = (0.2, 0.5, 1.0, 2.0, 5.0)


class TimelineMetrics:
    """What the timeline service counts, and whether Kafka and the store answer."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.entries = Counter(
            "hl7bus_timeline_entries", "Entries stored, by kind", ["kind"], registry=r
        )
        self.repeated = Counter(
            "hl7bus_timeline_repeated", "Records whose event id was stored already", registry=r
        )
        self.skipped = Counter(
            "hl7bus_timeline_skipped",
            "Records skipped: undecodable (not Avro of a known schema), unreadable (not an "
            "event or alert the timeline can read), unapplicable (the store refused it)",
            ["reason"],
            registry=r,
        )
        self.identity = Counter(
            "hl7bus_timeline_identity",
            "Merges, links and unlinks made, and those refused",
            ["outcome"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "hl7bus_timeline_batch_seconds",
            "Time to store one batch (one transaction)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "hl7bus_timeline_lag_records",
            "Records of the assigned partitions not stored yet, by topic",
            ["topic"],
            registry=r,
        )
        self.kafka_up = Gauge(
            "hl7bus_timeline_kafka_reachable", "1 while a Kafka broker answers", registry=r
        )
        self.store_up = Gauge(
            "hl7bus_timeline_store_reachable", "1 while the timeline store answers", registry=r
        )
        for kind in ("event", "alert"):
            self.entries.labels(kind=kind)
        for reason in SKIP_REASONS:
            self.skipped.labels(reason=reason)
        for outcome in IDENTITY_OUTCOMES:
            self.identity.labels(outcome=outcome)
        self.kafka_up.set(1)
        self.store_up.set(1)
        self.kafka_reachable = True
        self.store_reachable = True

    def set_kafka(self, reachable: bool) -> None:
        self.kafka_reachable = reachable
        self.kafka_up.set(1 if reachable else 0)

    def set_store(self, reachable: bool) -> None:
        self.store_reachable = reachable
        self.store_up.set(1 if reachable else 0)

    def health(self) -> dict:
        return {
            "ok": self.kafka_reachable and self.store_reachable,
            "kafka": "reachable" if self.kafka_reachable else "unreachable",
            "store": "reachable" if self.store_reachable else "unreachable",
        }


# Batches: records -> entries and offsets -> the store.

Where = tuple[str, str, int]  # group, topic, partition


@dataclass(slots=True)
class Batch:
    entries: list[Entry] = field(default_factory=list)
    places: list[tuple[Where, int]] = field(default_factory=list)  # per entry: next offset
    offsets: dict[Where, int] = field(default_factory=dict)  # per partition: next offset


class Applier:
    """Decodes polled records and stores them, one transaction per batch; remembers the
    offsets it last read from or wrote to the store (so that a store someone else wrote
    meanwhile is noticed: :class:`OffsetsMoved`)."""

    def __init__(
        self,
        store: Store,
        decoder: Decoder,
        topics: Topics,
        group: str,
        metrics: TimelineMetrics,
        stop: threading.Event,
    ) -> None:
        self.store = store
        self.decoder = decoder
        self.group = group
        self.metrics = metrics
        self.stop = stop
        self.readers = {topics.events: ("ClinicalEvent", event_entry)}
        self.readers[topics.alerts] = ("ClinicalAlert", alert_entry)
        self.stored: dict[Where, int | None] = {}  # what the store holds, as last seen

    def remember_stored(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """Read the stored offsets of ``partitions`` of ``topic`` (waiting for the store)."""
        found = self._patiently(lambda: self.store.read_offsets(self.group, topic))
        if found is None:  # stopping
            return {}
        for p in partitions:
            self.stored[(self.group, topic, p)] = found.get(p)
        return found

    def forget(self, topic: str, partitions: Sequence[int]) -> None:
        for p in partitions:
            self.stored.pop((self.group, topic, p), None)

    def decode(self, messages: Sequence[Any]) -> Batch:
        batch = Batch()
        for msg in messages:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            where = (self.group, topic, partition)
            batch.offsets[where] = offset + 1
            reader = self.readers.get(topic)
            if reader is None:
                continue
            name, make_entry = reader
            place = fields(topic=topic, partition=partition, offset=offset)
            try:
                record = self._patiently(lambda m=msg, n=name: self.decoder.record(m.value(), n))
            except Undecodable as exc:
                self._skip("undecodable", str(exc), place)
                continue
            if record is None:  # stopping
                return Batch()
            try:
                entry = make_entry(record)
            except Exception as exc:
                self._skip("unreadable", f"{type(exc).__name__} reading the record", place)
                continue
            batch.entries.append(entry)
            batch.places.append((where, offset + 1))
        return batch

    def apply(self, batch: Batch) -> bool:
        """Store ``batch``; False when the store's offsets moved (read them again) or the
        service is stopping."""
        if not batch.offsets:
            return True
        started = time.perf_counter()
        try:
            applied = self._patiently(lambda: self._store(batch.entries, batch.offsets))
        except OffsetsMoved as exc:
            log.warning("offsets moved in the store; reading them again", extra=_why(exc))
            return False
        except Exception as exc:
            # One of the entries cannot be stored: store them one by one, skip that one.
            log.error(
                "a batch could not be stored; storing its records one by one",
                extra=fields(error=type(exc).__name__, records=len(batch.entries)),
            )
            return self._one_by_one(batch)
        if applied is None:
            return False
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self._count(applied)
        return True

    def _store(self, entries: Sequence[Entry], offsets: dict[Where, int]) -> Any:
        expected = {where: self.stored.get(where) for where in offsets}
        applied = self.store.apply_batch(entries, offsets, expected)
        self.stored.update(offsets)
        return applied

    def _one_by_one(self, batch: Batch) -> bool:
        for entry, (where, next_offset) in zip(batch.entries, batch.places, strict=True):
            try:
                applied = self._patiently(
                    lambda e=entry, w=where, n=next_offset: self._store([e], {w: n})
                )
            except OffsetsMoved:
                return False
            except Exception as exc:
                self._skip(
                    "unapplicable",
                    f"{type(exc).__name__} storing the record",
                    fields(topic=where[1], partition=where[2], offset=next_offset - 1),
                )
                continue
            if applied is None:
                return False
            self._count(applied)
        try:
            return self._patiently(lambda: self._store([], batch.offsets)) is not None
        except OffsetsMoved:
            return False

    def _count(self, applied: Any) -> None:
        metrics = self.metrics
        if applied.stored:
            metrics.entries.labels(kind="event").inc(applied.stored - applied.alerts)
            metrics.entries.labels(kind="alert").inc(applied.alerts)
        if applied.repeated:
            metrics.repeated.inc(applied.repeated)
        for decision in applied.decisions:
            outcome = decision.outcome
            if outcome is Outcome.REFUSED:
                metrics.identity.labels(outcome="refused").inc()
                log.warning(
                    decision.reason or "identity change refused",
                    extra=fields(refusal=decision.refusal.value if decision.refusal else None),
                )
            elif outcome in (Outcome.MERGED, Outcome.LINKED, Outcome.UNLINKED):
                metrics.identity.labels(outcome=outcome.value.lower()).inc()

    def _skip(self, reason: str, why: str, place: dict) -> None:
        self.metrics.skipped.labels(reason=reason).inc()
        place["fields"].update(reason=reason, error=why)
        log.error("record skipped", extra=place)

    def _patiently(self, work: Callable[[], Any]) -> Any:
        """``work()``, tried again while the store or the registry cannot be reached (None
        when the service stops meanwhile)."""
        attempt = 0
        while True:
            try:
                result = work()
            except (StoreFailure, RegistryUnavailable) as exc:
                is_store = isinstance(exc, StoreFailure)
                if is_store:
                    self.metrics.set_store(False)
                if attempt == 0:
                    log.error(
                        "timeline store failed; trying again"
                        if is_store
                        else "schema registry unreachable; trying again",
                        extra=_why(exc),
                    )
                delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                attempt += 1
                if self.stop.wait(delay):
                    return None
                continue
            if attempt or not self.metrics.store_reachable:
                self.metrics.set_store(True)
                if attempt:
                    log.info("timeline store and registry answer again")
            return result


def _why(exc: BaseException) -> dict:
    return fields(error=str(exc))


# The service.


class TimelineService:
    """The consumer group's loop: poll, store, repeat, until ``stop`` is set."""

    def __init__(
        self,
        settings: TimelineSettings,
        kafka: KafkaSettings,
        registry: RegistrySettings,
        store: Store,
        metrics: TimelineMetrics,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.kafka = kafka
        self.topics = Topics.with_prefix(kafka.topic_prefix)
        self.metrics = metrics
        self.stop = stop
        self.applier = Applier(store, Decoder(registry), self.topics, settings.group, metrics, stop)
        self._assigned: list[Any] = []
        self._consumer: Any = None
        self._lag_at = 0.0

    def run(self) -> None:
        from confluent_kafka import Consumer

        from hl7bus.kafka.clients import consumer_config

        # The readers of what is to come now, not when the first record waits for them.
        for topic, (record_type, _entry) in self.applier.readers.items():
            self.applier.decoder.prepare(f"{topic}-value", record_type)
        config = consumer_config(self.kafka, self.settings.group)
        if self.settings.instance_id:
            config["group.instance.id"] = self.settings.instance_id
        consumer = self._consumer = Consumer(config)
        consumer.subscribe(
            [self.topics.events, self.topics.alerts],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info(
            "timeline service started",
            extra=fields(
                group=self.settings.group,
                topics=[self.topics.events, self.topics.alerts],
                store=self.applier.store.url,
            ),
        )
        try:
            while not self.stop.is_set():
                messages = consumer.consume(
                    num_messages=self.settings.batch_size, timeout=self.settings.poll_timeout_s
                )
                good = [m for m in messages if not m.error()]
                for m in messages:
                    if m.error():
                        log.warning("kafka: %s", m.error().str())
                if good:
                    batch = self.applier.decode(good)
                    if not self.stop.is_set() and not self.applier.apply(batch):
                        self._seek_to_stored()
                self._watch(bool(good))
        finally:
            consumer.close()
            log.info("timeline service stopped")

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        for topic in {tp.topic for tp in partitions}:
            mine = [tp for tp in partitions if tp.topic == topic]
            stored = self.applier.remember_stored(topic, [tp.partition for tp in mine]) or {}
            for tp in mine:
                tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
        self._assigned = list(partitions)
        consumer.assign(partitions)
        log.info(
            "partitions assigned",
            extra=fields(
                partitions=[f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions]
            ),
        )

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        for topic in {tp.topic for tp in partitions}:
            self.applier.forget(topic, [tp.partition for tp in partitions if tp.topic == topic])
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned = [tp for tp in self._assigned if (tp.topic, tp.partition) not in gone]

    def _seek_to_stored(self) -> None:
        """Go on from the offsets the store holds (someone else wrote it meanwhile)."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        for topic in {tp.topic for tp in self._assigned}:
            mine = [tp.partition for tp in self._assigned if tp.topic == topic]
            stored = self.applier.remember_stored(topic, mine) or {}
            for p in mine:
                self._consumer.seek(TopicPartition(topic, p, stored.get(p, OFFSET_BEGINNING)))

    def _watch(self, busy: bool) -> None:
        """Now and then: the lag of the assigned partitions, and (when idle) whether the
        store still answers."""
        now = time.monotonic()
        if now - self._lag_at < 5:
            return
        self._lag_at = now
        if not busy:
            try:
                self.applier.store.ping()
                self.metrics.set_store(True)
            except StoreFailure:
                self.metrics.set_store(False)
        assigned = list(self._assigned)
        if not assigned:
            return
        try:
            positions = self._consumer.position(assigned)
        except Exception as exc:  # a rebalance under way: the lag is measured next time
            log.debug("lag not measured", extra=fields(error=type(exc).__name__))
            return
        lag: dict[str, int] = {}
        for tp in positions:
            # The high watermarks the fetches brought: asking the broker would wait behind
            # the fetch in flight (up to fetch.wait.max.ms per partition).
            try:
                low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except Exception as exc:
                log.debug(
                    "lag not measured",
                    extra=fields(topic=tp.topic, partition=tp.partition, error=type(exc).__name__),
                )
                continue
            if high < 0:
                continue
            position = tp.offset if tp.offset >= 0 else max(low, 0)
            lag[tp.topic] = lag.get(tp.topic, 0) + max(high - position, 0)
        for topic, value in lag.items():
            self.metrics.lag.labels(topic=topic).set(value)


# The process.


def collect_rarely() -> None:
    """Run Python's cycle collector seldom: the store keeps thousands of patients' summaries
    between batches, long-lived objects that each full collection walks again (about a
    third of the service's time with the default thresholds).  The fold makes next to no
    reference cycles: reference counting frees its garbage."""
    gc.freeze()  # what start-up made is never garbage
    gc.set_threshold(50_000, 20, 100)


def main(
    settings: TimelineSettings,
    kafka: KafkaSettings,
    registry: RegistrySettings,
    *,
    rebuild: bool = False,
) -> int:
    """Run the timeline service until SIGTERM or SIGINT (with ``rebuild``, after rebuilding
    its store from the topics)."""
    from hl7bus.kafka.clients import BrokerWatch, require_reachable
    from hl7bus.services.timeline.store import open_store

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    require_reachable(kafka)
    metrics = TimelineMetrics()
    stop_metrics = None
    if settings.metrics_port is not None:
        stop_metrics = serve_in_thread(
            settings.metrics_host, settings.metrics_port, metrics, "HL7BUS_TIMELINE_METRICS_PORT"
        )
    watch = BrokerWatch(kafka, metrics.set_kafka)
    watch.start()
    store = open_store(settings.store, summary_cache=settings.summary_cache)
    collect_rarely()
    try:
        if rebuild:
            from hl7bus.services.timeline.rebuild import rebuild as rebuild_store

            store = rebuild_store(store, settings, kafka, registry, metrics, stop)
        if not stop.is_set():
            TimelineService(settings, kafka, registry, store, metrics, stop).run()
    finally:
        store.close()
        watch.stop()
        if stop_metrics is not None:
            stop_metrics()
    return 0

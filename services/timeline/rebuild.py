"""Rebuilding the timeline store from the topics, while the old store keeps serving.

``clinical.events`` and ``clinical.alerts`` are read from their first record into a fresh
store beside the old one (SQLite: a new file next to it; PostgreSQL: a schema named
``<schema>_rebuild``), with the consumer group's offsets stored as they go.  Once every
partition has been read to its end, the fresh store takes the old one's place in one step
(SQLite: the store's path becomes a link to the new file, by an atomic rename; PostgreSQL:
both schemas renamed in one transaction, the old one then dropped).  Readers and writers
of the old store move over when they next use it; a writer that was still storing into
the old store finds the offsets moved and goes on from the new store's.

The fresh store's entry sequence numbers start after the old store's last one, so a live
stream that resumes from an old number misses nothing (it may see entries again).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

from hl7bus.kafka.topics import Topics
from hl7bus.logs import fields
from hl7bus.services.timeline.consumer import Applier, Decoder, TimelineMetrics
from hl7bus.services.timeline.store import Store
from hl7bus.settings import KafkaSettings, RegistrySettings, TimelineSettings

log = logging.getLogger("hl7bus.timeline.rebuild")


class Progress:
    """A progress bar on a terminal; elsewhere a log line now and then."""

    def __init__(self, total: int, out: TextIO | None = None, every_s: float = 10.0) -> None:
        self.total = total
        self.out = out if out is not None else sys.stderr
        self.terminal = self.out.isatty()
        self.every_s = every_s
        self.started = self._shown = time.monotonic()

    def show(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._shown < (0.2 if self.terminal else self.every_s):
            return
        self._shown = now
        rate = done / max(now - self.started, 1e-6)
        if self.terminal:
            share = min(done / self.total, 1.0) if self.total else 1.0
            bar = "#" * int(share * 30)
            self.out.write(
                f"\rrebuilding the timeline [{bar:<30}] {share:4.0%} "
                f"{done:,}/{self.total:,} records, {rate:,.0f}/s"
            )
            if final:
                self.out.write("\n")
            self.out.flush()
        else:
            log.info(
                "rebuilding the timeline",
                extra=fields(records=done, of=self.total, per_s=int(rate)),
            )


def rebuild(
    live: Store,
    settings: TimelineSettings,
    kafka: KafkaSettings,
    registry: RegistrySettings,
    metrics: TimelineMetrics,
    stop: threading.Event,
    *,
    out: TextIO | None = None,
) -> Store:
    """Replay the topics into a fresh store, put it in ``live``'s place and return it
    (opened at ``live``'s URL; ``live`` is closed).  Stopped before the end, the fresh
    store is removed and ``live`` returned as it was."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from hl7bus.kafka.clients import consumer_config

    topics = Topics.with_prefix(kafka.topic_prefix)
    old = live.backend
    fresh_backend = old.fresh()
    fresh_backend.discard()  # what an earlier rebuild that did not finish left
    fresh = Store(fresh_backend, summary_cache=settings.summary_cache)
    fresh.migrate(first_sequence=_after(live))
    config = consumer_config(kafka, f"{settings.group}.rebuild")
    config["enable.partition.eof"] = True
    consumer = Consumer(config)
    switched = False
    try:
        partitions = []
        for topic in (topics.events, topics.alerts):
            meta = consumer.list_topics(topic, timeout=30).topics[topic]
            if meta.error is not None:
                raise meta.error
            partitions += [
                TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)
            ]
        low: dict[tuple[str, int], int] = {}
        total = 0
        for tp in partitions:
            lo, hi = consumer.get_watermark_offsets(tp, timeout=30)
            low[(tp.topic, tp.partition)] = lo
            total += max(hi - lo, 0)
        log.info(
            "rebuilding the timeline store",
            extra=fields(store=live.url, records=total, partitions=len(partitions)),
        )
        applier = Applier(fresh, Decoder(registry), topics, settings.group, metrics, stop)
        consumer.assign(partitions)
        progress = Progress(total, out)
        at_end: set[tuple[str, int]] = set()
        done = 0
        while not stop.is_set() and len(at_end) < len(partitions):
            messages = consumer.consume(num_messages=settings.batch_size, timeout=0.5)
            good = []
            for m in messages:
                error = m.error()
                if error is None:
                    good.append(m)
                    at_end.discard((m.topic(), m.partition()))
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add((m.topic(), m.partition()))
                else:
                    log.warning("kafka: %s", error.str())
            if good:
                if not applier.apply(applier.decode(good)):
                    if stop.is_set():
                        break
                    raise RuntimeError("the rebuilt store's offsets moved while rebuilding it")
                done += len(good)
                progress.show(done)
        if stop.is_set():
            raise _Stopped
        progress.show(done, final=True)
        fresh.close()
        fresh_backend.take_place_of(old)
        switched = True
        live.close()
        log.info(
            "the rebuilt timeline store took the old one's place", extra=fields(store=live.url)
        )
        store = Store(old, summary_cache=settings.summary_cache)
        store.migrate()
        return store
    except _Stopped:
        log.info("rebuild stopped before the end; the old store stays")
        return live
    finally:
        consumer.close()
        fresh.close()
        if not switched:
            fresh_backend.discard()


class _Stopped(Exception):
    pass


def _after(store: Store) -> int:
    """The first sequence number of a store that takes ``store``'s place: after its last, so
    that a stream resuming from an old number misses nothing (a store that cannot say
    raises its :class:`~.store.StoreFailure`)."""
    return store.latest_sequence() + 1

"""The alerts service's loop: ``clinical.events`` in, ``clinical.alerts`` out, exactly once.

Each poll's records are evaluated by the rules (:mod:`engine`, pure), and what they
produce is written in one Kafka transaction: the alerts, the patients' changed rule state
(to the compacted changelog ``alerts.state``) and the consumer group's offsets.  Readers
with ``read_committed`` see all of a batch or none of it.  A crash anywhere, or a
rebalance, resumes from the committed offsets with the state the same transaction wrote:
no alert is lost and none is raised twice.

The rule state is co-partitioned with the events: the state of the patients whose events
are in partition *p* of ``clinical.events`` is written to partition *p* of the changelog,
and read back to its end when *p* is assigned.  A merge moves the prior key's state into
the survivor's (when this instance holds both) and leaves under the prior key a record
saying where it went, so that later events under that key count for the survivor.
"""

from __future__ import annotations

import json
import logging
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hl7bus.errors import Hl7BusError
from hl7bus.events.alerts import ClinicalAlert, alert_to_record
from hl7bus.events.model import ClinicalEvent, EventType
from hl7bus.events.records import from_record
from hl7bus.kafka.topics import Topics
from hl7bus.logs import fields
from hl7bus.metrics import LATENCY_BUCKETS
from hl7bus.services.alerts.engine import evaluate
from hl7bus.services.alerts.rules import RuleSet
from hl7bus.services.alerts.state import PatientState, absorb
from hl7bus.settings import AlertsSettings, KafkaSettings, RegistrySettings

log = logging.getLogger("hl7bus.alerts")

SKIP_REASONS: Final = ("undecodable", "unreadable", "unevaluable")
BACKOFF_S: Final = (0.2, 0.5, 1.0, 2.0, 5.0)
MERGE_DEPTH: Final = 32  # a chain of merges longer than this is a loop
OFFSETS_AT_LEAST_EVERY_S: Final = 1.0  # offsets of batches that wrote nothing wait this long


class AlertsMetrics:
    """What the alerts service counts, and whether Kafka answers."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.events = Counter("hl7bus_alerts_events", "Events evaluated", registry=r)
        self.raised = Counter(
            "hl7bus_alerts_raised",
            "Alerts raised, by rule and severity",
            ["rule", "severity"],
            registry=r,
        )
        self.skipped = Counter(
            "hl7bus_alerts_skipped",
            "Records skipped: undecodable (not Avro of a known schema), unreadable (not a "
            "clinical event), unevaluable (a rule failed on it)",
            ["reason"],
            registry=r,
        )
        self.notes = Counter(
            "hl7bus_alerts_notes",
            "Values a rule could not compare (an unknown unit, a value that is not a number)",
            ["rule"],
            registry=r,
        )
        self.transaction_seconds = Histogram(
            "hl7bus_alerts_transaction_seconds",
            "Time to evaluate one batch and commit its transaction",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.aborted = Counter(
            "hl7bus_alerts_transactions_aborted",
            "Transactions aborted (their batch is read and evaluated again)",
            registry=r,
        )
        self.patients = Gauge(
            "hl7bus_alerts_patients", "Patients whose rule state this instance holds", registry=r
        )
        self.kafka_up = Gauge(
            "hl7bus_alerts_kafka_reachable", "1 while a Kafka broker answers", registry=r
        )
        for reason in SKIP_REASONS:
            self.skipped.labels(reason=reason)
        self.kafka_up.set(1)
        self.kafka_reachable = True
        self.restoring = False

    def set_kafka(self, reachable: bool) -> None:
        self.kafka_reachable = reachable
        self.kafka_up.set(1 if reachable else 0)

    def health(self) -> dict:
        return {
            "ok": self.kafka_reachable,
            "kafka": "reachable" if self.kafka_reachable else "unreachable",
            "state": "restoring" if self.restoring else "ready",
        }


# The rule state of the assigned partitions' patients.


def alias_record(survivor: str) -> bytes:
    """The changelog value left under a key merged into ``survivor``."""
    return json.dumps({"v": 1, "merged_into": survivor}).encode()


@dataclass(slots=True)
class States:
    """Each patient's rule state (by surviving key), the keys merged away, and the
    changelog partition each key's record lives in."""

    states: dict[str, PatientState] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)  # prior key -> survivor
    home: dict[str, int] = field(default_factory=dict)  # key -> changelog partition

    def restore(self, partition: int, key: str, value: bytes | None) -> None:
        """Take one changelog record (the last one of a key wins)."""
        self.states.pop(key, None)
        self.merged.pop(key, None)
        if value is None:  # a tombstone
            self.home.pop(key, None)
            return
        self.home[key] = partition
        if b'"merged_into"' in value:
            survivor = json.loads(value).get("merged_into")
            if isinstance(survivor, str):
                self.merged[key] = survivor
                return
        self.states[key] = PatientState.from_json(value)

    def survivor(self, key: str) -> str:
        seen = 0
        while key in self.merged and seen < MERGE_DEPTH:
            key = self.merged[key]
            seen += 1
        return key

    def forget(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for key in [k for k, p in self.home.items() if p in gone]:
            del self.home[key]
            self.states.pop(key, None)
            self.merged.pop(key, None)


@dataclass(slots=True)
class Batch:
    """One transaction's worth: what it writes, and the states it changes (taken into
    :class:`States` only once the transaction is committed)."""

    alerts: list[ClinicalAlert] = field(default_factory=list)
    states: dict[str, PatientState] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)
    home: dict[str, int] = field(default_factory=dict)
    changed: dict[str, bytes | None] = field(default_factory=dict)  # key -> changelog value
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset


class Evaluator:
    """Folds decoded events into a :class:`Batch` over :class:`States` (pure but for the
    log lines and counters)."""

    def __init__(self, rules: RuleSet, states: States, metrics: AlertsMetrics) -> None:
        self.rules = rules
        self.states = states
        self.metrics = metrics

    def batch(self, events: Sequence[tuple[int, ClinicalEvent]], now: datetime) -> Batch:
        batch = Batch()
        for partition, event in events:
            self._one(batch, partition, event, now)
        return batch

    def _survivor(self, batch: Batch, key: str) -> str:
        seen = 0
        while seen < MERGE_DEPTH:
            nxt = batch.merged.get(key) or self.states.merged.get(key)
            if nxt is None:
                return key
            key, seen = nxt, seen + 1
        return key

    def _state(self, batch: Batch, key: str) -> PatientState:
        state = batch.states.get(key) or self.states.states.get(key)
        return state if state is not None else PatientState.empty(key)

    def _home(self, batch: Batch, key: str, partition: int) -> int:
        home = batch.home.get(key, self.states.home.get(key))
        if home is None:
            home = batch.home[key] = partition
        return home

    def _one(self, batch: Batch, partition: int, event: ClinicalEvent, now: datetime) -> None:
        key = self._survivor(batch, event.patient.key)
        state = self._state(batch, key)
        if event.event_type is EventType.PATIENT_MERGED:
            state = self._merge(batch, key, state, event, partition)
        if key != event.patient.key:  # an event under a key merged away counts for its survivor
            event = replace(event, patient=replace(event.patient, key=key))
        try:
            result = evaluate(self.rules, state, event, now=now)
        except Exception as exc:
            self.metrics.skipped.labels(reason="unevaluable").inc()
            log.error(
                "rules could not evaluate an event; it is skipped",
                extra=fields(event_id=event.event_id, error=type(exc).__name__),
            )
            return
        self.metrics.events.inc()
        for note in result.notes:
            self.metrics.notes.labels(rule=note.split(":", 1)[0]).inc()
            log.info(note, extra=fields(event_id=event.event_id))
        batch.alerts.extend(result.alerts)
        home = self._home(batch, key, partition)
        batch.home[key] = home
        if result.state != state or key not in self.states.states:
            batch.states[key] = result.state
            batch.changed[key] = result.state.to_json()

    def _merge(
        self, batch: Batch, survivor: str, state: PatientState, event: ClinicalEvent, partition: int
    ) -> PatientState:
        merge = event.payload.merge
        prior_key = merge.prior_patient_key if merge else None
        if not prior_key:
            return state
        prior = self._survivor(batch, prior_key)
        if prior == survivor:
            log.info(
                "merge changes nothing: the prior key already counts for the survivor",
                extra=fields(event_id=event.event_id),
            )
            return state
        prior_state = batch.states.pop(prior, None) or self.states.states.get(prior)
        if prior_state is not None:
            state = absorb(state, prior_state)
        prior_home = batch.home.get(prior, self.states.home.get(prior, partition))
        batch.home[prior] = prior_home
        batch.merged[prior] = survivor
        batch.changed[prior] = alias_record(survivor)
        batch.states[survivor] = state
        self._home(batch, survivor, partition)
        return state

    def take(self, batch: Batch) -> None:
        """The committed batch's states become the held states."""
        held = self.states
        for prior, survivor in batch.merged.items():
            held.states.pop(prior, None)
            held.merged[prior] = survivor
        held.states.update(batch.states)
        held.home.update(batch.home)
        self.metrics.patients.set(len(held.states))


# Kafka.


class Fatal(Hl7BusError):
    """Kafka refused this instance for good (another instance with its transactional id
    took over, or the broker refused the transaction protocol)."""


class AlertsService:
    """Poll, evaluate, write in a transaction, repeat, until ``stop`` is set."""

    def __init__(
        self,
        settings: AlertsSettings,
        kafka: KafkaSettings,
        registry: RegistrySettings,
        rules: RuleSet,
        metrics: AlertsMetrics,
        stop: threading.Event,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        from hl7bus.kafka.serde import Decoder

        self.settings = settings
        self.kafka = kafka
        self.topics = Topics.with_prefix(kafka.topic_prefix)
        self.state_topic = kafka.topic_prefix + settings.state_topic
        self.metrics = metrics
        self.stop = stop
        self.clock = clock
        self.decoder = Decoder(registry)
        self.registry = registry
        self.states = States()
        self.evaluator = Evaluator(rules, self.states, metrics)
        self._assigned: list[Any] = []
        self._consumer: Any = None
        self._producer: Any = None
        self._encode: Callable[[dict], bytes] | None = None
        self._uncommitted: dict[tuple[str, int], int] = {}  # offsets read, not committed yet
        self._committed_at = time.monotonic()

    # -- setup -------------------------------------------------------------------------

    def prepare(self) -> None:
        """The alert schema's id, and the changelog topic (compacted, as many partitions as
        the events topic)."""
        from hl7bus.avro.writer import compile_writer
        from hl7bus.kafka import serde
        from hl7bus.kafka.clients import ensure_topics
        from hl7bus.kafka.setup import register_record_schema

        with serde.registry_errors(self.registry):
            client = serde.registry_client(self.registry)
            schema_id = register_record_schema(client, self.topics.alerts, "ClinicalAlert")
        header = struct.pack(">bI", 0, schema_id)
        write = compile_writer(json.loads(serde.schema_text("ClinicalAlert")))
        self._encode = lambda record: header + write(record)
        # The events' reader now, not when the first critical result waits for it.
        self.decoder.prepare(f"{self.topics.events}-value", "ClinicalEvent")
        ensure_topics(
            self.kafka,
            [self.state_topic],
            partitions=self._partitions(self.topics.events),
            config={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
        )

    def _partitions(self, topic: str) -> int:
        from confluent_kafka.admin import AdminClient

        from hl7bus.kafka.clients import client_config

        metadata = AdminClient(client_config(self.kafka)).list_topics(topic, timeout=30)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise Hl7BusError(
                f"topic {topic} does not exist; run `hl7bus setup` (or `hl7bus dev up`) first"
            )
        return len(found.partitions)

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        from confluent_kafka import Consumer, Producer

        from hl7bus.kafka.clients import consumer_config, producer_config

        self.prepare()
        s = self.settings
        transactional_id = f"{s.group}-{s.instance_id}"
        config = producer_config(self.kafka, transactional_id=transactional_id, linger_ms=0)
        config["client.id"] = f"{self.kafka.client_id}-alerts"
        # Right after a commit the coordinator answers "concurrent transactions" while it
        # writes the markers; librdkafka's default 100 ms back-off would add that to every
        # transaction.  Measured here: 110 ms -> 6.5 ms (p50) per transaction.
        config["retry.backoff.ms"] = 1
        config["retry.backoff.max.ms"] = 20
        self._producer = Producer(config)
        self._producer.init_transactions(30)  # fences an earlier self, aborts what it left open
        # Where the alerts and the changelog go, known before the first transaction needs it.
        for topic in (self.topics.alerts, self.state_topic):
            self._producer.list_topics(topic, timeout=10)
        consumer_cfg = consumer_config(self.kafka, s.group)
        consumer_cfg["group.instance.id"] = transactional_id
        consumer_cfg["fetch.wait.max.ms"] = 50
        self._consumer = Consumer(consumer_cfg)
        self._consumer.subscribe(
            [self.topics.events],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info(
            "alerts service started",
            extra=fields(
                group=s.group,
                transactional_id=transactional_id,
                topics=[self.topics.events, self.topics.alerts, self.state_topic],
                rules=len(self.evaluator.rules.rules),
            ),
        )
        try:
            while not self.stop.is_set():
                messages = self._poll()
                if messages:
                    self._process(messages)
                elif self._uncommitted and self._offsets_due():
                    self._write(Batch(), time.perf_counter())
            if self._uncommitted:
                self._write(Batch(), time.perf_counter())
        finally:
            self._consumer.close()
            self._producer.flush(10)
            log.info("alerts service stopped")

    def _poll(self) -> list[Any]:
        consumer = self._consumer
        first = consumer.poll(self.settings.poll_timeout_s)
        if first is None:
            return []
        messages = [first]
        if self.settings.batch_size > 1:
            messages += consumer.consume(
                self.settings.batch_size - 1, timeout=self.settings.batch_linger_s
            )
        good = []
        for m in messages:
            if m.error():
                log.warning("kafka: %s", m.error().str())
            else:
                good.append(m)
        return good

    def _process(self, messages: list[Any]) -> None:
        from hl7bus.kafka.serde import RegistryUnavailable

        started = time.perf_counter()
        try:
            events, offsets = self._decode(messages)
        except RegistryUnavailable as exc:
            log.error("schema registry unreachable; trying again", extra=fields(error=str(exc)))
            self._rewind()
            self.stop.wait(1.0)
            return
        batch = self.evaluator.batch(events, self.clock())
        self._uncommitted.update(offsets)
        if not (batch.alerts or batch.changed) and not self._offsets_due():
            # Nothing to write: evaluating these events again after a crash would write
            # nothing either, so their offsets can wait for the next transaction.
            return
        self._write(batch, started)

    def _offsets_due(self) -> bool:
        return time.monotonic() - self._committed_at >= OFFSETS_AT_LEAST_EVERY_S

    def _write(self, batch: Batch, started: float) -> None:
        batch.offsets = dict(self._uncommitted)
        self._uncommitted.clear()
        if self._commit(batch):
            self._committed_at = time.monotonic()
            self.evaluator.take(batch)
            for alert in batch.alerts:
                self.metrics.raised.labels(rule=alert.rule, severity=alert.severity.value).inc()
            self.metrics.transaction_seconds.observe(time.perf_counter() - started)
        else:
            self._rewind()

    def _decode(
        self, messages: list[Any]
    ) -> tuple[list[tuple[int, ClinicalEvent]], dict[tuple[str, int], int]]:
        from hl7bus.kafka.serde import Undecodable

        events: list[tuple[int, ClinicalEvent]] = []
        offsets: dict[tuple[str, int], int] = {}
        for msg in messages:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            offsets[(topic, partition)] = offset + 1
            place = fields(topic=topic, partition=partition, offset=offset)
            try:
                record = self.decoder.record(msg.value(), "ClinicalEvent")
            except Undecodable as exc:
                self._skip("undecodable", str(exc), place)
                continue
            try:
                events.append((partition, from_record(record)))
            except Exception as exc:
                self._skip("unreadable", f"{type(exc).__name__} reading the record", place)
        return events, offsets

    def _skip(self, reason: str, why: str, place: dict) -> None:
        self.metrics.skipped.labels(reason=reason).inc()
        place["fields"].update(reason=reason, error=why)
        log.error("record skipped", extra=place)

    def _commit(self, batch: Batch) -> bool:
        """Write ``batch`` in one transaction; False when it was aborted (the batch is read
        again from the committed offsets)."""
        from confluent_kafka import KafkaException, TopicPartition

        producer, encode = self._producer, self._encode
        assert encode is not None
        try:
            producer.begin_transaction()
            for alert in batch.alerts:
                producer.produce(
                    self.topics.alerts,
                    key=alert.patient_key.encode(),
                    value=encode(alert_to_record(alert)),
                )
            for key, value in batch.changed.items():
                producer.produce(
                    self.state_topic,
                    key=key.encode(),
                    value=value,
                    partition=batch.home.get(key, self.states.home.get(key, 0)),
                )
            positions = [TopicPartition(t, p, o) for (t, p), o in batch.offsets.items()]
            producer.send_offsets_to_transaction(
                positions, self._consumer.consumer_group_metadata(), 30
            )
            producer.commit_transaction(30)
            return True
        except KafkaException as exc:
            error = exc.args[0]
            if error.fatal():
                raise Fatal(
                    f"Kafka refused the alerts service's transaction for good ({error.str()}); "
                    "another instance may run with the same HL7BUS_ALERTS_INSTANCE_ID"
                ) from None
            self.metrics.aborted.inc()
            log.error(
                "transaction aborted; the batch is evaluated again",
                extra=fields(error=error.str()),
            )
            try:
                producer.abort_transaction(30)
            except KafkaException as again:
                if again.args[0].fatal():
                    why = again.args[0].str()
                    raise Fatal(f"Kafka refused to abort a transaction ({why})") from None
            self.stop.wait(BACKOFF_S[0])
            return False

    def _rewind(self) -> None:
        """Go back to the committed offsets of the assigned partitions."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        self._uncommitted.clear()

        assigned = list(self._assigned)
        if not assigned:
            return
        try:
            committed = self._consumer.committed(assigned, timeout=30)
        except Exception as exc:
            log.error("committed offsets not readable", extra=fields(error=type(exc).__name__))
            return
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self._consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    # -- rebalances --------------------------------------------------------------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self.metrics.restoring = True
        try:
            self._restore([tp.partition for tp in partitions])
        finally:
            self.metrics.restoring = False
        self._assigned = list(partitions)
        consumer.assign(partitions)
        log.info(
            "partitions assigned",
            extra=fields(partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions]),
        )

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self.states.forget(tp.partition for tp in partitions)
        gone = {(tp.topic, tp.partition) for tp in partitions}
        # Offsets of events that wrote nothing: the next owner reads them again, harmlessly.
        for where in gone:
            self._uncommitted.pop(where, None)
        self._assigned = [tp for tp in self._assigned if (tp.topic, tp.partition) not in gone]
        self.metrics.patients.set(len(self.states.states))

    def _ends(self, restorer: Any, partitions: Sequence[int], deadline: float) -> dict[int, int]:
        """The end offset of each changelog partition of ``partitions`` that has records
        (waiting while a partition of a topic just created has no leader yet)."""
        from confluent_kafka import KafkaException, TopicPartition

        ends: dict[int, int] = {}
        for p in partitions:
            while True:
                try:
                    _, high = restorer.get_watermark_offsets(
                        TopicPartition(self.state_topic, p), timeout=10
                    )
                    break
                except KafkaException as exc:
                    if time.monotonic() > deadline or self.stop.is_set():
                        raise Hl7BusError(
                            f"the end of {self.state_topic}[{p}] could not be read "
                            f"({exc.args[0].str()}); check that Kafka answers"
                        ) from None
                    time.sleep(0.2)
            if high > 0:
                ends[p] = high
        return ends

    def _restore(self, partitions: Sequence[int]) -> None:
        """Read the changelog partitions of ``partitions`` to their end (committed records
        only) into the held states."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        from hl7bus.kafka.clients import consumer_config

        if not partitions:
            return
        started = time.monotonic()
        config = consumer_config(self.kafka, f"{self.settings.group}-restore")
        restorer = Consumer(config)
        try:
            deadline = started + self.settings.restore_timeout_s
            ends = self._ends(restorer, partitions, deadline)
            if not ends:
                return
            restorer.assign([TopicPartition(self.state_topic, p, OFFSET_BEGINNING) for p in ends])
            records = 0
            while ends:
                if time.monotonic() > deadline:
                    raise Hl7BusError(
                        f"the rule state in {self.state_topic} could not be read back within "
                        f"{self.settings.restore_timeout_s:g} s; check that Kafka answers "
                        "(or raise HL7BUS_ALERTS_RESTORE_TIMEOUT_S)"
                    )
                for msg in restorer.consume(1000, timeout=0.2):
                    if msg.error():
                        continue
                    records += 1
                    key = msg.key().decode() if msg.key() else ""
                    self.states.restore(msg.partition(), key, msg.value())
                # Past the end (a transaction's commit marker takes an offset too)?
                for tp in restorer.position([TopicPartition(self.state_topic, p) for p in ends]):
                    if tp.offset >= ends[tp.partition]:
                        ends.pop(tp.partition)
            log.info(
                "rule state read back",
                extra=fields(
                    partitions=list(partitions),
                    records=records,
                    patients=len(self.states.states),
                    seconds=round(time.monotonic() - started, 3),
                ),
            )
        finally:
            restorer.close()
        self.metrics.patients.set(len(self.states.states))


# The process.


def main(settings: AlertsSettings, kafka: KafkaSettings, registry: RegistrySettings) -> int:
    """Run the alerts service until SIGTERM or SIGINT."""
    from hl7bus.kafka.clients import BrokerWatch, require_reachable
    from hl7bus.metrics import serve_in_thread
    from hl7bus.services.alerts.rules import load_rules

    rules = load_rules(settings.rules)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    require_reachable(kafka)
    metrics = AlertsMetrics()
    stop_metrics = None
    if settings.metrics_port is not None:
        stop_metrics = serve_in_thread(
            settings.metrics_host, settings.metrics_port, metrics, "HL7BUS_ALERTS_METRICS_PORT"
        )
    watch = BrokerWatch(kafka, metrics.set_kafka)
    watch.start()
    try:
        AlertsService(settings, kafka, registry, rules, metrics, stop).run()
    finally:
        watch.stop()
        if stop_metrics is not None:
            stop_metrics()
    return 0

"""The timeline service end to end: events/s into its SQLite and PostgreSQL stores, the
timeline query's latency while events come in, and how long after its ACK a message's
entries are visible — printed beside the baselines of the same run.

Everything runs against a real Kafka and schema registry (default: the local
``hl7bus dev up`` stack), on topics under a fresh ``bench.<random>.`` prefix, deleted at exit
(also after Ctrl-C) with their subjects and the run's consumer groups.  The timeline
service, the web front door and the MLLP connector run as real processes
(``hl7bus service timeline --store URL``, ``hl7bus service web``, ``hl7bus connector mllp``),
each with the run's prefix; this process produces, measures and reads.

The events are ``benchmarks.timeline_core``'s realistic mix, made from the project's own
messages and the sample feed (results most often, then visits, orders, medications,
appointments, documents, an occasional merge), over ``--patients`` patients, in Confluent's
wire format with the schema id the registry gave.

Figures, for each store of ``--stores``:

* **ingest**: ``--events`` events put on ``clinical.events`` first; then the timeline
  service started on an empty store, in a consumer group of its own, from offset 0; timed
  from its log line "partitions assigned" until the offsets it stored (polled in the store
  every 20 ms) reach the topic's end.  CPU of the service process beside it.  (The stores
  are filled one after the other; then each store's service is started again for the two
  phases below, and first catches up with what the topic got meanwhile.)
* **query**: 1,000 events of one patient put on the topic and applied; then the timeline
  query of that patient (the first page, 100 entries) ``--query-rate`` times a second for
  ``--seconds``, through the store API (``Store.timeline``, in this process) and through
  HTTP (``GET /api/v1/patients/{key}/timeline?limit=100`` with a clinician's token, one
  kept-alive connection), one after the other (a query late for its slot goes at once),
  while another process puts other patients' events on the topic at ``--ingest-rate`` a
  second and the service applies them.
* **ACK -> visible**: the MLLP connector fed ``--mllp-rate`` messages a second on one
  connection for ``--seconds``, with the project's MLLP client, waiting for each ACK: the
  project's own messages that translate, round after round, each copy with its own MSH-10
  and each round about patients of its own; from the arrival of each ACK until all of the
  message's entries are visible, in the store (a process reading ``Store.stream_since``
  every 5 ms) and through the API (a process reading ``/api/v1/stream``, the server-sent
  events a live client gets).  Times are ``time.perf_counter`` of each process:
  CLOCK_MONOTONIC on Linux, one clock for all.

Baselines of the same run:

* a plain Kafka consume of the same ``--events`` records (confluent-kafka, the project's
  consumer settings, partitions assigned at offset 0, no decode), events/s;
* fastavro decoding those records alone (what the service does first for each), events/s
  on one core;
* the same timeline query with nothing coming in (store idle);
* the MLLP ACK latency of the same messages (send to ACK).

The PostgreSQL store runs on ``HL7BUS_BENCH_POSTGRES`` (a ``postgresql://`` URL; the run
uses a schema of its own and drops it) or else on a throwaway Debian PostgreSQL 15 cluster
started here by the tests' harness (``tests/postgres.py``: as the ``postgres`` user, on a
free loopback port, ``fsync=off``, ``synchronous_commit=off``) and removed at exit.

Goals: ≥ 20,000 events/s into SQLite and ≥ 10,000 into PostgreSQL on a 2-core machine;
query p99 ≤ 10 ms; ACK -> visible p99 ≤ 500 ms.  The machine's load average is printed
before and after: other work on it moves every figure.

Run ``python -m benchmarks.timeline [--events N] [--seconds S] [--stores sqlite,postgresql]
[--no-postgres]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import http.client
import importlib.util
import io
import json
import math
import multiprocessing
import os
import pathlib
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.mllp import Connector, free_port, kafka_pid, percentile
from benchmarks.mllp_load import ack_code, pid_cpu_seconds

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
HEAVY = "BENCH|HEAVY"  # the patient with 1,000 events whose timeline is queried
HEAVY_EVENTS = 1000
STORE_POLL_S = 0.005
GOALS = {"sqlite": 20_000, "postgresql": 10_000}
QUERY_GOAL_MS = 10.0
VISIBLE_GOAL_MS = 500.0
SPAWN = multiprocessing.get_context("spawn")


# -- the run: prefix, settings, what to clean up ----------------------------------------------


@dataclass
class Run:
    prefix: str
    kafka: Any  # KafkaSettings
    registry: Any  # RegistrySettings
    topics: Any  # Topics
    logs: pathlib.Path
    data: pathlib.Path
    groups: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            "HL7BUS_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "HL7BUS_KAFKA_TOPIC_PREFIX": self.prefix,
            "HL7BUS_REGISTRY_URL": self.registry.url,
        }


def _delete_bus(run: Run) -> None:
    """Delete the run's consumer groups, topics and ``-value`` subjects (softly, then for
    good)."""
    from confluent_kafka.admin import AdminClient

    from hl7bus.kafka import serde
    from hl7bus.kafka.clients import client_config, quiet_logger

    admin = AdminClient({**client_config(run.kafka), "logger": quiet_logger()})
    if run.groups:
        for future in admin.delete_consumer_groups(run.groups, request_timeout=15).values():
            with contextlib.suppress(Exception):  # a group that never formed
                future.result(15)
    names = list(run.topics.all())
    try:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(30)
    except Exception as exc:
        print(f"(topics not deleted: {exc})")
    client = serde.registry_client(run.registry)
    for name in names:
        try:
            for permanent in (False, True):
                client.delete_subject(f"{name}-value", permanent=permanent)
        except Exception as exc:
            if getattr(exc, "http_status_code", None) != 404:  # never registered
                print(f"(subject {name}-value not deleted: {exc})")


# -- the events -----------------------------------------------------------------------------


@dataclass
class Encoded:
    keys: list[bytes]
    values: list[bytes]  # Confluent wire format
    payloads: list[bytes]  # the Avro alone


def encode_records(records: list[dict], schema_id: int) -> Encoded:
    from hl7bus.avro.writer import compile_writer
    from hl7bus.kafka.serde import schema_text

    write = compile_writer(json.loads(schema_text("ClinicalEvent")))
    header = b"\x00" + schema_id.to_bytes(4, "big")
    payloads = [write(r) for r in records]
    return Encoded(
        [r["patient"]["key"].encode() for r in records], [header + p for p in payloads], payloads
    )


def heavy_patient(records: list[dict]) -> list[dict]:
    """The mix's events (merges left out) as one patient's, with ids of their own."""
    person = {
        **records[0]["patient"],
        "key": HEAVY,
        "identifiers": [{"value": "HEAVY", "authority": "BENCH", "type": "MR"}],
    }
    found = []
    for i, record in enumerate(r for r in records if r["event_type"] != "PATIENT_MERGED"):
        found.append({**record, "patient": person, "event_id": f"heavy-{i:06d}"})
    return found


def produce_all(kafka, topic: str, keys: list[bytes], values: list[bytes]) -> float:
    """Put the records on ``topic``; seconds until Kafka acknowledged them all."""
    from confluent_kafka import Producer

    from hl7bus.kafka.clients import producer_config

    producer = Producer({**producer_config(kafka, linger_ms=5), "client.id": "hl7bus-bench"})
    failed = [0]

    def on_delivery(err, _msg) -> None:  # type: ignore[no-untyped-def]
        if err is not None:
            failed[0] += 1

    started = time.perf_counter()
    for key, value in zip(keys, values, strict=True):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(60)
    if left or failed[0]:
        raise SystemExit(f"Kafka did not take {left + failed[0]} of the records")
    return time.perf_counter() - started


class Watermarks:
    """The end offsets of the events topic."""

    def __init__(self, kafka, topic: str) -> None:
        from confluent_kafka import Consumer

        from hl7bus.kafka.clients import client_config, quiet_logger

        config = {**client_config(kafka), "logger": quiet_logger()}
        self.consumer = Consumer({**config, "group.id": f"{topic}.watermarks"})
        self.topic = topic
        meta = self.consumer.list_topics(topic, timeout=15).topics[topic]
        self.partitions = sorted(meta.partitions)

    def end(self) -> int:
        from confluent_kafka import TopicPartition

        return sum(
            self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=15)[1]
            for p in self.partitions
        )

    def close(self) -> None:
        self.consumer.close()


# -- baselines ------------------------------------------------------------------------------


def plain_consume(kafka, topic: str, partitions: list[int], count: int) -> tuple[float, float]:
    """events/s of a plain confluent-kafka consumer reading ``count`` records from offset 0
    (no decode), timed from assignment; and its CPU in % of one core."""
    import resource

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from hl7bus.kafka.clients import consumer_config

    consumer = Consumer(consumer_config(kafka, f"{topic}.plain"))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen, deadline = 0, started + 120
    while seen < count and time.perf_counter() < deadline:
        for msg in consumer.consume(num_messages=5000, timeout=0.1):
            if not msg.error():
                seen += 1
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    consumer.close()
    if seen < count:
        raise SystemExit(f"the plain consumer read {seen} of {count} records in 120 s")
    return seen / elapsed, (usage.ru_utime + usage.ru_stime - cpu0) / elapsed * 100


def fastavro_decode(payloads: list[bytes]) -> float:
    """events/s of fastavro decoding the records' Avro, on one core (CPU time)."""
    import fastavro

    from hl7bus.kafka.serde import parsed_schema

    schema = parsed_schema("ClinicalEvent")
    reader = fastavro.schemaless_reader
    started = time.process_time()
    for data in payloads:
        reader(io.BytesIO(data), schema, None)
    return len(payloads) / (time.process_time() - started)


# -- processes ------------------------------------------------------------------------------


class Process:
    """A part of hl7bus run as a process of its own, with its log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: pathlib.Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hl7bus.cli", *args],
            env={**os.environ, **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        atexit.register(self.stop)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def check(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(
                f"{self.log.stem} exited with {self.process.returncode}:\n{self.log_text()[-3000:]}"
            )

    def cpu_seconds(self) -> float:
        return pid_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_timeline(run: Run, backend: str, url: str, group: str) -> tuple[Process, float]:
    """``hl7bus service timeline --store URL``; returns once it has its partitions, with
    that moment."""
    env = {
        **run.env(),
        "HL7BUS_TIMELINE_GROUP": group,
        "HL7BUS_TIMELINE_METRICS_PORT": str(free_port()),
    }
    n = len(list(run.logs.glob(f"timeline-{backend}-*.log")))
    service = Process(
        ["service", "timeline", "--store", url], env, run.logs / f"timeline-{backend}-{n}.log"
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        service.check()
        if "partitions assigned" in service.log_text():
            return service, time.perf_counter()
        time.sleep(0.01)
    raise SystemExit(f"the timeline service got no partitions in 90 s:\n{service.log_text()}")


@dataclass
class Web:
    process: Process
    port: int
    token: str


def start_web(run: Run, backend: str, url: str) -> Web | str:
    """``hl7bus service web`` over the store, and a clinician's token from ``hl7bus token
    create``; or why not."""
    import secrets

    secret = secrets.token_urlsafe(40)
    env = {**run.env(), "HL7BUS_WEB_TOKEN_SECRET": secret}
    create = ["token", "create", "--role", "clinician", "--name", "bench"]
    made = subprocess.run(
        [sys.executable, "-m", "hl7bus.cli", *create],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if made.returncode != 0 or not made.stdout.strip():
        return f"`hl7bus token create` failed ({made.returncode}): {made.stderr.strip()[-300:]}"
    port = free_port()
    env.update({"HL7BUS_WEB_HOST": HOST, "HL7BUS_WEB_PORT": str(port), "HL7BUS_WEB_STORE": url})
    web = Process(["service", "web"], env, run.logs / f"web-{backend}.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if web.process.poll() is not None:
            return f"`hl7bus service web` exited with {web.process.returncode} (log {web.log})"
        with contextlib.suppress(OSError):
            if http_get(port, "/healthz")[0] == 200:
                return Web(web, port, made.stdout.strip())
        time.sleep(0.2)
    web.stop()
    return f"`hl7bus service web` did not answer /healthz within 60 s (log {web.log})"


def http_get(
    port: int, path: str, token: str | None = None, conn: http.client.HTTPConnection | None = None
) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        if own:
            conn.close()


def start_postgres(run: Run) -> str:
    """A PostgreSQL server's URL: ``HL7BUS_BENCH_POSTGRES``, else a throwaway cluster of
    the tests' harness (stopped and removed at exit)."""
    given = os.environ.get("HL7BUS_BENCH_POSTGRES")
    if given:
        return given
    path = REPO_ROOT / "tests" / "postgres.py"
    spec = importlib.util.spec_from_file_location("hl7bus_bench_postgres", path)
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    bin_dir = harness.binaries()
    if bin_dir is None:
        raise SystemExit(harness.NOT_INSTALLED.replace("tests need", "benchmark needs"))
    server = harness.LocalPostgres(bin_dir)
    atexit.register(server.stop)
    return server.start()


def drop_schema(server: str, schema: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- children: a steady producer, the store's and the API's watchers -------------------------


def _steady_producer(
    bootstrap: str,
    topic: str,
    keys: list[bytes],
    values: list[bytes],
    rate: float,
    stop,
    produced,
) -> None:
    """Put ``values`` on ``topic`` at ``rate`` a second, in 10 ms steps, until ``stop``."""
    from confluent_kafka import Producer

    from hl7bus.kafka.clients import producer_config
    from hl7bus.settings import KafkaSettings

    try:
        producer = Producer(producer_config(KafkaSettings(bootstrap_servers=bootstrap)))
        started = time.perf_counter()
        sent = 0
        while not stop.is_set() and sent < len(values):
            due = min(int((time.perf_counter() - started) * rate), len(values))
            while sent < due:
                try:
                    producer.produce(topic, values[sent], keys[sent])
                    sent += 1
                except BufferError:
                    producer.poll(0.01)
            produced.value = sent
            producer.poll(0)
            time.sleep(0.01)
        producer.flush(30)
    except KeyboardInterrupt:
        pass


def _store_watcher(url: str, found) -> None:
    """Each entry the store gets from now on: ``(event_id, time first seen)``."""
    from hl7bus.services.timeline.store import open_store

    try:
        with open_store(url) as store:
            sequence = store.latest_sequence()
            found.put(("store", "ready", 0.0))
            while True:
                page = store.stream_since(sequence, limit=1000)
                now = time.perf_counter()
                for _number, entry in page:
                    found.put(("store", entry.event_id, now))
                if page:
                    sequence = page[-1][0]
                else:
                    time.sleep(STORE_POLL_S)
    except KeyboardInterrupt:
        pass


def _stream_watcher(port: int, token: str, found) -> None:
    """Each entry ``/api/v1/stream`` sends from now on: ``(event_id, time it arrived)``."""
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        conn.request(
            "GET",
            "/api/v1/stream",
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        )
        answer = conn.getresponse()
        found.put(("api", "ready", float(answer.status)))
        while True:
            line = answer.readline()
            if not line:
                return
            if line.startswith(b"data:"):
                now = time.perf_counter()
                found.put(("api", json.loads(line[5:])["event_id"], now))
    except KeyboardInterrupt:
        pass


def _child(target: Callable, *args) -> multiprocessing.Process:
    child = SPAWN.Process(target=target, args=args, daemon=True)
    child.start()
    atexit.register(child.terminate)
    return child


# -- phases ---------------------------------------------------------------------------------


def wait_applied(store, group: str, topic: str, target: int, timeout: float = 120) -> float:
    """Seconds until the offsets the store holds for ``group`` reach ``target`` records."""
    started = time.perf_counter()
    while sum(store.read_offsets(group, topic).values()) < target:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the timeline service did not apply {target} records in {timeout} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def ingest(run: Run, backend: str, url: str, count: int, broker: int | None) -> dict:
    """The service from offset 0 on an empty store, until it stored the offsets of all
    ``count`` records."""
    from hl7bus.services.timeline.store import open_store

    group = f"{run.prefix}timeline-{backend}"
    run.groups.append(group)
    topic = run.topics.events
    with open_store(url) as store:  # created here: the service finds it ready
        service, assigned = start_timeline(run, backend, url, group)
        cpu0 = service.cpu_seconds()
        kafka0 = pid_cpu_seconds(broker) if broker else 0.0
        first = None
        while True:
            done = sum(store.read_offsets(group, topic).values())
            now = time.perf_counter()
            if done and first is None:
                first = (now, done)
            if done >= count:
                break
            if now - assigned > 300:
                raise SystemExit(f"{backend}: {done} of {count} records applied in 300 s")
            service.check()
            time.sleep(0.02)
        elapsed = now - assigned
        cpu = service.cpu_seconds() - cpu0
        kafka_cpu = (pid_cpu_seconds(broker) - kafka0) if broker else float("nan")
        entries = store.latest_sequence()
        service.stop()
    return {
        "group": group,
        "rate": count / elapsed,
        "seconds": elapsed,
        "first_batch_s": first[0] - assigned,
        "after_first": (count - first[1]) / (now - first[0]) if now > first[0] else float("nan"),
        "cpu": cpu / elapsed * 100,
        "kafka_cpu": kafka_cpu / elapsed * 100,
        "entries": entries,
        "load": os.getloadavg()[0],
    }


def query_latencies(
    store, web: Web | None, seconds: float, rate: float
) -> tuple[list[float], list[float], int]:
    """The timeline query of the heavy patient, ``rate`` times a second for ``seconds``:
    store API and (when there is a web front door) HTTP, one after the other each time;
    latencies in ms, sorted, and the HTTP answers that were not 200."""
    path = f"/api/v1/patients/{urllib.parse.quote(HEAVY, safe='')}/timeline?limit=100"
    conn = http.client.HTTPConnection(HOST, web.port, timeout=10) if web else None
    direct: list[float] = []
    over_http: list[float] = []
    refused = 0
    clock = time.perf_counter
    started = clock()
    n = 0
    try:
        while clock() - started < seconds:
            pause = started + n / rate - clock()
            if pause > 0:  # else it is late for its slot (the last query was slow): at once
                time.sleep(pause)
            t0 = clock()
            entries, _cursor = store.timeline(HEAVY, limit=100)
            direct.append((clock() - t0) * 1e3)
            if len(entries) != 100:
                raise SystemExit(f"the timeline query gave {len(entries)} entries, not 100")
            if web is not None and conn is not None:
                t0 = clock()
                status, body = http_get(web.port, path, web.token, conn)
                over_http.append((clock() - t0) * 1e3)
                if status != 200:
                    refused += 1
                elif n == 0 and len(json.loads(body)["entries"]) != 100:
                    raise SystemExit("the API's timeline did not give 100 entries")
            n += 1
    finally:
        if conn is not None:
            conn.close()
    return sorted(direct), sorted(over_http), refused


def queries(
    run: Run,
    store,
    group: str,
    service: Process,
    web: Web | None,
    marks: Watermarks,
    background: tuple[list[bytes], list[bytes]],
    args: argparse.Namespace,
) -> dict:
    """Idle, then while a steady producer feeds other patients' events."""
    idle = query_latencies(store, web, min(3.0, args.seconds), args.query_rate)
    stop = SPAWN.Event()
    produced = SPAWN.Value("q", 0)
    load0 = os.getloadavg()[0]
    end_before = marks.end()
    child = _child(
        _steady_producer,
        run.kafka.bootstrap_servers,
        run.topics.events,
        background[0],
        background[1],
        args.ingest_rate,
        stop,
        produced,
    )
    while produced.value == 0 and child.is_alive():
        time.sleep(0.01)
    applied0 = sum(store.read_offsets(group, run.topics.events).values())
    produced0 = produced.value
    cpu0 = service.cpu_seconds()
    started = time.perf_counter()
    busy = query_latencies(store, web, args.seconds, args.query_rate)
    elapsed = time.perf_counter() - started
    cpu = service.cpu_seconds() - cpu0
    applied = sum(store.read_offsets(group, run.topics.events).values()) - applied0
    fed = produced.value - produced0
    stop.set()
    child.join(60)
    target = marks.end()
    caught_up = wait_applied(store, group, run.topics.events, target)
    return {
        "idle": idle,
        "busy": busy,
        "produced": target - end_before,
        "applied_rate": applied / elapsed,
        "produced_rate": fed / elapsed,
        "caught_up_s": caught_up,
        "service_cpu": cpu / elapsed * 100,
        "load": max(load0, os.getloadavg()[0]),
    }


@dataclass
class Message:
    wire: bytes
    control_id: bytes
    event_ids: list[str]


def mllp_messages(tag: str, count: int) -> list[Message]:
    """``count`` copies of the project's own messages that translate into events, each
    with MSH-10 ``<tag><n>``, and the ids of the events each will give.

    The messages are sent round after round; each round is about patients of its own (every
    patient identifier the message carries, PID-3 and MRG-1, gets ``-<tag>-<round>``), so a
    patient's messages come in the order the samples tell their story, as a live feed
    sends them, rather than the same patients' same clinical times over and over."""
    from hl7bus.errors import MessageError
    from hl7bus.hl7 import split_messages
    from hl7bus.hl7.header import control_id_bounds
    from hl7bus.mapping.profiles import ProfileSet
    from hl7bus.mapping.router import translate

    paths = sorted((REPO_ROOT / "tests" / "messages").glob("*.hl7"))
    paths += sorted((REPO_ROOT / "hl7bus" / "samples" / "feed").glob("*.hl7"))
    profiles = ProfileSet()
    templates = []
    for path in paths:
        for raw in split_messages(path.read_bytes()):
            bounds = control_id_bounds(raw)
            if bounds is None:
                continue
            head, tail = raw[: bounds[0]], raw[bounds[1] :]
            try:
                events = translate(head + b"PROBE" + tail, profiles).events
                values = _identifiers(events)
                probe = translate(_renamed(head + b"PROBE" + tail, values, b"-Z"), profiles)
            except MessageError:
                continue
            if events and _all_renamed(probe.events, "-Z"):
                templates.append((head, tail, values))
    found = []
    for n in range(count):
        head, tail, values = templates[n % len(templates)]
        control_id = f"{tag}{n:06d}".encode()
        suffix = f"-{tag}-{n // len(templates)}".encode()
        wire = _renamed(head + control_id + tail, values, suffix)
        ids = [e.event_id for e in translate(wire, profiles).events]
        found.append(Message(wire, control_id, ids))
    return found


def _identifiers(events) -> list[bytes]:
    """The patient identifier values the events name (PID-3, MRG-1), longest first."""
    values = set()
    for event in events:
        values.update(i.value for i in event.patient.identifiers)
        if event.payload.merge is not None:
            values.update(i.value for i in event.payload.merge.prior_identifiers)
    return sorted((v.encode() for v in values if v), key=len, reverse=True)


def _renamed(raw: bytes, values: list[bytes], suffix: bytes) -> bytes:
    """``raw`` with ``suffix`` after each of ``values`` standing alone (not inside a longer
    word) in the segments after MSH."""
    end = re.search(rb"[\r\n]", raw)
    cut = end.start() if end else len(raw)
    body = raw[cut:]
    for value in values:
        alone = re.compile(rb"(?<![A-Za-z0-9])" + re.escape(value) + rb"(?![A-Za-z0-9])")
        body = alone.sub(lambda _m, v=value: v + suffix, body)
    return raw[:cut] + body


def _all_renamed(events, suffix: str) -> bool:
    for event in events:
        keys = [event.patient.key]
        if event.payload.merge is not None:
            keys.append(event.payload.merge.prior_patient_key)
        if not all(k is None or k.endswith(suffix) for k in keys):
            return False
    return True


async def _send_steadily(
    port: int, messages: list[Message], rate: float
) -> list[tuple[Message, float, float, str]]:
    """One connection; each message due at ``i / rate``; ``(message, sent, acked, code)``."""
    from hl7bus.mllp.client import MllpClient

    done = []
    client = await MllpClient.connect(HOST, port, timeout_s=30)
    try:
        started = time.perf_counter()
        for i, message in enumerate(messages):
            pause = started + i / rate - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            sent = time.perf_counter()
            ack = await client.send(message.wire)
            done.append((message, sent, client.ack_received_at, ack_code(ack, message.control_id)))
    finally:
        await client.close()
    return done


def ack_to_visible(
    url: str,
    service: Process,
    web: Web | None,
    connector: Connector,
    tag: str,
    args: argparse.Namespace,
) -> dict:
    messages = mllp_messages(tag, int(args.mllp_rate * args.seconds))
    found = SPAWN.Queue()
    watchers = [_child(_store_watcher, url, found)]
    if web is not None:
        watchers.append(_child(_stream_watcher, web.port, web.token, found))
    ready = 0
    while ready < len(watchers):
        source, event_id, value = found.get(timeout=60)
        if event_id == "ready":
            if source == "api" and value != 200:
                raise SystemExit(f"/api/v1/stream answered {value:.0f}")
            ready += 1
    load0 = os.getloadavg()[0]
    cpu0, started = service.cpu_seconds(), time.perf_counter()
    done = asyncio.run(_send_steadily(connector.port, messages, args.mllp_rate))
    cpu = (service.cpu_seconds() - cpu0) / (time.perf_counter() - started) * 100
    load1 = os.getloadavg()[0]
    wanted = {eid for m, _s, _a, code in done if code in ("AA", "CA") for eid in m.event_ids}
    # When each id was first seen in the store, and through the API.
    first: dict[str, float] = {}
    second: dict[str, float] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            source, event_id, seen = found.get(timeout=0.5)
        except queue.Empty:
            if wanted <= first.keys() and (web is None or wanted <= second.keys()):
                break
            continue
        (first if source == "store" else second).setdefault(event_id, seen)
    for child in watchers:
        child.terminate()
        child.join(10)
    in_store, in_api, late_store, late_api, acks = [], [], 0, 0, []
    codes: dict[str, int] = {}
    for message, sent, acked, code in done:
        codes[code] = codes.get(code, 0) + 1
        acks.append((acked - sent) * 1e3)
        if code not in ("AA", "CA"):
            continue
        ids = message.event_ids
        if all(i in first for i in ids):
            in_store.append((max(first[i] for i in ids) - acked) * 1e3)
        else:
            late_store += 1
        if web is not None:
            if all(i in second for i in ids):
                in_api.append((max(second[i] for i in ids) - acked) * 1e3)
            else:
                late_api += 1
    return {
        "messages": len(done),
        "codes": codes,
        "ack": sorted(acks),
        "store": sorted(in_store),
        "api": sorted(in_api),
        "late_store": late_store,
        "late_api": late_api,
        "events": len(wanted),
        "service_cpu": cpu,
        "load": max(load0, load1),
    }


# -- report ---------------------------------------------------------------------------------


def p50_p99(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{percentile(values, 0.50):.1f} / {percentile(values, 0.99):.1f} ms"


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for i, row in enumerate(rows):
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
        if i == 0:
            print("-" * (sum(widths) + 6 + max(len(r[3]) for r in rows)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events put on the topic")
    parser.add_argument("--patients", type=int, default=5_000, help="patients they are about")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="length of the query and ACK phases"
    )
    parser.add_argument("--stores", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--ingest-rate", type=float, default=1000.0, help="events/s fed during the queries"
    )
    parser.add_argument(
        "--query-rate", type=float, default=20.0, help="timeline queries/s (each way)"
    )
    parser.add_argument("--mllp-rate", type=float, default=50.0, help="MLLP messages/s")
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if args.no_postgres:
        stores = [s for s in stores if s != "postgresql"]
    if not stores or set(stores) - set(GOALS):
        parser.error("--stores takes sqlite and/or postgresql")
    # Ctrl-C and SIGTERM end the run through the clean-up (atexit) below.
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)

    from benchmarks.timeline_core import mix
    from hl7bus.kafka import serde
    from hl7bus.kafka.setup import prepare_bus, register_record_schema
    from hl7bus.kafka.topics import Topics
    from hl7bus.services.timeline.store import open_store
    from hl7bus.settings import KafkaSettings, RegistrySettings

    base = KafkaSettings()
    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    kafka = KafkaSettings(bootstrap_servers=base.bootstrap_servers, topic_prefix=prefix)
    registry = RegistrySettings()
    run = Run(
        prefix,
        kafka,
        registry,
        Topics.with_prefix(prefix),
        pathlib.Path(tempfile.mkdtemp(prefix="hl7bus-bench-timeline-")),
        pathlib.Path(tempfile.mkdtemp(prefix="hl7bus-bench-timeline-data-")),
    )
    atexit.register(_delete_bus, run)  # registered first: runs last, after every process
    atexit.register(shutil.rmtree, run.data, True)
    topics = prepare_bus(kafka, registry, partitions=args.partitions, echo=lambda _l: None)
    schema_id = register_record_schema(
        serde.registry_client(registry), topics.events, "ClinicalEvent"
    )
    broker = kafka_pid()
    load_start = os.getloadavg()
    print(
        f"timeline benchmark: {args.events:,} events over {args.patients:,} patients, stores "
        f"{', '.join(stores)}; {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in load_start)}; Kafka {kafka.bootstrap_servers}, "
        f"topics {prefix}*, {args.partitions} partitions",
        flush=True,
    )

    # The events: the fill, the heavy patient's, and what the steady producer sends.
    per_store = int(args.ingest_rate * (args.seconds + 20))  # enough for a slow start
    records = mix(args.events + per_store * len(stores), args.patients)
    fill = encode_records(records[: args.events], schema_id)
    heavy = encode_records(heavy_patient(mix(HEAVY_EVENTS + 10, 1, seed=11)), schema_id)
    heavy.keys, heavy.values = heavy.keys[:HEAVY_EVENTS], heavy.values[:HEAVY_EVENTS]
    rest = encode_records(records[args.events :], schema_id)
    background = {
        s: (
            rest.keys[i * per_store : (i + 1) * per_store],
            rest.values[i * per_store : (i + 1) * per_store],
        )
        for i, s in enumerate(stores)
    }
    del records
    took = produce_all(kafka, topics.events, fill.keys, fill.values)
    size = sum(map(len, fill.payloads)) / len(fill.payloads)
    print(f"put {args.events:,} events on the topic in {took:.1f} s ({size:.0f} Avro bytes each)")
    marks = Watermarks(kafka, topics.events)

    consumed, consume_cpu = plain_consume(kafka, topics.events, marks.partitions, args.events)
    decoded = fastavro_decode(fill.payloads)
    print(
        f"baseline: plain consume {consumed:,.0f} events/s ({consume_cpu:.0f}% CPU), "
        f"fastavro decode {decoded:,.0f} events/s on one core",
        flush=True,
    )

    urls: dict[str, str] = {}
    server = None
    for backend in stores:
        if backend == "sqlite":
            urls[backend] = f"sqlite:///{run.data / 'timeline.db'}"
        else:
            server = server or start_postgres(run)
            schema = f"bench_{prefix.split('.')[1]}"
            atexit.register(drop_schema, server, schema)
            separator = "&" if "?" in server else "?"
            urls[backend] = f"{server}{separator}schema={schema}"

    results: dict[str, dict] = {}
    for backend in stores:
        results[backend] = {"ingest": ingest(run, backend, urls[backend], args.events, broker)}
        r = results[backend]["ingest"]
        after = (
            "all in it"
            if math.isnan(r["after_first"])
            else f"{r['after_first']:,.0f} events/s after it"
        )
        print(
            f"{backend}: {r['rate']:,.0f} events/s ({args.events:,} in {r['seconds']:.2f} s from "
            f"partitions assigned; first batch stored after {r['first_batch_s']:.2f} s, {after}), "
            f"service {r['cpu']:.0f}% CPU, Kafka "
            f"{r['kafka_cpu']:.0f}%, {r['entries']:,} entries, load {r['load']:.2f}",
            flush=True,
        )

    produce_all(kafka, topics.events, heavy.keys, heavy.values)
    connector = None
    for index, backend in enumerate(stores):
        url = urls[backend]
        group = results[backend]["ingest"]["group"]
        with open_store(url) as store:
            service, _ = start_timeline(run, backend, url, group)
            wait_applied(store, group, topics.events, marks.end())
            heavy_entries = len(store.timeline(HEAVY, limit=1000)[0])
            if heavy_entries != HEAVY_EVENTS:
                raise SystemExit(f"{HEAVY} has {heavy_entries} entries, not {HEAVY_EVENTS}")
            web = start_web(run, backend, url)
            if isinstance(web, str):
                print(f"{backend}: no HTTP figures: {web}", flush=True)
                results[backend]["web"] = web
                web = None
            q = queries(run, store, group, service, web, marks, background[backend], args)
            results[backend]["query"] = q
            print(
                f"{backend}: queries idle {p50_p99(q['idle'][0])} (HTTP {p50_p99(q['idle'][1])}), "
                f"while ingesting {p50_p99(q['busy'][0])} (HTTP {p50_p99(q['busy'][1])}); "
                f"{q['produced_rate']:,.0f} events/s fed, {q['applied_rate']:,.0f} applied, "
                f"caught up {q['caught_up_s']:.2f} s after; service {q['service_cpu']:.0f}% CPU; "
                f"HTTP not 200: {q['idle'][2] + q['busy'][2]}; load {q['load']:.2f}",
                flush=True,
            )
            if connector is None:
                connector = Connector(run.env(), None, run.logs / "mllp.log")
                atexit.register(connector.stop)
            v = ack_to_visible(url, service, web, connector, f"TLB{index}", args)
            results[backend]["visible"] = v
            print(
                f"{backend}: {v['messages']} MLLP messages ({v['codes']}), {v['events']} events: "
                f"ACK {p50_p99(v['ack'])}, ACK -> in store {p50_p99(v['store'])}, -> API "
                f"stream {p50_p99(v['api'])}; not visible within 10 s: store "
                f"{v['late_store']}, API {v['late_api']}; service {v['service_cpu']:.0f}% CPU; "
                f"load {v['load']:.2f}",
                flush=True,
            )
            if web is not None:
                web.process.stop()
            service.stop()
    if connector is not None:
        connector.stop()
    marks.close()

    load_end = os.getloadavg()
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    rows = [("figure", "measured", "goal", "baseline (same run)")]
    for backend in stores:
        name = names[backend]
        r = results[backend]
        rows.append(
            (
                f"events/s into {name}",
                f"{r['ingest']['rate']:,.0f}",
                f">= {GOALS[backend]:,}",
                f"plain consume {consumed:,.0f}/s; fastavro decode {decoded:,.0f}/s (one core)",
            )
        )
        q = r["query"]
        http_rows = [("HTTP", 1)] if q["busy"][1] else []
        for how, i in [("store API", 0), *http_rows]:
            rows.append(
                (
                    f"{name} timeline query p50 / p99, {how}",
                    p50_p99(q["busy"][i]),
                    f"p99 <= {QUERY_GOAL_MS:g} ms",
                    f"idle {p50_p99(q['idle'][i])}",
                )
            )
        v = r["visible"]
        for how, key in [("store", "store"), ("API stream", "api")]:
            if key == "api" and not v["api"]:
                continue
            rows.append(
                (
                    f"{name} ACK -> visible p50 / p99, {how}",
                    p50_p99(v[key]),
                    f"p99 <= {VISIBLE_GOAL_MS:g} ms",
                    f"ACK itself {p50_p99(v['ack'])}",
                )
            )
    print()
    print(
        f"timeline service as a process (hl7bus service timeline); query phase: "
        f"{args.query_rate:g} queries/s of a {HEAVY_EVENTS:,}-event patient while "
        f"{args.ingest_rate:g} events/s come in; ACK phase: {args.mllp_rate:g} msgs/s on one "
        f"MLLP connection, {args.seconds:g} s each"
    )
    print_table(rows)
    print(
        f"load average at start {' '.join(f'{x:.2f}' for x in load_start)}, at end "
        f"{' '.join(f'{x:.2f}' for x in load_end)} ({os.cpu_count()} CPUs)"
    )
    for backend in stores:
        if isinstance(results[backend].get("web"), str):
            print(f"{names[backend]}: no HTTP figures: {results[backend]['web']}")
    print(f"logs: {run.logs}")


INTERRUPTED: list[int] = []


def _interrupted(signum: int, _frame: object) -> None:
    INTERRUPTED.append(signum)
    raise KeyboardInterrupt


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        # Ctrl-C reaches the services too: what failed as they stopped is no news.
        if not INTERRUPTED:
            raise
        print("interrupted: stopping the processes, deleting the topics and subjects")
        sys.exit(128 + INTERRUPTED[0])

"""The MLLP connector end to end: messages stored on Kafka and acknowledged, per second, and
how long a sender waits for its ACK — printed beside the raw producer ceiling of the same run.

The connector runs as its own process (``hl7bus connector mllp``) against a real Kafka and
schema registry (default: the local ``hl7bus dev up`` stack), on topics under a fresh
``bench.<random>.`` prefix created with ``prepare_bus`` (deleted afterwards with their
subjects, unless ``--keep-topics``).  The load generator (``benchmarks/mllp_load.py``) runs
here: N senders, each on its own connection, each sending an ORU^R01 message of the corpus
(read in place, every copy with its own MSH-10) and waiting for its ACK before the next.

Phases, each ``--seconds`` long after a short warm-up:

* closed loop with 1, 8, 32 senders (``--senders``): throughput and ACK latency;
* open loop at ``--rate`` messages/s over ``--rate-senders`` senders, each on a fixed
  schedule; latency is counted from when a message was due (so a late ACK that holds the
  next message back counts against it too).

Every row shows the ACK codes (AA must equal messages: a message is counted only once its
ACK is in), and the CPU used by the connector (its process and children, from
``/proc/<pid>/stat``, in % of one core), by the Kafka broker when it is the local dev stack,
by the generator itself, and by the whole machine (% of all cores).

Baselines of the same run:

* raw producer ceiling: the same records (raw record + the events' Avro records, built by
  the connector's own code beforehand) produced by one process with confluent-kafka
  directly, idempotent, ``acks=all``, the connector's producer settings: no MLLP, no
  translation, no waiting per message;
* translation alone: the connector's per-message Python work (header, raw record,
  parse + map, events' Avro) on one core, no I/O.

Goals: at least 5,000 messages/s stored and acknowledged on a 2-core machine that also runs
Kafka; p99 ACK latency at most 20 ms at 1,000 messages/s.

All of it runs once per ``--workers`` value (default ``1,2``: ``HL7BUS_MLLP_WORKERS``, worker
processes sharing the port with SO_REUSEPORT), each with a fresh connector process.

Run ``python -m benchmarks.mllp [--seconds S] [--senders 1,8,32] [--rate 1000]
[--workers 1,2]`` (about 90 s by default); ``--connector-env KEY=VALUE`` passes other
settings to the connector, ``--profile FILE`` runs it under cProfile
(``python -m cProfile -o FILE``; with one worker, as the supervisor only waits).
"""

from __future__ import annotations

import argparse
import atexit
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter

from benchmarks import mllp_load as load

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port(run: int = 1) -> int:
    """A free port, and the ``run - 1`` ports after it free too."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        try:
            for extra in range(1, run):
                with socket.socket() as sock:
                    sock.bind((HOST, port + extra))
        except OSError:
            continue
        return port
    raise SystemExit(f"no {run} free ports in a row")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# -- the connector process ---------------------------------------------------------------


class Connector:
    def __init__(
        self, env: dict[str, str], profile: pathlib.Path | None, log: pathlib.Path
    ) -> None:
        self.workers = int(env.get("HL7BUS_MLLP_WORKERS", "1"))
        self.port = free_port()
        self.metrics_port = free_port(self.workers)  # worker i: metrics_port + i
        self.log = log
        full_env = {
            **os.environ,
            **env,
            "HL7BUS_MLLP_HOST": HOST,
            "HL7BUS_MLLP_PORT": str(self.port),
            "HL7BUS_MLLP_METRICS_PORT": str(self.metrics_port),
        }
        command = [sys.executable]
        if profile is not None:
            command += ["-m", "cProfile", "-o", str(profile)]
        command += ["-m", "hl7bus.cli", "connector", "mllp"]
        self.process = subprocess.Popen(
            command, env=full_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        self._wait_listening()

    def _wait_listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"connector exited with {self.process.returncode}:\n"
                    f"{self.log.read_text(errors='replace')}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"connector did not listen on {self.port} within {timeout:g} s")

    def cpu_seconds(self) -> float:
        return load.pid_cpu_seconds(self.process.pid)

    def acks_counted(self) -> dict[str, int]:
        """``hl7bus_messages_total`` by ACK code, from the connector's /metrics (summed over
        its workers)."""
        counts: Counter[str] = Counter()
        for worker in range(self.workers):
            url = f"http://{HOST}:{self.metrics_port + worker}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("hl7bus_messages_total{"):
                    labels, value = line.rsplit(" ", 1)
                    code = labels.split('ack="', 1)[1].split('"', 1)[0]
                    counts[code] += int(float(value))
        return dict(counts)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def kafka_pid() -> int | None:
    """The local dev stack's broker, when that is what runs."""
    try:
        from hl7bus.devstack.stack import LocalStack
        from hl7bus.settings import DevStackSettings

        return LocalStack(DevStackSettings()).status().kafka_pid
    except Exception:
        return None


# -- phases ------------------------------------------------------------------------------


def run_phase(
    connector: Connector,
    templates,
    senders: int,
    seconds: float,
    rate: float | None,
    tag: str,
    procs: int,
    broker: int | None,
) -> dict:
    cpu_conn = connector.cpu_seconds()
    cpu_kafka = load.pid_cpu_seconds(broker) if broker else 0.0
    busy0, _total0 = load.machine_busy()
    results, gen_cpu = load.run_phase_procs(
        HOST, connector.port, templates, senders, seconds, rate, tag.encode(), procs
    )
    busy1, _total1 = load.machine_busy()
    conn_cpu = connector.cpu_seconds() - cpu_conn
    kafka_cpu = (load.pid_cpu_seconds(broker) - cpu_kafka) if broker else float("nan")
    # CPU figures are over the senders' window (``seconds``; they start ~0.5 s after
    # `started`), when nearly all the work happens.
    window = seconds
    ticks = os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    machine = (busy1 - busy0) / ticks / window * 100  # in % of one core
    latencies = sorted(x for r in results for x in r.latencies)
    codes: Counter[str] = Counter()
    for r in results:
        codes.update(r.codes)
    late = sorted(x for r in results for x in r.late)
    return {
        "phase": f"rate {rate:g}/s" if rate else "closed loop",
        "workers": 1,
        "senders": senders,
        "messages": len(latencies),
        "msgs_per_s": len(latencies) / window,
        "p50": percentile(latencies, 0.50) * 1e3,
        "p90": percentile(latencies, 0.90) * 1e3,
        "p99": percentile(latencies, 0.99) * 1e3,
        "max": (latencies[-1] if latencies else float("nan")) * 1e3,
        "aa": codes.get("AA", 0),
        "other": {k: v for k, v in codes.items() if k != "AA"},
        "errors": sum(r.errors for r in results),
        "conn_cpu": conn_cpu / window * 100,
        "kafka_cpu": kafka_cpu / window * 100,
        "gen_cpu": gen_cpu / window * 100,
        "machine": machine / cores,
        "rest": machine
        - (conn_cpu + gen_cpu + (0.0 if broker is None else kafka_cpu)) / window * 100,
        "late_p99": percentile(late, 0.99) * 1e3 if late else None,
    }


# -- baselines ---------------------------------------------------------------------------


def build_records(ingestor, templates) -> list[list]:
    """Per template, the records the connector would put on Kafka for one copy."""
    from hl7bus.hl7.header import read_header
    from hl7bus.ingest.records import Received, Stored

    sets = []
    for i, template in enumerate(templates):
        raw = template.copy(b"BASE%08d" % i)
        received = Received(raw, "2025-01-01T00:00:00.000+00:00", "mllp:bench", "127.0.0.1:1")
        header = read_header(raw)
        translated = ingestor.translate(received)
        stored = Stored(ingestor.topics.raw, 0, 0)
        sets.append(
            [
                ingestor.raw_record(received, header),
                *ingestor.event_records(translated.events, stored),
            ]
        )
    return sets


def raw_producer_ceiling(kafka, record_sets: list[list], seconds: float) -> dict:
    """The same records produced by confluent-kafka directly: as fast as one process can,
    counted once Kafka acknowledged them."""
    from confluent_kafka import Producer

    from hl7bus.kafka.clients import producer_config

    config = producer_config(kafka)
    config["client.id"] = "hl7bus-bench-ceiling"
    producer = Producer(config)
    delivered = [0, 0]

    def on_delivery(err, _msg) -> None:  # type: ignore[no-untyped-def]
        delivered[0 if err is None else 1] += 1

    producer.produce(record_sets[0][0].topic, b"warm-up", b"warm-up", on_delivery=on_delivery)
    producer.flush(10)
    delivered[0] = 0
    cpu0 = load._cpu_seconds()
    started = time.perf_counter()
    stop = started + seconds
    messages = records = 0
    n = len(record_sets)
    while time.perf_counter() < stop:
        for record in record_sets[messages % n]:
            while True:
                try:
                    producer.produce(
                        record.topic, record.value, record.key, on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.005)
            records += 1
        messages += 1
        producer.poll(0)
    left = producer.flush(30)
    elapsed = time.perf_counter() - started
    cpu = load._cpu_seconds() - cpu0
    return {
        "messages": messages,
        "records": records,
        "delivered": delivered[0],
        "failed": delivered[1] + left,
        "msgs_per_s": messages / elapsed,
        "records_per_s": records / elapsed,
        "cpu": cpu / elapsed * 100,
    }


def translation_alone(ingestor, templates, seconds: float) -> float:
    """msgs/s of the connector's Python work per message, on one core, no I/O."""
    from hl7bus.hl7.header import read_header
    from hl7bus.ingest.records import Received, Stored

    stored = Stored(ingestor.topics.raw, 0, 0)
    done, n = 0, len(templates)
    started = time.perf_counter()
    stop = started + seconds
    while time.perf_counter() < stop:
        raw = templates[done % n].copy(b"ALONE%08d" % done)
        received = Received(raw, "2025-01-01T00:00:00.000+00:00", "mllp:bench", "127.0.0.1:1")
        ingestor.raw_record(received, read_header(raw))
        ingestor.event_records(ingestor.translate(received).events, stored)
        done += 1
    return done / (time.perf_counter() - started)


# -- report ------------------------------------------------------------------------------


def print_table(rows: list[dict]) -> None:
    print(
        f"{'phase':<12} {'wrk':>3} {'send':>4} {'messages':>8} {'msgs/s':>6} {'p50':>6} "
        f"{'p90':>6} {'p99':>6} {'max':>7} {'AA':>7} {'other':<6} {'conn%':>5} "
        f"{'kafka%':>6} {'gen%':>4} {'rest%':>5} {'mach%':>5}"
    )
    for r in rows:
        other = ",".join(f"{k}:{v}" for k, v in r["other"].items()) or "-"
        if r["errors"]:
            other += f",err:{r['errors']}"
        print(
            f"{r['phase']:<12} {r['workers']:>3} {r['senders']:>4} {r['messages']:>8} "
            f"{r['msgs_per_s']:>6.0f} {r['p50']:>6.2f} {r['p90']:>6.2f} {r['p99']:>6.2f} "
            f"{r['max']:>7.2f} {r['aa']:>7} {other:<6} {r['conn_cpu']:>5.0f} "
            f"{r['kafka_cpu']:>6.0f} {r['gen_cpu']:>4.0f} {r['rest']:>5.0f} "
            f"{r['machine']:>5.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    parser.add_argument(
        "--senders", default="1,8,32", help="closed-loop phases: comma-separated sender counts"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="open-loop phase: messages/s in all (0: no such phase)",
    )
    parser.add_argument("--rate-senders", type=int, default=8)
    parser.add_argument(
        "--workers",
        default="1,2",
        help="connector runs: comma-separated HL7BUS_MLLP_WORKERS values",
    )
    parser.add_argument(
        "--corpus", type=pathlib.Path, default=REPO_ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--messages", type=int, default=50, help="distinct ORU messages used")
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=16384,
        help="largest message used (ORU-sized; the corpus has 110 kB outliers)",
    )
    parser.add_argument(
        "--load-procs", type=int, default=1, help="processes of the load generator (1: this one)"
    )
    parser.add_argument(
        "--connector-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the connector, e.g. HL7BUS_MLLP_STORE_TIMEOUT_S=5",
    )
    parser.add_argument(
        "--profile",
        type=pathlib.Path,
        help="run the connector under cProfile, writing its stats here "
        "(one worker: the supervisor's own process is what is profiled)",
    )
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args()

    from hl7bus.ingest import setup as wiring
    from hl7bus.kafka.setup import prepare_bus
    from hl7bus.kafka.topics import Topics
    from hl7bus.settings import KafkaSettings, RegistrySettings

    templates = load.load_templates(args.corpus, args.messages, args.max_bytes)
    sizes = sorted(len(t.head) + len(t.tail) + 12 for t in templates)
    base = KafkaSettings()
    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    kafka = KafkaSettings(bootstrap_servers=base.bootstrap_servers, topic_prefix=prefix)
    registry = RegistrySettings()
    topics = Topics.with_prefix(prefix)
    if not args.keep_topics:  # also when the run stops half-way
        atexit.register(_delete_bus, kafka, registry, topics.all())
    prepare_bus(kafka, registry, partitions=args.partitions, echo=lambda _l: None)
    extra = dict(item.split("=", 1) for item in args.connector_env)
    broker = kafka_pid()
    logs = pathlib.Path(tempfile.mkdtemp(prefix="hl7bus-bench-"))
    print(
        f"MLLP connector benchmark: {len(templates)} ORU^R01 messages from {args.corpus} "
        f"(bytes p50 {sizes[len(sizes) // 2]}, max {sizes[-1]}), {os.cpu_count()} CPUs, "
        f"Kafka {kafka.bootstrap_servers}, topics {prefix}*, {args.partitions} partitions, "
        f"{args.seconds:g} s per phase, generator in {args.load_procs} process(es)"
        + (f", connector {' '.join(args.connector_env)}" if args.connector_env else ""),
        flush=True,
    )
    rows: list[dict] = []
    checks: list[str] = []
    tags = iter("ABCDEFGHIJKLMNOPQRSTUVXYZabcdefghijklmnopqrstuvwxyz")
    for workers in (int(w) for w in args.workers.split(",") if w.strip()):
        env = {
            "HL7BUS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "HL7BUS_KAFKA_TOPIC_PREFIX": prefix,
            "HL7BUS_REGISTRY_URL": registry.url,
            "HL7BUS_MLLP_WORKERS": str(workers),
            **extra,
        }
        connector = Connector(env, args.profile, logs / f"mllp-{workers}w.log")
        ran: list[dict] = []
        try:
            # Warm-up: producer connections, metadata, caches; not reported.
            warm, _cpu = load.run_phase_procs(
                HOST, connector.port, templates, 8, 2.0, None, next(tags).encode(), 1
            )
            for senders in (int(s) for s in args.senders.split(",") if s.strip()):
                ran.append(
                    run_phase(
                        connector,
                        templates,
                        senders,
                        args.seconds,
                        None,
                        next(tags),
                        args.load_procs,
                        broker,
                    )
                )
            if args.rate > 0:
                ran.append(
                    run_phase(
                        connector,
                        templates,
                        args.rate_senders,
                        args.seconds,
                        args.rate,
                        next(tags),
                        args.load_procs,
                        broker,
                    )
                )
            counted = connector.acks_counted()
        finally:
            code = connector.stop()
        for r in ran:
            r["workers"] = workers
        rows += ran
        answered = sum(r["messages"] for r in ran) + sum(len(w.latencies) for w in warm)
        checks.append(
            f"{workers} worker(s): connector counted {counted or 'n/a'} for "
            f"{answered} answered here (warm-up included), exit code {code}"
        )
    print()
    print(
        "ACK latency in ms (open loop: from when each message was due); CPU in % of one "
        "core: connector, Kafka broker, load generator, rest of the machine (registry, "
        "other jobs); mach%: whole machine, % of all cores"
    )
    print_table(rows)
    for r in rows:
        if r["late_p99"] is not None:
            print(
                f"  {r['workers']}w {r['phase']}: p99 lateness of sends vs schedule "
                f"{r['late_p99']:.2f} ms"
            )
    print(f"AA == messages in every phase: {all(r['aa'] == r['messages'] for r in rows)}")
    for line in checks:
        print(f"  {line}")

    if not args.no_baseline:
        ingestor = wiring.ingestor(kafka, registry, [])
        record_sets = build_records(ingestor, templates)
        per_message = sum(len(s) for s in record_sets) / len(record_sets)
        ceiling = raw_producer_ceiling(kafka, record_sets, args.seconds)
        alone = translation_alone(ingestor, templates, min(args.seconds, 3.0))
        best = max((r["msgs_per_s"] for r in rows), default=0.0)
        print()
        print(f"{'baseline (same run)':<58} {'msgs/s':>8} {'records/s':>9} {'CPU%':>5}")
        print(
            f"{'raw producer ceiling: confluent-kafka, acks=all, idempotent':<58} "
            f"{ceiling['msgs_per_s']:>8.0f} {ceiling['records_per_s']:>9.0f} "
            f"{ceiling['cpu']:>5.0f}   ({per_message:.1f} records/message, "
            f"{ceiling['failed']} failed)"
        )
        print(
            f"{'translation alone: header + parse + map + Avro, one core':<58} "
            f"{alone:>8.0f} {'':>9} {100:>5}"
        )
        if ceiling["msgs_per_s"]:
            print(
                f"best MLLP end to end {best:.0f} msgs/s = "
                f"{best / ceiling['msgs_per_s'] * 100:.0f}% of the raw producer ceiling"
            )
    print(
        "goals: >= 5,000 msgs/s stored and acknowledged; p99 ACK latency <= 20 ms at 1,000 msgs/s"
    )
    if args.profile:
        print(f"connector profile: {args.profile} (python -m pstats {args.profile})")
    print(f"connector logs: {logs}")


def _delete_bus(kafka, registry, names) -> None:
    """Delete the run's topics and their ``-value`` subjects (softly, then for good: a
    registry keeps listing a subject that is only softly deleted with ``?deleted=true``)."""
    from confluent_kafka.admin import AdminClient

    from hl7bus.kafka import serde
    from hl7bus.kafka.clients import client_config

    admin = AdminClient(client_config(kafka))
    try:
        futures = admin.delete_topics(list(names), operation_timeout=30)
        for future in futures.values():
            future.result(30)
    except Exception as exc:
        print(f"(topics not deleted: {exc})")
    client = serde.registry_client(registry)
    for name in names:
        try:
            for permanent in (False, True):
                client.delete_subject(f"{name}-value", permanent=permanent)
        except Exception as exc:
            if getattr(exc, "http_status_code", None) != 404:  # never registered
                print(f"(subject {name}-value not deleted: {exc})")


if __name__ == "__main__":
    main()

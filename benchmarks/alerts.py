"""The alerts service end to end: how long after an MLLP sender hands a message over its
alert is committed on ``clinical.alerts``, at a steady rate of a realistic mix — printed
beside the MLLP ACK latency of the same messages, in the same run.

Everything runs against a real Kafka and schema registry (default: the local
``hl7bus dev up`` stack), on topics under a fresh ``bench.<random>.`` prefix, deleted at exit
with their subjects.  The MLLP connector, the alerts service and the timeline service (on a
throw-away SQLite store: it reads the same topics, as it does in production) run as real
processes with the run's prefix; this process sends, and a child process reads
``clinical.alerts`` with ``read_committed`` (so an alert counts only once its transaction is
committed) and notes when each alert arrived.

The messages are ``benchmarks.timeline``'s: the project's own test messages and the sample
feed that translate, round after round, each round about patients of its own — results
(among them a critical potassium and deteriorating vital signs), visits, orders,
medications, documents.  They go out at ``--rate`` messages a second in all, over
``--connections`` MLLP connections, each waiting for each ACK (``hl7bus.mllp.client``).
For every alert, latency is from the moment its first triggering message was sent until
the alert was read; the alerts expected are the pure engine's over the same events
(``services.alerts.engine``), so a missing or doubled alert shows.

Goal: p99 ≤ 100 ms at 1,000 messages/s on a 2-core machine with the connector, Kafka, the
registry and the timeline service running.  The load average is printed: other work on the
machine moves every figure.

Run ``python -m benchmarks.alerts [--rate 1000] [--seconds 20] [--connections 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import pathlib
import queue
import shutil
import signal
import tempfile
import time
import uuid
import zlib
from collections import Counter
from datetime import UTC, datetime

from benchmarks.mllp import Connector, free_port, kafka_pid
from benchmarks.mllp_load import ack_code, pid_cpu_seconds
from benchmarks.timeline import (
    SPAWN,
    Message,
    Process,
    Run,
    _child,
    _delete_bus,
    _interrupted,
    mllp_messages,
    p50_p99,
)

GOAL_MS = 100.0
GOAL_RATE = 1000.0  # messages/s at which the goal holds
HOST = "127.0.0.1"


def _own_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (its threads, not its children), from /proc."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_of(parts: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds so far of each part (its children too, but for this process's own)."""
    return {
        name: 0.0
        if pid is None
        else _own_cpu_seconds(pid)
        if pid == os.getpid()
        else pid_cpu_seconds(pid)
        for name, pid in parts.items()
    }


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle so far (all cores), from /proc/stat."""
    first = pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in first]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def print_budget(
    spent: dict[str, float], machine: float, seconds: float, messages: int, goal_rate: float
) -> None:
    """Where the CPU went, per message, and how many cores ``goal_rate`` would need at
    that cost: the machine's budget beside what the run took."""
    cores = os.cpu_count() or 1
    print(
        f"CPU per message while sending ({messages:,} messages in {seconds:.1f} s), "
        f"and the cores {goal_rate:g} messages/s would take at that cost:"
    )
    for name, cpu in [*spent.items(), ("whole machine", machine)]:
        per = cpu / max(messages, 1) * 1e3
        print(
            f"  {name:<24} {per:6.2f} ms/message  {cpu / seconds * 100:5.0f}% of a core  "
            f"-> {per * goal_rate / 1e3:4.2f} cores"
        )
    print(f"  the machine has {cores} cores")


def _alert_watcher(kafka_env: dict[str, str], topic: str, found) -> None:
    """A child process: every committed record of ``topic`` from its end as the run starts,
    as ``(alert_id, event_ids, status, perf_counter)``."""
    import io
    import json

    import fastavro
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    from hl7bus.kafka import serde
    from hl7bus.kafka.clients import consumer_config
    from hl7bus.settings import KafkaSettings, RegistrySettings

    kafka = KafkaSettings(
        bootstrap_servers=kafka_env["HL7BUS_KAFKA_BOOTSTRAP_SERVERS"],
        topic_prefix=kafka_env["HL7BUS_KAFKA_TOPIC_PREFIX"],
    )
    client = serde.registry_client(RegistrySettings(url=kafka_env["HL7BUS_REGISTRY_URL"]))
    config = consumer_config(kafka, f"bench-alerts-{uuid.uuid4().hex[:8]}")
    config["fetch.wait.max.ms"] = 5
    consumer = Consumer(config)
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
    schemas: dict[int, object] = {}
    found.put(("ready", (), "", 0.0))
    while True:
        first = consumer.poll(0.05)  # returns as soon as a record is there
        if first is None:
            continue
        for msg in [first, *consumer.consume(100, timeout=0)]:
            if msg.error():
                continue
            seen = time.perf_counter()
            data = msg.value()
            schema_id = int.from_bytes(data[1:5], "big")
            if schema_id not in schemas:
                text = client.get_schema(schema_id).schema_str
                schemas[schema_id] = fastavro.parse_schema(json.loads(text))
            record = fastavro.schemaless_reader(io.BytesIO(data[5:]), schemas[schema_id], None)
            found.put((record["alert_id"], tuple(record["event_ids"]), record.get("status"), seen))


async def _send(
    port: int, messages: list[Message], lanes: list[int], rate: float, connections: int
) -> list[tuple[Message, float, float, str]]:
    """``messages`` at ``rate`` a second in all, each message due at ``i / rate``, message
    ``i`` on connection ``lanes[i]`` (a patient's messages on one connection, in order, as a
    sending system keeps them); ``(message, sent, acked, code)``."""
    from hl7bus.mllp.client import MllpClient

    started = time.perf_counter() + 0.2
    done: list[tuple[Message, float, float, str]] = []

    async def one(lane: int) -> None:
        client = await MllpClient.connect(HOST, port, timeout_s=30)
        try:
            for i in (i for i, mine in enumerate(lanes) if mine == lane):
                pause = started + i / rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
                message = messages[i]
                sent = time.perf_counter()
                ack = await client.send(message.wire)
                done.append(
                    (message, sent, client.ack_received_at, ack_code(ack, message.control_id))
                )
        finally:
            await client.close()

    await asyncio.gather(*(one(lane) for lane in range(connections)))
    return done


def expected_alerts(messages: list[Message], connections: int) -> tuple[dict[str, str], list[int]]:
    """The alert ids (with their rules) the shipped rules give for the messages' events,
    patient by patient in sending order; and the connection each message goes on (by its
    patient, so that a patient's messages keep their order)."""
    from hl7bus.mapping.profiles import ProfileSet
    from hl7bus.mapping.router import translate
    from hl7bus.services.alerts.engine import evaluate
    from hl7bus.services.alerts.rules import load_rules
    from hl7bus.services.alerts.state import PatientState

    rules, profiles = load_rules(None), ProfileSet()
    states: dict[str, PatientState] = {}
    found: dict[str, str] = {}
    lanes: list[int] = []
    now = datetime.now(UTC)
    for message in messages:
        events = translate(message.wire, profiles).events
        lanes.append(zlib.crc32(events[0].patient.key.encode()) % connections)
        for event in events:
            state = states.get(event.patient.key) or PatientState.empty(event.patient.key)
            outcome = evaluate(rules, state, event, now=now)
            states[event.patient.key] = outcome.state
            found.update((a.alert_id, a.rule) for a in outcome.alerts)
    return found, lanes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="MLLP messages/s in all")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send")
    parser.add_argument("--connections", type=int, default=32, help="MLLP connections")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--no-timeline", action="store_true", help="leave the timeline service out")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)

    from hl7bus.kafka.setup import prepare_bus
    from hl7bus.kafka.topics import Topics
    from hl7bus.settings import KafkaSettings, RegistrySettings

    base = KafkaSettings()
    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    kafka = KafkaSettings(bootstrap_servers=base.bootstrap_servers, topic_prefix=prefix)
    registry = RegistrySettings()
    topics = Topics.with_prefix(prefix)
    run = Run(
        prefix,
        kafka,
        registry,
        topics,
        pathlib.Path(tempfile.mkdtemp(prefix="hl7bus-bench-alerts-")),
        pathlib.Path(tempfile.mkdtemp(prefix="hl7bus-bench-alerts-data-")),
    )
    # The changelog of the rule state is the service's own topic: deleted with the rest.
    run.topics = _WithState(topics, prefix + "alerts.state")
    atexit.register(_delete_bus, run)
    atexit.register(shutil.rmtree, run.data, True)
    prepare_bus(kafka, registry, partitions=args.partitions, echo=lambda _l: None)
    load_start = os.getloadavg()
    count = int(args.rate * args.seconds)
    messages = mllp_messages(f"ALB{uuid.uuid4().hex[:3]}", count)
    expected, lanes = expected_alerts(messages, args.connections)
    print(
        f"alerts benchmark: {count:,} MLLP messages at {args.rate:g}/s over "
        f"{args.connections} connections; {len(expected):,} alerts expected; "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in load_start)}",
        flush=True,
    )

    group = f"bench-alerts-{uuid.uuid4().hex[:6]}"
    run.groups += [group, f"{group}-restore"]
    metrics_port = free_port()
    alerts = Process(
        ["service", "alerts"],
        {
            **run.env(),
            "HL7BUS_ALERTS_GROUP": group,
            "HL7BUS_ALERTS_METRICS_PORT": str(metrics_port),
        },
        run.logs / "alerts.log",
    )
    timeline = None
    if not args.no_timeline:
        tgroup = f"bench-timeline-{uuid.uuid4().hex[:6]}"
        run.groups.append(tgroup)
        timeline = Process(
            ["service", "timeline", "--store", f"sqlite:///{run.data / 'timeline.db'}"],
            {
                **run.env(),
                "HL7BUS_TIMELINE_GROUP": tgroup,
                "HL7BUS_TIMELINE_METRICS_PORT": str(free_port()),
            },
            run.logs / "timeline.log",
        )
    connector = Connector(run.env(), None, run.logs / "mllp.log")
    atexit.register(connector.stop)
    deadline = time.monotonic() + 90
    while "partitions assigned" not in alerts.log_text():
        alerts.check()
        if time.monotonic() > deadline:
            raise SystemExit(f"the alerts service got no partitions in 90 s:\n{alerts.log_text()}")
        time.sleep(0.05)
    found = SPAWN.Queue()
    watcher = _child(_alert_watcher, run.env(), topics.alerts, found)
    found.get(timeout=60)  # ready

    parts = {
        "MLLP connector": connector.process.pid,
        "alerts service": alerts.process.pid,
        "timeline service": timeline.process.pid if timeline is not None else None,
        "Kafka broker": kafka_pid(),
        "sender (this process)": os.getpid(),
        "alert reader": watcher.pid,
    }
    cpu_before = _cpu_of(parts)
    machine_before = _machine_busy_seconds()
    cpu0 = alerts.cpu_seconds()
    started = time.perf_counter()
    done = asyncio.run(_send(connector.port, messages, lanes, args.rate, args.connections))
    took = time.perf_counter() - started
    cpu = (alerts.cpu_seconds() - cpu0) / took * 100
    cpu_spent = {k: v - cpu_before[k] for k, v in _cpu_of(parts).items()}
    machine_spent = _machine_busy_seconds() - machine_before
    load_mid = os.getloadavg()

    seen: dict[str, tuple[tuple[str, ...], float]] = {}
    twice = 0
    wait_until = time.monotonic() + 15
    while time.monotonic() < wait_until and not expected.keys() <= seen.keys():
        try:
            alert_id, event_ids, status, at = found.get(timeout=0.5)
        except queue.Empty:
            continue
        if status not in (None, "RAISED"):
            continue
        if alert_id in seen:
            twice += 1
        else:
            seen[alert_id] = (event_ids, at)
    # Anything else arriving now would be a duplicate.
    quiet_until = time.monotonic() + 2
    while time.monotonic() < quiet_until:
        try:
            alert_id, _ids, status, _at = found.get(timeout=0.2)
        except queue.Empty:
            continue
        if status in (None, "RAISED") and alert_id in seen:
            twice += 1
    watcher.terminate()
    watcher.join(10)

    sent_at: dict[str, float] = {}
    acked_at: dict[str, float] = {}
    codes: Counter = Counter()
    acks = []
    for message, sent, acked, code in done:
        codes[code] += 1
        acks.append((acked - sent) * 1e3)
        for event_id in message.event_ids:
            sent_at.setdefault(event_id, sent)
            acked_at.setdefault(event_id, acked)
    latencies = []
    after_ack = []  # of the alerts over the goal: from the ACK of the message to the alert
    late_at = []  # and when their message was sent, in seconds into the run
    for _alert_id, (event_ids, at) in seen.items():
        times = [sent_at[e] for e in event_ids if e in sent_at]
        if times:
            latencies.append((at - max(times)) * 1e3)
            if latencies[-1] > GOAL_MS:
                last = max((e for e in event_ids if e in sent_at), key=sent_at.__getitem__)
                after_ack.append((at - acked_at[last]) * 1e3)
                late_at.append(sent_at[last] - started)
    latencies.sort()
    after_ack.sort()
    acks.sort()
    missing = Counter(expected[i] for i in expected.keys() - seen.keys())
    extra = len(seen.keys() - expected.keys())
    load_end = os.getloadavg()
    print()
    print(
        f"sent {len(done):,} messages in {took:.1f} s ({len(done) / took:,.0f}/s; ACKs "
        f"{dict(codes)}); alerts service {cpu:.0f}% CPU"
    )
    print(f"{'figure':<44} {'measured':>22}  {'goal':<16} baseline (same run)")
    print("-" * 110)
    print(
        f"{'MLLP send -> alert committed, p50 / p99':<44} {p50_p99(latencies):>22}  "
        f"{'p99 <= ' + format(GOAL_MS, 'g') + ' ms':<16} MLLP send -> ACK {p50_p99(acks)}"
    )
    if latencies:
        print(
            f"{'  max, and alerts over the goal':<44} "
            f"{latencies[-1]:>15.1f} ms, {sum(1 for x in latencies if x > GOAL_MS):>3}"
        )
    if after_ack:
        print(
            f"{'  of those, from the ACK to the alert, p50 / max':<44} "
            f"{after_ack[len(after_ack) // 2]:>8.1f} / {after_ack[-1]:.1f} ms"
        )
        print(
            f"{'  their messages sent at (s into the run)':<44} "
            + ", ".join(f"{t:.1f}" for t in sorted(late_at)[:12])
        )
    print(
        f"alerts: {len(seen):,} read, {len(expected):,} expected; missing "
        f"{sum(missing.values())} {dict(missing) if missing else ''}, "
        f"not expected {extra}, read twice {twice}"
    )
    print(
        "load average: start "
        + " ".join(f"{x:.2f}" for x in load_start)
        + ", after sending "
        + " ".join(f"{x:.2f}" for x in load_mid)
        + ", end "
        + " ".join(f"{x:.2f}" for x in load_end)
    )
    print(f"alerts service: {_transactions(metrics_port)}")
    print_budget(cpu_spent, machine_spent, took, len(done), GOAL_RATE)
    print(f"logs: {run.logs}")
    connector.stop()
    alerts.stop()
    if timeline is not None:
        timeline.stop()


def _transactions(port: int) -> str:
    """The service's own count and mean time of its transactions, from its /metrics."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError as exc:
        return f"metrics not read ({exc})"
    values = {}
    within: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("hl7bus_alerts_transaction_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            within[float(le)] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("hl7bus_alerts_transaction_seconds_") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            values[name.rsplit("_", 1)[1]] = float(value)
    count, total = values.get("count", 0.0), values.get("sum", 0.0)
    if not count:
        return "no transactions"
    slow = count - max((n for le, n in within.items() if le <= GOAL_MS / 1e3), default=0.0)
    return (
        f"{count:,.0f} transactions, {total / count * 1e3:.1f} ms each on average, "
        f"{slow:,.0f} over {GOAL_MS:g} ms"
    )


class _WithState:
    """The run's topics, and the alerts service's changelog, for the clean-up."""

    def __init__(self, topics, state: str) -> None:
        self._topics, self._state = topics, state

    def all(self) -> tuple[str, ...]:
        return (*self._topics.all(), self._state)


if __name__ == "__main__":
    from benchmarks.timeline import INTERRUPTED

    try:
        main()
    except BaseException:
        if not INTERRUPTED:
            raise
        print("interrupted: stopping the processes, deleting the topics and subjects")

"""``hl7bus run`` (``make run``): the whole bus on this machine, with a hospital feeding it.

It starts what is not running yet of the local stack (Kafka, the registry, the MLLP
connector, the timeline, alerts and web services: ``hl7bus dev up``), plays the sample
feed once (``hl7bus demo``), prints the dashboard's address with an operator token, starts
the simulated hospital (``hl7bus simulate``) at a gentle rate, and follows what happens —
messages and their ACK codes, events, alerts as they are raised, dead letters, the
services' lag — until Ctrl-C (or SIGTERM), which stops the simulator and the parts of the
stack this run started, and nothing else.  One run at a time: a second one says where the
first one is.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from hl7bus.errors import Hl7BusError
from hl7bus.settings import DevStackSettings, KafkaSettings, RegistrySettings

FOLLOW_EVERY_S = 5.0
"""How often a line of what happened is printed."""

SIMULATOR_STOP_S = 15.0
"""How long the simulator has to send its last message and print its summary."""

TOKEN_LIFETIME = timedelta(hours=12)


class AlreadyRunning(Hl7BusError):
    """Another ``hl7bus run`` holds the run lock."""


# -- one run at a time ------------------------------------------------------------------------


@contextmanager
def run_lock(path: Path, web_url: str) -> Iterator[None]:
    """Hold ``path``'s lock for the run; the kernel lets go of it when the process ends,
    however it ends, so a killed run never blocks the next one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise AlreadyRunning(
                f"hl7bus is already running here (`make run`, process {holder}); its dashboard "
                f"is at {web_url}/ — stop it with Ctrl-C in its terminal before starting "
                "another"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- what happened, between two looks ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Look:
    """The bus at one moment: the connector's answers by ACK code, the ends of the topics,
    and the services' lag (None: not known)."""

    acks: Mapping[str, float] = field(default_factory=dict)
    ends: Mapping[str, int] = field(default_factory=dict)
    lag: Mapping[str, int | None] = field(default_factory=dict)


def _grown(before: Mapping[str, Any], after: Mapping[str, Any], key: str) -> int:
    """What ``key`` grew by; nothing when it was not seen before (the part did not answer
    then) or went down (the part restarted and counts from zero)."""
    if key not in before or key not in after:
        return 0
    return max(int(after[key]) - int(before[key]), 0)


def follow_line(before: Look, after: Look, at: datetime, topics: Any) -> str:
    """Pure.  One line of what happened between two looks at the bus: messages answered
    (by ACK code), events, dead letters and raw records added, and each service's lag."""
    codes = sorted(set(before.acks) | set(after.acks))
    grown = {code: _grown(before.acks, after.acks, code) for code in codes}
    messages = sum(grown.values())
    answers = " ".join(f"{code} {n}" for code, n in grown.items() if n)
    parts = [
        f"{at:%H:%M:%S}",
        f"messages +{messages}" + (f" ({answers})" if answers else ""),
        f"events +{_grown(before.ends, after.ends, topics.events)}",
        f"dead letters +{_grown(before.ends, after.ends, topics.dlq)}",
    ]
    if after.lag:
        lags = ", ".join(
            f"{name} {'?' if behind is None else behind}" for name, behind in after.lag.items()
        )
        parts.append(f"lag {lags}")
    return " · ".join(parts)


def alert_line(alert: Mapping[str, Any]) -> str | None:
    """Pure.  A raised alert as the follow output shows it: severity, rule, patient and
    title; None for a later step of its lifecycle (acknowledged, resolved)."""
    if alert.get("status", "RAISED") != "RAISED":
        return None
    return (
        f"  ALERT {alert['severity']:<8} {alert['rule']:<15} {alert['patient_key']}  "
        f"{alert['title']}"
    )


class Watcher:
    """Looks at the running bus: the connector's ``/metrics``, the topics' ends, the
    services' consumer groups, and the alerts committed since the watcher started."""

    def __init__(self, dev: DevStackSettings, groups: Mapping[str, str]) -> None:
        from hl7bus.kafka.serde import Decoder
        from hl7bus.kafka.topics import Topics
        from hl7bus.operators.bus import new_consumer

        self.dev = dev
        self.kafka = KafkaSettings(bootstrap_servers=dev.bootstrap_servers)
        self.topics = Topics.with_prefix(self.kafka.topic_prefix)
        self.groups = dict(groups)
        self.decoder = Decoder(RegistrySettings(url=dev.registry_url))
        self.alerts = new_consumer(self.kafka, **{"isolation.level": "read_committed"})
        self._assign_alerts_at_end()

    def _assign_alerts_at_end(self) -> None:
        from confluent_kafka import OFFSET_END, TopicPartition

        meta = self.alerts.list_topics(self.topics.alerts, timeout=10).topics.get(
            self.topics.alerts
        )
        partitions = sorted(meta.partitions) if meta else []
        self.alerts.assign([TopicPartition(self.topics.alerts, p, OFFSET_END) for p in partitions])

    def look(self) -> Look:
        from hl7bus.commands.demo import high_watermarks

        return Look(
            acks=self._acks(),
            ends={topic: sum(ends.values()) for topic, ends in self._ends(high_watermarks).items()},
            lag=self._lag(),
        )

    def _ends(self, high_watermarks: Any) -> dict[str, dict[int, int]]:
        """Each topic's partitions' ends; none while the broker does not answer."""
        from confluent_kafka import KafkaException

        try:
            return high_watermarks(self.kafka, self.topics)
        except KafkaException:
            return {}

    def _acks(self) -> dict[str, float]:
        from hl7bus.services.web.connector_figures import NotMetrics, read_metrics

        url = f"http://{self.dev.host}:{self.dev.mllp_metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                text = answer.read().decode("utf-8", "replace")
            reading = read_metrics(text, time.time())
        except (OSError, urllib.error.URLError, NotMetrics):
            return {}
        acks: dict[str, float] = {}
        for connector in reading.connectors:
            for code, n in connector.acks.items():
                acks[code] = acks.get(code, 0.0) + n
        return acks

    def _lag(self) -> dict[str, int | None]:
        from hl7bus.operators.lag import group_lags

        found: dict[str, int | None] = {}
        for name, group in self.groups.items():
            try:
                lags = group_lags(self.kafka, [group])
            except Hl7BusError:
                found[name] = None
                continue
            on_events = [x.lag for x in lags if x.topic == self.topics.events]
            found[name] = None if any(x is None for x in on_events) else sum(on_events)  # type: ignore[misc]
        return found

    def new_alerts(self) -> list[dict]:
        """The alerts committed since the last call."""
        found = []
        while True:
            msg = self.alerts.poll(0)
            if msg is None:
                return found
            if msg.error() or msg.value() is None:
                continue
            try:
                found.append(self.decoder.record(msg.value(), None))
            except Hl7BusError:
                continue

    def close(self) -> None:
        self.alerts.close()


# -- the simulated hospital -------------------------------------------------------------------


class Simulator:
    """``hl7bus simulate`` as a process of its own (its own session, so Ctrl-C reaches it
    only through :meth:`stop`), writing to ``log``."""

    def __init__(self, dev: DevStackSettings, rate: float, seed: int, log: Path) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._out: IO[bytes] = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hl7bus.cli",
                "simulate",
                "--rate",
                f"{rate:g}",
                "--seed",
                str(seed),
                "--host",
                dev.host,
                "--port",
                str(dev.mllp_port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def exited(self) -> int | None:
        return self.process.poll()

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(SIMULATOR_STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        return self.process.returncode

    def last_words(self, lines: int = 6) -> list[str]:
        try:
            text = self.log.read_text("utf-8", "replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]


# -- the run ----------------------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM: stop as Ctrl-C does."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Stop


def start_stack(dev: DevStackSettings) -> frozenset[str]:
    """``hl7bus dev up`` with the bus's topics and schemas; the roles it started."""
    from hl7bus.devstack.stack import LocalStack
    from hl7bus.kafka.serde import registry_errors
    from hl7bus.kafka.setup import prepare_bus

    stack = LocalStack(dev)
    before = stack.status().pids
    status = stack.up()
    after = status.pids
    started = frozenset(role for role, pid in after.items() if pid and not before.get(role))
    if started:
        print("Topics and schemas:")
        registry = RegistrySettings(url=status.registry_url)
        with registry_errors(registry):
            prepare_bus(
                KafkaSettings(bootstrap_servers=status.bootstrap_servers),
                registry,
                partitions=dev.partitions,
            )
    return started


def run(rate: float, seed: int | None, demo: bool = True) -> int:
    from hl7bus.commands import demo as sample
    from hl7bus.devstack.stack import LocalStack
    from hl7bus.services.web.tokens import Role, create, signing_secret
    from hl7bus.settings import AlertsSettings, TimelineSettings, WebSettings

    dev = DevStackSettings()
    seed = int(time.time()) if seed is None else seed
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C as KeyboardInterrupt, also where SIGINT came ignored (a shell's background job).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    started: frozenset[str] = frozenset()
    simulator: Simulator | None = None
    watcher: Watcher | None = None
    try:
        with run_lock(dev.state_dir / "run" / "hl7bus-run.lock", dev.web_url):
            try:
                started = start_stack(dev)
                if demo:
                    print()
                    sample.run(None, None)
                token = create(
                    signing_secret(WebSettings(), dev),
                    name="make-run",
                    role=Role.OPERATOR,
                    lifetime=TOKEN_LIFETIME,
                )
                print(
                    f"\nThe operators' dashboard: {dev.web_url}/ — it asks once for a token; "
                    f"this operator token is valid {TOKEN_LIFETIME.total_seconds() / 3600:g} h "
                    "(`hl7bus token create --role clinician --name NAME` makes one that also "
                    "opens patients' timelines):"
                )
                print(f"  {token}")
                simulator = Simulator(dev, rate, seed, dev.state_dir / "logs" / "simulator.log")
                print(
                    f"\nA simulated hospital (seed {seed}) sends about {rate:g} messages/s to "
                    f"mllp://{dev.host}:{dev.mllp_port} (its log: {simulator.log}). What "
                    f"happens, every {FOLLOW_EVERY_S:g} s; Ctrl-C stops what this run started:",
                    flush=True,
                )
                watcher = Watcher(
                    dev,
                    {"timeline": TimelineSettings().group, "alerts": AlertsSettings().group},
                )
                _follow(watcher, simulator)
            except (KeyboardInterrupt, _Stop):
                print("\nStopping.", flush=True)
            finally:
                if watcher is not None:
                    watcher.close()
                if simulator is not None:
                    simulator.stop()
                    for line in simulator.last_words(3):
                        print(f"  simulator: {line[:160]}")
                if started:
                    LocalStack(dev).down(only=started)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    return 0


def _follow(watcher: Watcher, simulator: Simulator) -> None:
    before = watcher.look()
    told_exit = False
    while True:
        time.sleep(FOLLOW_EVERY_S)
        after = watcher.look()
        print(follow_line(before, after, datetime.now(UTC).astimezone(), watcher.topics))
        for alert in watcher.new_alerts():
            line = alert_line(alert)
            if line is not None:
                print(line)
        code = simulator.exited()
        if code is not None and not told_exit:
            told_exit = True
            print(f"  The simulator stopped (exit {code}); its last words:")
            for line in simulator.last_words():
                print(f"    {line}")
        sys.stdout.flush()
        before = after

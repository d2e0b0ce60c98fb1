"""The local stack of ``hl7bus dev``: one Apache Kafka node (KRaft, broker and controller in
one process), Apicurio Registry storing its schemas in that Kafka, the sample hospital's MLLP
connector, the timeline service and the web front door over its store, all on loopback.

Everything lives under ``settings.home``: ``cache/`` for the jars, ``dev/`` for data,
logs and pid files.  Nothing is started until every check has passed, and a failure
half-way stops what this call started, so no half-started broker is left behind.
"""

from __future__ import annotations

import base64
import importlib.resources
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hl7bus.devstack import artifacts
from hl7bus.devstack.java import find_java
from hl7bus.devstack.process import EXIT_STATUS, ManagedProcess
from hl7bus.devstack.secrets import ensure_token_secret
from hl7bus.errors import DevStackError
from hl7bus.settings import DevStackSettings

Echo = Callable[[str], None]

KAFKA_MIN_JAVA = 17
REGISTRY_MIN_JAVA = 21


@dataclass(frozen=True, slots=True)
class StackStatus:
    kafka_pid: int | None
    registry_pid: int | None
    connector_pid: int | None
    timeline_pid: int | None
    alerts_pid: int | None
    web_pid: int | None
    bootstrap_servers: str
    registry_url: str
    mllp: str
    metrics_url: str
    timeline_store: str
    timeline_metrics_url: str
    alerts_metrics_url: str
    web_url: str
    home: Path

    @property
    def pids(self) -> dict[str, int | None]:
        """Each part's pid (None when it is stopped), by its role: what ``down(only=...)``
        takes."""
        return {
            "kafka": self.kafka_pid,
            "registry": self.registry_pid,
            "mllp": self.connector_pid,
            "timeline": self.timeline_pid,
            "alerts": self.alerts_pid,
            "web": self.web_pid,
        }

    @property
    def running(self) -> bool:
        return None not in self.pids.values()

    def describe(self) -> str:
        def state(pid: int | None) -> str:
            return f"running (pid {pid})" if pid else "stopped"

        return (
            f"Kafka     {state(self.kafka_pid):<22} bootstrap {self.bootstrap_servers}\n"
            f"Registry  {state(self.registry_pid):<22} {self.registry_url}\n"
            f"MLLP      {state(self.connector_pid):<22} {self.mllp}  (metrics {self.metrics_url})\n"
            f"Timeline  {state(self.timeline_pid):<22} store {self.timeline_store}  "
            f"(metrics {self.timeline_metrics_url})\n"
            f"Alerts    {state(self.alerts_pid):<22} rules to clinical.alerts  "
            f"(metrics {self.alerts_metrics_url})\n"
            f"Web       {state(self.web_pid):<22} {self.web_url}/api/v1  "
            f"(described at {self.web_url}/docs)\n"
            f"Data and logs in {self.home / 'dev'}"
        )


class LocalStack:
    """Start, stop and inspect the local stack."""

    def __init__(self, settings: DevStackSettings) -> None:
        self.settings = settings
        run = settings.state_dir / "run"
        logs = settings.state_dir / "logs"
        self.kafka = ManagedProcess("kafka", run / "kafka.pid", logs / "kafka.log")
        self.registry = ManagedProcess("registry", run / "registry.pid", logs / "registry.log")
        self.connector = ManagedProcess(
            "mllp", run / "mllp.pid", logs / "mllp.log", marker="dev-mllp"
        )
        # Python's -X options take any name: the role's mark, as the JVMs' -D property is.
        self.timeline = ManagedProcess(
            "timeline", run / "timeline.pid", logs / "timeline.log", marker=_python_mark("timeline")
        )
        self.alerts = ManagedProcess(
            "alerts", run / "alerts.pid", logs / "alerts.log", marker=_python_mark("alerts")
        )
        self.web = ManagedProcess(
            "web", run / "web.pid", logs / "web.log", marker=_python_mark("web")
        )

    # -- inspection ---------------------------------------------------------------------------

    def status(self) -> StackStatus:
        s = self.settings
        return StackStatus(
            kafka_pid=self.kafka.pid(),
            registry_pid=self.registry.pid(),
            connector_pid=self.connector.pid(),
            timeline_pid=self.timeline.pid(),
            alerts_pid=self.alerts.pid(),
            web_pid=self.web.pid(),
            bootstrap_servers=s.bootstrap_servers,
            registry_url=s.registry_url,
            mllp=f"mllp://{s.host}:{s.mllp_port}",
            metrics_url=f"http://{s.host}:{s.mllp_metrics_port}/metrics",
            timeline_store=s.timeline_store,
            timeline_metrics_url=f"http://{s.host}:{s.timeline_metrics_port}/metrics",
            alerts_metrics_url=f"http://{s.host}:{s.alerts_metrics_port}/metrics",
            web_url=s.web_url,
            home=s.home,
        )

    # -- up -----------------------------------------------------------------------------------

    def up(self, echo: Echo = print) -> StackStatus:
        s = self.settings
        # The web API's token secret (`hl7bus token create`, `hl7bus service web`).
        ensure_token_secret(s)
        before = self.status()
        if before.running:
            echo("The hl7bus dev stack is already running; nothing to do.")
            echo(before.describe())
            return before
        start_kafka = before.kafka_pid is None
        start_registry = before.registry_pid is None
        start_connector = before.connector_pid is None
        start_timeline = before.timeline_pid is None
        start_alerts = before.alerts_pid is None
        start_web = before.web_pid is None

        # Every check before anything starts.
        kafka_java = find_java(
            KAFKA_MIN_JAVA,
            explicit=s.java_home,
            purpose="Apache Kafka",
            setting="HL7BUS_DEV_JAVA_HOME",
        )
        registry_java = find_java(
            REGISTRY_MIN_JAVA,
            explicit=s.registry_java_home,
            purpose="Apicurio Registry",
            setting="HL7BUS_DEV_REGISTRY_JAVA_HOME",
        )
        ports: list[tuple[int, str]] = []
        if start_kafka:
            ports += [
                (s.kafka_port, "HL7BUS_DEV_KAFKA_PORT"),
                (s.controller_port, "HL7BUS_DEV_CONTROLLER_PORT"),
            ]
        if start_registry:
            ports += [
                (s.registry_port, "HL7BUS_DEV_REGISTRY_PORT"),
                (s.registry_management_port, "HL7BUS_DEV_REGISTRY_MANAGEMENT_PORT"),
            ]
        if start_connector:
            ports += [
                (s.mllp_port, "HL7BUS_DEV_MLLP_PORT"),
                (s.mllp_metrics_port, "HL7BUS_DEV_MLLP_METRICS_PORT"),
            ]
        if start_timeline:
            ports.append((s.timeline_metrics_port, "HL7BUS_DEV_TIMELINE_METRICS_PORT"))
        if start_alerts:
            ports.append((s.alerts_metrics_port, "HL7BUS_DEV_ALERTS_METRICS_PORT"))
        if start_web:
            ports.append((s.web_port, "HL7BUS_DEV_WEB_PORT"))
        for port, setting in ports:
            _require_free_port(s.host, port, setting)
        t0 = time.monotonic()
        libs = artifacts.ensure_kafka(s)
        registry_home = artifacts.ensure_registry(s)
        fetched = time.monotonic() - t0
        if fetched > 1.0:
            echo(
                f"Fetched Kafka {s.kafka_version} and Apicurio Registry {s.registry_version} "
                f"into {s.cache_dir} in {fetched:.1f} s"
            )

        started: list[ManagedProcess] = []
        try:
            if start_kafka:
                t0 = time.monotonic()
                self._start_kafka(kafka_java, libs)
                started.append(self.kafka)
                self._wait_for_kafka()
                echo(
                    f"Kafka {s.kafka_version} ready at {s.bootstrap_servers} "
                    f"in {time.monotonic() - t0:.1f} s"
                )
            if start_registry:
                t0 = time.monotonic()
                start_registry_process(
                    self.registry,
                    registry_java,
                    registry_home,
                    host=s.host,
                    port=s.registry_port,
                    management_port=s.registry_management_port,
                    bootstrap_servers=s.bootstrap_servers,
                    heap=s.registry_heap,
                )
                started.append(self.registry)
                wait_for_registry(self.registry, s.registry_url, s.start_timeout_s)
                echo(
                    f"Apicurio Registry {s.registry_version} ready at {s.registry_url} "
                    f"in {time.monotonic() - t0:.1f} s"
                )
            if start_connector or start_timeline or start_alerts or start_web:
                self._prepare_bus()
            if start_connector:
                t0 = time.monotonic()
                self._start_connector()
                started.append(self.connector)
                self._wait_for_connector()
                echo(
                    f"MLLP connector ready at {s.host}:{s.mllp_port} "
                    f"in {time.monotonic() - t0:.1f} s"
                )
            if start_timeline:
                t0, log_from = time.monotonic(), _log_size(self.timeline)
                self._start_timeline()
                started.append(self.timeline)
                _wait_for_health(
                    self.timeline,
                    "The timeline service",
                    f"http://{s.host}:{s.timeline_metrics_port}/healthz",
                    log_from,
                )
                echo(
                    f"Timeline service ready (store {s.timeline_store}) "
                    f"in {time.monotonic() - t0:.1f} s"
                )
            if start_alerts:
                t0, log_from = time.monotonic(), _log_size(self.alerts)
                self._start_alerts()
                started.append(self.alerts)
                _wait_for_health(
                    self.alerts,
                    "The alerts service",
                    f"http://{s.host}:{s.alerts_metrics_port}/healthz",
                    log_from,
                )
                echo(f"Alerts service ready in {time.monotonic() - t0:.1f} s")
            if start_web:
                t0, log_from = time.monotonic(), _log_size(self.web)
                self._start_web()
                started.append(self.web)
                _wait_for_health(self.web, "The web front door", f"{s.web_url}/healthz", log_from)
                echo(f"Web front door ready at {s.web_url} in {time.monotonic() - t0:.1f} s")
        except BaseException:
            for proc in reversed(started):
                proc.stop(timeout_s=15)
            raise
        status = self.status()
        echo(status.describe())
        return status

    def _start_kafka(self, java: Path, libs: Path) -> None:
        s = self.settings
        kafka_home = s.state_dir / "kafka"
        data = kafka_home / "data"
        config = kafka_home / "server.properties"
        log4j = kafka_home / "log4j2.yaml"
        kafka_home.mkdir(parents=True, exist_ok=True)
        config.write_text(_server_properties(s, data))
        log4j.write_text(
            importlib.resources.files("hl7bus.devstack").joinpath("log4j2.yaml").read_text()
        )
        classpath = f"{libs}/*"
        base = [str(java), f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
        if not (data / "meta.properties").is_file():
            cluster_id = _cluster_id()
            out = subprocess.run(
                [
                    *base,
                    "-Xmx256m",
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(config),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode != 0:
                tail = " ".join(
                    out.stdout.strip().splitlines()[-2:] + out.stderr.strip().splitlines()[-2:]
                )
                raise DevStackError(
                    f"Kafka could not format its storage in {data} ({tail[:300]}); "
                    f"remove {data} and run again."
                )
        env = dict(os.environ)
        self.kafka.start(
            [
                str(java),
                f"-Xms{s.kafka_heap}",
                f"-Xmx{s.kafka_heap}",
                # Kafka's own choice: G1 with short pauses. A stop-the-world collector
                # (Serial) pauses every request in flight for tens of milliseconds.
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true",
                self.kafka.tag,
                *base[1:],
                "kafka.Kafka",
                str(config),
            ],
            env=env,
            cwd=kafka_home,
            info={"bootstrap_servers": s.bootstrap_servers},
        )

    def _wait_for_kafka(self) -> None:
        from confluent_kafka.admin import AdminClient

        from hl7bus.kafka.clients import quiet_logger

        s = self.settings
        deadline = time.monotonic() + s.start_timeout_s
        admin = AdminClient(
            {"bootstrap.servers": s.bootstrap_servers, "log_level": 0, "logger": quiet_logger()}
        )
        while time.monotonic() < deadline:
            if self.kafka.exited():
                raise DevStackError(
                    f"Kafka stopped during start-up: {self.kafka.log_tail()} "
                    f"(full log: {self.kafka.log_file})."
                )
            if _port_open(s.host, s.kafka_port):
                try:
                    admin.list_topics(timeout=2)
                    return
                except Exception:
                    pass
            time.sleep(0.3)
        raise DevStackError(
            f"Kafka did not serve within {s.start_timeout_s:.0f} s; see {self.kafka.log_file}."
        )

    def _prepare_bus(self) -> None:
        from hl7bus.kafka.setup import prepare_bus
        from hl7bus.settings import KafkaSettings, RegistrySettings

        s = self.settings
        prepare_bus(
            KafkaSettings(bootstrap_servers=s.bootstrap_servers),
            RegistrySettings(url=s.registry_url),
            partitions=s.partitions,
            echo=lambda _line: None,
        )

    def _bus_env(self) -> dict[str, str]:
        """The environment of a part of the bus: this stack's Kafka, registry and home."""
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "HL7BUS_KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
                "HL7BUS_KAFKA_TOPIC_PREFIX": "",
                "HL7BUS_REGISTRY_URL": s.registry_url,
                "HL7BUS_DEV_HOME": str(s.home),
            }
        )
        return env

    def _start_connector(self) -> None:
        from hl7bus.commands.demo import sample_profiles

        s = self.settings
        env = self._bus_env()
        env.update(
            {
                "HL7BUS_MLLP_HOST": s.host,
                "HL7BUS_MLLP_PORT": str(s.mllp_port),
                "HL7BUS_MLLP_METRICS_HOST": s.host,
                "HL7BUS_MLLP_METRICS_PORT": str(s.mllp_metrics_port),
            }
        )
        self.connector.start(
            [
                sys.executable,
                "-m",
                "hl7bus.cli",
                "connector",
                "mllp",
                "--name",
                self.connector.tag,
                "--profile",
                str(sample_profiles()),
            ],
            env=env,
            cwd=s.state_dir,
            info={"port": s.mllp_port},
        )

    def _start_timeline(self) -> None:
        s = self.settings
        env = self._bus_env()
        env["HL7BUS_TIMELINE_METRICS_HOST"] = s.host
        self.timeline.start(
            [
                sys.executable,
                "-X",
                self.timeline.tag,
                "-m",
                "hl7bus.cli",
                "service",
                "timeline",
                "--store",
                s.timeline_store,
                "--metrics-port",
                str(s.timeline_metrics_port),
            ],
            env=env,
            cwd=s.state_dir,
            info={"store": s.timeline_store, "metrics_port": s.timeline_metrics_port},
        )

    def _start_alerts(self) -> None:
        s = self.settings
        env = self._bus_env()
        env["HL7BUS_ALERTS_METRICS_HOST"] = s.host
        self.alerts.start(
            [
                sys.executable,
                "-X",
                self.alerts.tag,
                "-m",
                "hl7bus.cli",
                "service",
                "alerts",
                "--metrics-port",
                str(s.alerts_metrics_port),
            ],
            env=env,
            cwd=s.state_dir,
            info={"metrics_port": s.alerts_metrics_port},
        )

    def _start_web(self) -> None:
        from hl7bus.commands.demo import sample_profiles

        s = self.settings
        env = self._bus_env()
        # The dashboard's figures come from the connector's metrics, and dead letters are
        # replayed through the connector's sender profiles.
        env["HL7BUS_WEB_MLLP_METRICS_URL"] = f"http://{s.host}:{s.mllp_metrics_port}/metrics"
        env["HL7BUS_MLLP_PROFILES"] = json.dumps([str(sample_profiles())])
        self.web.start(
            [
                sys.executable,
                "-X",
                self.web.tag,
                "-m",
                "hl7bus.cli",
                "service",
                "web",
                "--store",
                s.timeline_store,
                "--host",
                s.host,
                "--port",
                str(s.web_port),
            ],
            env=env,
            cwd=s.state_dir,
            info={"url": s.web_url},
        )

    def _wait_for_connector(self) -> None:
        s = self.settings
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.connector.exited():
                raise DevStackError(
                    f"The MLLP connector stopped during start-up: {self.connector.log_tail()} "
                    f"(full log: {self.connector.log_file})."
                )
            if _port_open(s.host, s.mllp_port):
                return
            time.sleep(0.2)
        raise DevStackError(
            f"The MLLP connector did not listen within 60 s; see {self.connector.log_file}."
        )

    # -- down ---------------------------------------------------------------------------------

    def down(self, echo: Echo = print, *, only: frozenset[str] | None = None) -> None:
        """Stop the stack (or only the parts whose roles are given: kafka, registry, mllp,
        timeline, alerts, web), in the reverse order of ``up``."""
        stopped = False
        for proc in (
            self.web,
            self.alerts,
            self.timeline,
            self.connector,
            self.registry,
            self.kafka,
        ):
            if only is not None and proc.role not in only:
                continue
            t0 = time.monotonic()
            if proc.stop():
                stopped = True
                echo(f"Stopped {proc.role} in {time.monotonic() - t0:.1f} s")
        if not stopped:
            echo("The hl7bus dev stack is not running; nothing to stop.")


def start_registry_process(
    proc: ManagedProcess,
    java: Path,
    registry_home: Path,
    *,
    host: str,
    port: int,
    management_port: int,
    bootstrap_servers: str,
    heap: str,
    journal_topic: str = "kafkasql-journal",
    snapshots_topic: str = "kafkasql-snapshots",
) -> None:
    """Start Apicurio Registry with its Kafka storage (``kafkasql``) on ``bootstrap_servers``."""
    env = dict(os.environ)
    env.update(
        {
            "QUARKUS_HTTP_HOST": host,
            "QUARKUS_HTTP_PORT": str(port),
            "QUARKUS_MANAGEMENT_HOST": host,
            "QUARKUS_MANAGEMENT_PORT": str(management_port),
            "APICURIO_STORAGE_KIND": "kafkasql",
            "APICURIO_KAFKASQL_BOOTSTRAP_SERVERS": bootstrap_servers,
            "APICURIO_KAFKASQL_TOPIC": journal_topic,
            "APICURIO_KAFKASQL_SNAPSHOTS_TOPIC": snapshots_topic,
            "QUARKUS_LOG_LEVEL": "WARN",
            "QUARKUS_LOG_CATEGORY__IO_QUARKUS__LEVEL": "INFO",
        }
    )
    proc.start(
        [
            str(java),
            "-Xms64m",
            f"-Xmx{heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            proc.tag,
            "-jar",
            str(registry_home / "quarkus-run.jar"),
        ],
        env=env,
        cwd=registry_home,
        info={"url": f"http://{host}:{port}/apis/ccompat/v7"},
    )


def wait_for_registry(proc: ManagedProcess, url: str, timeout_s: float) -> None:
    """Wait until the registry answers Confluent's API, or fail with its log's last words."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.exited():
            raise DevStackError(
                f"Apicurio Registry stopped during start-up: {proc.log_tail()} "
                f"(full log: {proc.log_file})."
            )
        try:
            with urllib.request.urlopen(f"{url}/subjects", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise DevStackError(
        f"Apicurio Registry did not serve within {timeout_s:.0f} s; see {proc.log_file}."
    )


SERVICE_START_TIMEOUT_S = 60.0


def _wait_for_health(proc: ManagedProcess, what: str, url: str, log_from: int) -> None:
    """Wait until a Python part of the stack answers ``/healthz`` with 200, or fail with the
    reason it gave when it stopped (in its log after ``log_from``)."""
    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.exited():
            raise DevStackError(
                f"{what} stopped during start-up ({_last_words(proc, log_from)}; "
                f"full log: {proc.log_file})."
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):  # not listening yet, or 503 for now
            pass
        time.sleep(0.2)
    raise DevStackError(
        f"{what} did not answer {url} within {SERVICE_START_TIMEOUT_S:.0f} s; see {proc.log_file}."
    )


def _log_size(proc: ManagedProcess) -> int:
    try:
        return proc.log_file.stat().st_size
    except OSError:
        return 0


def _last_words(proc: ManagedProcess, log_from: int) -> str:
    """Why a Python part stopped: the message of the last error line it logged since
    ``log_from`` (its logs are JSON lines), else the end of its log."""
    try:
        with proc.log_file.open("rb") as log:
            log.seek(log_from)
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
            info = proc.info() or {}
            code = EXIT_STATUS.get(int(info.get("pid", -1)))
            status = f"exit status {code}: " if code is not None else ""
            return status + str(entry.get("msg", ""))[:400]
    return proc.log_tail()


def _python_mark(role: str) -> str:
    return f"hl7bus.dev.role={role}"


def _server_properties(s: DevStackSettings, data: Path) -> str:
    host = s.host
    return "\n".join(
        [
            "# Written by `hl7bus dev up`: one KRaft node, broker and controller in one process.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{s.controller_port}",
            f"listeners=PLAINTEXT://{host}:{s.kafka_port},CONTROLLER://{host}:{s.controller_port}",
            f"advertised.listeners=PLAINTEXT://{host}:{s.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data}",
            f"num.partitions={s.partitions}",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=3",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "num.network.threads=2",
            "num.io.threads=4",
            "log.retention.hours=-1",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def _cluster_id() -> str:
    """A random KRaft cluster id (Kafka's base64 UUID form) that no argument parser can take
    for an option: it never starts with '-'."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _require_free_port(host: str, port: int, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: connections still in TIME_WAIT do not make a port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise DevStackError(
                f"Port {port} on {host} is already in use by another program; stop it or "
                f"choose another port with {setting}."
            ) from None

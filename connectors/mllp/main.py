"""``hl7bus connector mllp``: the MLLP listener as a process.

With ``HL7BUS_MLLP_WORKERS=N`` (N > 1) the process is a supervisor of N worker processes
that each listen on the same port (``SO_REUSEPORT``: the kernel spreads connections over
them, and a connection stays in the worker that accepted it, so per-connection order
holds); each worker has its own producer.  The supervisor forwards SIGTERM/SIGINT to the
workers, waits for them to drain, and restarts a worker that dies on its own once it has
listened (one that dies before — Kafka, the registry or the port unusable — stops them all).

It says "listening" once every port is bound: the MLLP port and the metrics port, and
with workers, those of every worker.  What keeps it from starting is one sentence (a JSON
log line at level error) and exit status 1.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import socket
import sys
import time
from typing import Any

from hl7bus import logs
from hl7bus.connectors.mllp.server import MllpServer, run
from hl7bus.errors import Hl7BusError, cannot_listen
from hl7bus.ingest import setup
from hl7bus.kafka.clients import BrokerWatch, require_reachable
from hl7bus.kafka.producer import KafkaStore
from hl7bus.kafka.serde import registry_errors
from hl7bus.logs import fields
from hl7bus.metrics import ConnectorMetrics
from hl7bus.settings import KafkaSettings, MllpSettings, RegistrySettings

log = logging.getLogger("hl7bus.mllp")

RESTART_DELAY_S = 1.0


def _raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(settings: MllpSettings, kafka: KafkaSettings, registry: RegistrySettings) -> int:
    logs.setup()
    _raise_open_files_limit(settings.max_connections + 256)
    if settings.workers > 1:
        return supervise(settings, kafka, registry)
    return serve(settings, kafka, registry)


def serve(
    settings: MllpSettings,
    kafka: KafkaSettings,
    registry: RegistrySettings,
    worker: int | None = None,
    listening: Any = None,
) -> int:
    """One listener with its own producer, until SIGTERM or SIGINT; ``listening.set()``
    is called once it listens."""
    with registry_errors(registry):
        ingestor = setup.ingestor(kafka, registry, settings.profiles)
    require_reachable(kafka)
    client_id = f"hl7bus-mllp-{settings.name}" + (f"-{worker}" if worker is not None else "")
    store = KafkaStore(kafka, timeout_s=settings.store_timeout_s, client_id=client_id)
    metrics = ConnectorMetrics(f"mllp:{settings.name}")
    server = (
        MllpServer(settings, ingestor, store, metrics)
        if listening is None
        else _WorkerServer(settings, ingestor, store, metrics, listening)
    )
    watch = BrokerWatch(kafka, metrics.set_kafka_reachable)
    watch.start()
    try:
        asyncio.run(run(server, settings.metrics_host, settings.metrics_port))
    finally:
        watch.stop()
    return 0


class _WorkerServer(MllpServer):
    """A worker's listener: tells the supervisor once it listens (the supervisor says
    "listening" once every worker does)."""

    def __init__(
        self,
        settings: MllpSettings,
        ingestor: Any,
        store: KafkaStore,
        metrics: ConnectorMetrics,
        listening: Any,
    ) -> None:
        super().__init__(settings, ingestor, store, metrics)
        self._listening = listening

    def announce(self) -> None:
        log.info(
            "worker listening",
            extra=fields(port=self.port, metrics_port=self.settings.metrics_port),
        )
        self._listening.set()


# -- several workers ---------------------------------------------------------------------


def _worker_settings(settings: MllpSettings, index: int) -> MllpSettings:
    metrics_port = settings.metrics_port
    if metrics_port:  # None or 0 stay as they are
        metrics_port += index
    return settings.model_copy(update={"metrics_port": metrics_port})


def _worker(
    settings: MllpSettings,
    kafka: KafkaSettings,
    registry: RegistrySettings,
    index: int,
    listening: Any,
) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):  # the supervisor's handlers are not ours
        signal.signal(sig, signal.SIG_DFL)
    try:
        code = serve(settings, kafka, registry, worker=index, listening=listening)
    except Hl7BusError as exc:
        log.error(str(exc), extra=fields(worker=index))
        code = 1
    sys.exit(code)


def _reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) SO_REUSEPORT socket on ``port`` (a free one when 0), held
    while the workers run: a port in use is found once, before any worker starts, and
    with port 0 every worker listens on the same port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise cannot_listen(exc, "MLLP", host, port, "--port or HL7BUS_MLLP_PORT") from None
    return sock


def supervise(settings: MllpSettings, kafka: KafkaSettings, registry: RegistrySettings) -> int:
    """Run ``settings.workers`` worker processes on one port; forward SIGTERM/SIGINT."""
    reserved = _reserve_port(settings.host, settings.port)
    settings = settings.model_copy(update={"port": reserved.getsockname()[1]})
    # fork: this process has started no thread and opened no Kafka client yet.
    context = multiprocessing.get_context("fork")
    # index -> (process, set once it listens)
    workers: dict[int, tuple[multiprocessing.process.BaseProcess, Any]] = {}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process, _listening in workers.values():
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signum)

    def start(index: int) -> None:
        listening = context.Event()
        process = context.Process(
            target=_worker,
            name=f"mllp-worker-{index}",
            args=(_worker_settings(settings, index), kafka, registry, index, listening),
        )
        process.start()
        workers[index] = (process, listening)
        log.info("worker started", extra=fields(worker=index, pid=process.pid, port=settings.port))

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    for index in range(settings.workers):
        if not stopping:
            start(index)
    if stopping:
        on_signal(signal.SIGTERM, None)
    code = 0
    stop_deadline: float | None = None
    announced = False
    try:
        while workers:
            multiprocessing.connection.wait(
                [p.sentinel for p, _ in workers.values()], timeout=1.0 if announced else 0.1
            )
            if not announced and not stopping and all(e.is_set() for _, e in workers.values()):
                announced = True
                log.info(
                    "listening",
                    extra=fields(
                        host=settings.host,
                        port=settings.port,
                        connector=f"mllp:{settings.name}",
                        workers=settings.workers,
                        tls=settings.tls_cert is not None,
                    ),
                )
            if stopping and stop_deadline is None:
                # drain, then the producer's last flush (10 s), and some slack
                stop_deadline = time.monotonic() + settings.drain_timeout_s + 20.0
            if stop_deadline is not None and time.monotonic() > stop_deadline:
                for process, _listening in workers.values():
                    if process.exitcode is None:
                        log.error("worker did not stop: killed", extra=fields(pid=process.pid))
                        process.kill()
            for index, (process, listening) in list(workers.items()):
                if process.exitcode is None:
                    continue
                del workers[index]
                if stopping:  # killed by the signal it was sent before it could drain: fine
                    if process.exitcode not in (-signal.SIGTERM, -signal.SIGINT):
                        code = max(code, abs(process.exitcode))
                    continue
                log.error(
                    "worker exited",
                    extra=fields(worker=index, pid=process.pid, exit_code=process.exitcode),
                )
                if not listening.is_set():  # it could not start: a restart would fail too
                    code = max(code, abs(process.exitcode), 1)
                    on_signal(signal.SIGTERM, None)
                    continue
                time.sleep(RESTART_DELAY_S)
                if not stopping:
                    start(index)
    finally:
        reserved.close()  # held (bound, never listening) until the end
    log.info("workers stopped", extra=fields(exit_code=code))
    return code

"""``hl7bus connector files DIR``: the file connector as a process."""

from __future__ import annotations

import asyncio
import logging
import signal

from hl7bus import logs
from hl7bus.connectors.files import folder
from hl7bus.connectors.files.connector import FileConnector
from hl7bus.connectors.files.delivery import FileDelivery
from hl7bus.errors import Hl7BusError
from hl7bus.ingest import setup
from hl7bus.kafka.clients import BrokerWatch, broker_answers
from hl7bus.kafka.producer import KafkaStore
from hl7bus.kafka.serde import registry_errors
from hl7bus.logs import fields
from hl7bus.metrics import ConnectorMetrics, serve_http
from hl7bus.settings import FileSettings, KafkaSettings, RegistrySettings

log = logging.getLogger("hl7bus.files")


def main(settings: FileSettings, kafka: KafkaSettings, registry: RegistrySettings) -> int:
    """Run until SIGTERM; what keeps it from starting (the folder, the registry, the
    metrics port) is an :class:`~hl7bus.errors.Hl7BusError` of one sentence.  Without
    Kafka it starts all the same: files wait in the folder, and ``/healthz`` says 503,
    until Kafka answers."""
    logs.setup()
    if not settings.directory.is_dir():
        raise Hl7BusError(f"the pickup folder {settings.directory} does not exist")
    folder.prepare(settings.directory)
    connector = f"files:{settings.name}"
    with registry_errors(registry):
        ingestor = setup.ingestor(kafka, registry, settings.profiles)
    reachable = broker_answers(kafka, timeout_s=5)
    if not reachable:
        log.error(
            "kafka unreachable: files wait in the folder until it answers",
            extra=fields(bootstrap_servers=kafka.bootstrap_servers),
        )
    store = KafkaStore(
        kafka, timeout_s=settings.store_timeout_s, client_id=f"hl7bus-files-{settings.name}"
    )
    metrics = ConnectorMetrics(connector)
    metrics.set_kafka_reachable(reachable)
    delivery = FileDelivery(ingestor, store, metrics, connector, settings.max_message_bytes)
    watch = BrokerWatch(kafka, metrics.set_kafka_reachable, reachable=reachable)
    watch.start()
    try:
        asyncio.run(run(FileConnector(settings, delivery, metrics), store))
    finally:
        watch.stop()
    return 0


async def run(connector: FileConnector, store: KafkaStore) -> None:
    """Pick up files until SIGTERM or SIGINT, then finish the file in hand and flush."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, connector.stop)
    settings = connector.settings
    http = None
    if settings.metrics_port is not None:
        http = await serve_http(
            settings.metrics_host,
            settings.metrics_port,
            connector.metrics.registry,
            connector.health,
            setting="--metrics-port or HL7BUS_FILES_METRICS_PORT",
        )
        log.info(
            "metrics and health",
            extra=fields(url=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"),
        )
    await connector.run()
    if http is not None:
        http.close()
    left = await asyncio.to_thread(store.close, 10.0)
    log.info("stopped", extra=fields(connector=connector.connector, undelivered=left))

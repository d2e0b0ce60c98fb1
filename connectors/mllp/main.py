"""``hl7bus connector mllp``: the MLLP listener as a process."""

from __future__ import annotations

import asyncio
import resource

from hl7bus import logs, wiring
from hl7bus.connectors.mllp.server import MllpServer, run
from hl7bus.metrics import ConnectorMetrics
from hl7bus.settings import KafkaSettings, MllpSettings, RegistrySettings
from hl7bus.store import KafkaStore


def _raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(settings: MllpSettings, kafka: KafkaSettings, registry: RegistrySettings) -> int:
    logs.setup()
    _raise_open_files_limit(settings.max_connections + 256)
    ingestor = wiring.ingestor(kafka, registry, settings.profiles)
    store = KafkaStore(kafka, timeout_s=settings.store_timeout_s,
                       client_id=f"hl7bus-mllp-{settings.name}")
    server = MllpServer(settings, ingestor, store, ConnectorMetrics(f"mllp:{settings.name}"))
    asyncio.run(run(server, settings.metrics_host, settings.metrics_port))
    return 0

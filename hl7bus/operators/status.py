"""Every part of the bus in one list (``hl7bus status``): its health, address and version.

Kafka and the registry are those of the settings (``HL7BUS_KAFKA_*``, ``HL7BUS_REGISTRY_*``);
the connector and services are the local stack's (``hl7bus dev``, ``HL7BUS_DEV_*``), each
asked at its ``/healthz``: ``up`` (200), ``unhealthy`` (it answers, but not 200: its
``detail`` says what it lacks), ``down`` (it runs but does not answer) or ``stopped``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from hl7bus.settings import DevStackSettings, KafkaSettings, RegistrySettings

HTTP_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    address: str
    state: str
    version: str | None
    pid: int | None
    detail: str | None

    @property
    def up(self) -> bool:
        return self.state == "up"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hl7bus_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hl7bus")
    except PackageNotFoundError:
        return None


def _get(url: str) -> tuple[int | None, str]:
    """The HTTP status and body of ``url`` (None: no answer, and why)."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, answer.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536).decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))


def _kafka(kafka: KafkaSettings, dev: DevStackSettings, pid: int | None) -> Component:
    from confluent_kafka import KafkaException

    from hl7bus.operators.bus import admin_client

    where = kafka.bootstrap_servers
    ours = pid if where == dev.bootstrap_servers else None
    version = dev.kafka_version if ours else None
    try:
        cluster = admin_client(kafka).list_topics(timeout=5)
    except KafkaException:
        return Component("Kafka", where, "down" if ours else "stopped", version, ours, None)
    brokers = len(cluster.brokers)
    detail = f"cluster {cluster.cluster_id}, {brokers} broker{'s' * (brokers != 1)}"
    return Component("Kafka", where, "up", version, ours, detail)


def _registry(registry: RegistrySettings, dev: DevStackSettings, pid: int | None) -> Component:
    url = registry.url
    status, body = _get(f"{url.rstrip('/')}/config")
    ours = pid if url == dev.registry_url else None
    if status != 200:
        state = (
            "stopped" if status is None and not ours else "down" if status is None else "unhealthy"
        )
        return Component("Registry", url, state, None, ours, body[:200] or None)
    version = None
    if "/apis/" in url:  # Apicurio says its version at its own API
        info_status, info = _get(url.split("/apis/")[0] + "/apis/registry/v3/system/info")
        if info_status == 200:
            version = json.loads(info).get("version")
    return Component("Registry", url, "up", version, ours, None)


def _service(name: str, address: str, health: str, pid: int | None) -> Component:
    status, body = _get(health)
    if status is None:
        state = "down" if pid else "stopped"
        return Component(name, address, state, None, pid, None if state == "stopped" else body)
    if status == 200:
        return Component(name, address, "up", hl7bus_version() if pid else None, pid, None)
    return Component(name, address, "unhealthy", None, pid, body[:200])


def status(
    kafka: KafkaSettings, registry: RegistrySettings, dev: DevStackSettings | None = None
) -> list[Component]:
    """Kafka, the registry, the MLLP connector, the timeline and alerts services and the web
    front door, in that order.  A part's version is known where the local stack runs it
    (the hl7bus installed here, the Kafka it fetched) or where it says it (the registry)."""
    from hl7bus.devstack.stack import LocalStack

    dev = dev or DevStackSettings()
    stack = LocalStack(dev).status()
    pids = stack.pids
    base = f"http://{dev.host}"
    checks = [
        lambda: _kafka(kafka, dev, pids["kafka"]),
        lambda: _registry(registry, dev, pids["registry"]),
        lambda: _service(
            "MLLP", stack.mllp, f"{base}:{dev.mllp_metrics_port}/healthz", pids["mllp"]
        ),
        lambda: _service(
            "Timeline",
            f"{base}:{dev.timeline_metrics_port}",
            f"{base}:{dev.timeline_metrics_port}/healthz",
            pids["timeline"],
        ),
        lambda: _service(
            "Alerts",
            f"{base}:{dev.alerts_metrics_port}",
            f"{base}:{dev.alerts_metrics_port}/healthz",
            pids["alerts"],
        ),
        lambda: _service("Web", stack.web_url, f"{stack.web_url}/healthz", pids["web"]),
    ]
    with ThreadPoolExecutor(len(checks)) as pool:
        return list(pool.map(lambda check: check(), checks))

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
    figures: dict[str, dict[str, int]] | None = None
    """A connector's counts since it started: messages by ACK code, dead letters by error,
    messages stored without events by type."""

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


def _get(url: str, limit: int = 65536) -> tuple[int | None, str]:
    """The HTTP status and body of ``url`` (None: no answer, and why)."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:
            return answer.status, answer.read(limit).decode("utf-8", "replace")
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


FIGURES = {
    "hl7bus_messages_total": ("messages", "ack"),
    "hl7bus_rejected_total": ("dead_letters", "error"),
    "hl7bus_messages_without_events_total": ("without_events", "type"),
}


def connector_figures(text: str) -> dict[str, dict[str, int]]:
    """Pure.  What a connector's ``/metrics`` text counts (summed over its connectors):
    messages by ACK code, dead letters by error, messages without events by type; the
    zeros left out."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, dict[str, int]] = {name: {} for name, _ in FIGURES.values()}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in FIGURES and sample.value > 0:
                name, label = FIGURES[sample.name]
                value = sample.labels.get(label, "?")
                found[name][value] = found[name].get(value, 0) + int(sample.value)
    return found


def figures_detail(figures: dict[str, dict[str, int]]) -> str | None:
    """Pure.  The figures in a few words, for the status table."""

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))

    parts = []
    if figures.get("messages"):
        parts.append(f"messages {listed(figures['messages'])}")
    if figures.get("dead_letters"):
        parts.append(f"dead letters {listed(figures['dead_letters'])}")
    if figures.get("without_events"):
        parts.append(f"without events {listed(figures['without_events'])}")
    return " · ".join(parts) or None


def _connector(address: str, base: str, pid: int | None) -> Component:
    """The MLLP connector, with what it counted since it started."""
    found = _service("MLLP", address, f"{base}/healthz", pid)
    if found.state not in ("up", "unhealthy"):
        return found
    status, text = _get(f"{base}/metrics", limit=1 << 22)
    if status != 200:
        return found
    try:
        figures = connector_figures(text)
    except ValueError:
        return found
    detail = "; ".join(x for x in (found.detail, figures_detail(figures)) if x) or None
    return Component(found.name, address, found.state, found.version, pid, detail, figures)


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
        lambda: _connector(stack.mllp, f"{base}:{dev.mllp_metrics_port}", pids["mllp"]),
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

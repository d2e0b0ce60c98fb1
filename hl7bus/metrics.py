"""Prometheus metrics and the ``/healthz`` + ``/metrics`` HTTP endpoint of every part."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ConnectorMetrics:
    """What a connector counts; one registry per connector instance."""

    def __init__(self, connector: str) -> None:
        self.registry = CollectorRegistry()
        labels = ["connector"]
        r = self.registry
        self.messages = Counter(
            "hl7bus_messages", "Messages answered, by ACK code", [*labels, "ack"], registry=r
        )
        self.rejected = Counter(
            "hl7bus_rejected",
            "Messages sent to the dead-letter topic, by error",
            [*labels, "error"],
            registry=r,
        )
        self.events = Counter("hl7bus_events", "Clinical events produced", labels, registry=r)
        self.store_failures = Counter(
            "hl7bus_store_failures", "Messages Kafka did not take in time", labels, registry=r
        )
        self.internal_errors = Counter(
            "hl7bus_internal_errors",
            "Messages that failed with an internal error (a bug): dead-lettered and rejected",
            labels,
            registry=r,
        )
        self.skipped_bytes = Counter(
            "hl7bus_mllp_skipped_bytes", "Bytes outside any MLLP frame", labels, registry=r
        )
        self.oversized = Counter(
            "hl7bus_mllp_oversized", "Frames over the size limit", labels, registry=r
        )
        self.timeouts = Counter(
            "hl7bus_mllp_timeouts",
            "Connections closed for silence, by kind",
            [*labels, "kind"],
            registry=r,
        )
        self.refused = Counter(
            "hl7bus_mllp_refused_connections",
            "Connections refused at the connection limit",
            labels,
            registry=r,
        )
        self.connections = Gauge("hl7bus_mllp_connections", "Open connections", labels, registry=r)
        self.ack_latency = Histogram(
            "hl7bus_ack_latency_seconds",
            "From a message's last byte to its ACK",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.connector = connector

    def label(self, metric, **labels):  # type: ignore[no-untyped-def]
        return metric.labels(connector=self.connector, **labels)


async def serve_http(
    host: str, port: int, registry: CollectorRegistry, health: Callable[[], dict]
) -> asyncio.base_events.Server:
    """``GET /metrics`` (Prometheus text format) and ``GET /healthz`` (JSON; 503 when unhealthy)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = request.split(b" ", 2)[1].decode("latin-1") if b" " in request else "/"
            if path.startswith("/metrics"):
                status, kind, body = 200, CONTENT_TYPE_LATEST, generate_latest(registry)
            elif path.startswith("/healthz"):
                state = health()
                status = 200 if state.get("ok") else 503
                kind, body = "application/json", json.dumps(state).encode()
            else:
                status, kind, body = 404, "text/plain", b"not found\n"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ConnectionError,
            IndexError,
        ):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)

"""Prometheus metrics and the ``/healthz`` + ``/metrics`` HTTP endpoint of every part.

Every series a part can have exists from its start, at 0 — each known value of each
label (ACK codes, error codes, ...) — so that an alert on a rate of errors has a series
to watch before the first error.  ``error`` labels are short codes (``not_hl7``).

A connector also counts per sender (``hl7bus_sender_*``), a sender being MSH-3 ``^`` MSH-4
as the sender profiles match them (``LABSTAR^NORTHWIND``): those series begin with each
sender's first message.  A sender is a label, not data: cut to
:data:`MAX_SENDER_CHARS` printable ASCII characters, ``unknown`` when the header names
none, and ``other`` beyond the first :data:`MAX_SENDERS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hl7bus.errors import ErrorCode, cannot_listen
from hl7bus.hl7.header import Header
from hl7bus.logs import fields
from hl7bus.mllp.ack import AckCode

log = logging.getLogger("hl7bus.metrics")

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# Codes a dead letter can carry (a store failure is no dead letter: the sender resends).
DEAD_LETTER_CODES = tuple(code for code in ErrorCode if code is not ErrorCode.STORE_FAILED)
TIMEOUT_KINDS = ("idle", "read", "frame")
MAX_TYPES_COUNTED = 100
"""Message types counted each under their own label; more (a sender inventing types) are
counted under ``other``, so that no sender can make the series grow without bound."""
MAX_SENDERS = 200
"""Senders counted each under their own label; more (a peer inventing MSH-3/MSH-4) are
counted under ``other``, and the first of them is logged."""
MAX_SENDER_CHARS = 64
UNKNOWN_SENDER = "unknown"
OTHER_SENDERS = "other"
NO_ACK = "none"
"""The ``ack`` of a sender's message that gets no ACK: the files connector's."""


def sender_label(header: Header) -> str:
    """The sender of a message as a label: MSH-3 and MSH-4 as the sender profiles match
    them (``LABSTAR^NORTHWIND``), printable ASCII only, at most :data:`MAX_SENDER_CHARS`
    characters; ``unknown`` when the header names no sender."""
    label = "^".join(
        "".join(c for c in part if " " <= c <= "~").strip()
        for part in (header.sending_application, header.sending_facility)
    )
    return label[:MAX_SENDER_CHARS] if label != "^" else UNKNOWN_SENDER


def start_at_zero(metric, connector: str, label: str | None = None, values: Iterable[str] = ()):  # type: ignore[no-untyped-def]
    """Create ``metric``'s series for ``connector`` (one per value of ``label``) at 0."""
    if label is None:
        metric.labels(connector=connector)
        return
    for value in values:
        metric.labels(connector=connector, **{label: value})


class ConnectorMetrics:
    """What a connector counts; one registry per connector instance.  It also knows
    whether Kafka is reachable (:meth:`set_kafka_reachable`), for ``/healthz``."""

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
        self.without_events = Counter(
            "hl7bus_messages_without_events",
            "Well-formed messages stored without events (no mapper for their type), by type",
            [*labels, "type"],
            registry=r,
        )
        self._types_counted: set[str] = set()
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
        self.kafka_up = Gauge(
            "hl7bus_kafka_reachable",
            "1 while a Kafka broker answers the connector, 0 while none does",
            labels,
            registry=r,
        )
        self.sender_messages = Counter(
            "hl7bus_sender_messages",
            "Messages of each sender (MSH-3^MSH-4), by ACK code ('none': no ACK, a file's)",
            [*labels, "sender", "ack"],
            registry=r,
        )
        self.sender_rejected = Counter(
            "hl7bus_sender_rejected",
            "Messages of each sender sent to the dead-letter topic, by error",
            [*labels, "sender", "error"],
            registry=r,
        )
        self.sender_last = Gauge(
            "hl7bus_sender_last_message_timestamp_seconds",
            "When each sender's last message was handled (seconds since 1970)",
            [*labels, "sender"],
            registry=r,
        )
        self._senders_counted: set[str] = set()
        self.connector = connector
        self._kafka_reachable = True
        self.kafka_up.labels(connector=connector).set(1)
        start_at_zero(self.messages, connector, "ack", (code.value for code in AckCode))
        start_at_zero(self.rejected, connector, "error", (c.label for c in DEAD_LETTER_CODES))
        start_at_zero(self.timeouts, connector, "kind", TIMEOUT_KINDS)
        start_at_zero(self.without_events, connector, "type", ("other",))
        for metric in (
            self.events,
            self.store_failures,
            self.internal_errors,
            self.skipped_bytes,
            self.oversized,
            self.refused,
            self.connections,
            self.ack_latency,
        ):
            start_at_zero(metric, connector)

    def label(self, metric, **labels):  # type: ignore[no-untyped-def]
        return metric.labels(connector=self.connector, **labels)

    def rejected_for(self, code: ErrorCode):  # type: ignore[no-untyped-def]
        """The dead-letter counter of one error code."""
        return self.rejected.labels(connector=self.connector, error=code.label)

    def answered(self, code: AckCode, header: Header) -> None:
        """One message with ``header`` was answered ``code``: counted by its code, and for
        its sender."""
        self.label(self.messages, ack=code.value).inc()
        self.from_sender(header, code.value)

    def from_sender(self, header: Header, ack: str = NO_ACK) -> None:
        """One message with ``header`` was handled (answered ``ack``): counted for its
        sender, whose last message it is."""
        sender = self.sender(header)
        self.label(self.sender_messages, sender=sender, ack=ack).inc()
        self.label(self.sender_last, sender=sender).set_to_current_time()

    def sender(self, header: Header) -> str:
        """The ``sender`` label of a message with ``header``: ``other`` once
        :data:`MAX_SENDERS` senders have their own."""
        sender = sender_label(header)
        if sender in self._senders_counted or sender == UNKNOWN_SENDER:
            return sender
        if len(self._senders_counted) < MAX_SENDERS:
            self._senders_counted.add(sender)
            return sender
        if OTHER_SENDERS not in self._senders_counted:
            self._senders_counted.add(OTHER_SENDERS)
            log.warning(
                "more senders than are counted each on their own: the rest count as other",
                extra=fields(connector=self.connector, limit=MAX_SENDERS),
            )
        return OTHER_SENDERS

    def dead_lettered(self, code: ErrorCode, header: Header) -> None:
        """One message with ``header`` went to the dead-letter topic with ``code``: counted
        by its error (for the connector and for its sender), and as oversized or as an
        internal error when it is one."""
        self.rejected_for(code).inc()
        self.label(self.sender_rejected, sender=self.sender(header), error=code.label).inc()
        if code is ErrorCode.MESSAGE_TOO_LARGE:
            self.label(self.oversized).inc()
        elif code is ErrorCode.INTERNAL:
            self.label(self.internal_errors).inc()

    def stored_without_events(self, kind: str) -> None:
        """One well-formed message of type ``kind`` (``QBP^Q22``) was stored with no event."""
        if kind not in self._types_counted:
            if len(self._types_counted) >= MAX_TYPES_COUNTED:
                kind = "other"
            else:
                self._types_counted.add(kind)
        self.label(self.without_events, type=kind).inc()

    def set_kafka_reachable(self, reachable: bool) -> None:
        """Kafka became reachable or unreachable (``BrokerWatch`` of hl7bus.kafka.clients)."""
        self._kafka_reachable = reachable
        self.label(self.kafka_up).set(1 if reachable else 0)

    def health(self, ok: bool, **state: object) -> dict:
        """The ``/healthz`` answer: ok only when the part itself is (``ok``) and Kafka is
        reachable."""
        kafka = "reachable" if self._kafka_reachable else "unreachable"
        return {"ok": ok and self._kafka_reachable, "kafka": kafka, **state}


async def serve_http(
    host: str,
    port: int,
    registry: CollectorRegistry,
    health: Callable[[], dict],
    setting: str = "its metrics port setting",
) -> asyncio.base_events.Server:
    """``GET /metrics`` (Prometheus text format) and ``GET /healthz`` (JSON; 503 when unhealthy).

    A port that cannot be listened on is a :class:`~hl7bus.errors.ConfigError` that names
    it and ``setting``, where another one is chosen."""

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

    try:
        return await asyncio.start_server(handle, host, port)
    except OSError as exc:
        raise cannot_listen(exc, "/metrics and /healthz", host, port, setting) from None


def serve_in_thread(host: str, port: int, metrics: Any, setting: str) -> Callable[[], None]:
    """``/metrics`` and ``/healthz`` of a service (``metrics`` has ``registry`` and
    ``health()``) from a thread of their own; returns how to stop them."""

    loop = asyncio.new_event_loop()
    ready: list[Any] = []
    failed: list[BaseException] = []
    started = threading.Event()

    async def start() -> None:
        try:
            ready.append(await serve_http(host, port, metrics.registry, metrics.health, setting))
        except BaseException as exc:
            failed.append(exc)
        finally:
            started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        if ready:
            loop.run_forever()

    thread = threading.Thread(target=run, name="metrics", daemon=True)
    thread.start()
    started.wait(10)
    if failed:
        raise failed[0]

    def stop() -> None:
        if ready:
            ready[0].close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    return stop

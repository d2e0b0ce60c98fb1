"""The access audit: every request for a patient's data — answered or refused — is one
``AccessAudit`` record on ``audit.access`` (key: the user's name), for security review.

Records go to Kafka through an idempotent producer (``acks=all``) without holding up the
request.  The audit fails closed: while any record has waited longer than
``HL7BUS_WEB_AUDIT_TIMEOUT_S`` (5 s) for Kafka's acknowledgement — Kafka is unreachable, or
too slow — or the producer's queue is full, :meth:`AuditLog.check` refuses, and the API
answers 503 ``audit_unavailable`` instead of serving patient data.  Records Kafka refused
are produced again until it takes them; none is dropped while the process runs, and what
is still unacknowledged when it stops is counted in the log.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hl7bus.errors import Hl7BusError
from hl7bus.kafka.clients import producer_config
from hl7bus.kafka.serde import wire_writer
from hl7bus.logs import fields
from hl7bus.settings import KafkaSettings

log = logging.getLogger("hl7bus.web.audit")


@dataclass(frozen=True, slots=True)
class Access:
    """One request for patient data, as the audit keeps it."""

    user: str
    role: str
    endpoint: str  # the route template, e.g. /api/v1/patients/{patient_key}
    path: str
    status: int
    patient_keys: tuple[str, ...] = ()
    method: str = "GET"
    query: Mapping[str, str] = field(default_factory=dict)
    client_address: str | None = None
    user_agent: str | None = None
    error: str | None = None
    entries: int | None = None
    accessed_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds")
    )


def access_record(access: Access) -> dict[str, Any]:
    """The ``AccessAudit`` record of one access (``schemas/access_audit.avsc``)."""
    return {
        "audit_id": str(uuid.uuid4()),
        "user": access.user,
        "role": access.role,
        "patient_keys": list(dict.fromkeys(access.patient_keys)),
        "endpoint": access.endpoint,
        "method": access.method,
        "path": access.path,
        "query": dict(access.query),
        "accessed_at": access.accessed_at,
        "client_address": access.client_address,
        "user_agent": access.user_agent,
        "status": access.status,
        "error": access.error,
        "entries": access.entries,
    }


@dataclass(slots=True)
class AuditNote:
    """What one request has read so far, filled in while it is handled and written when
    its answer starts."""

    user: str
    role: str
    patient_keys: list[str] = field(default_factory=list)
    entries: int | None = None
    error: str | None = None

    def read(self, *keys: str | None) -> None:
        self.patient_keys.extend(k for k in keys if k and k not in self.patient_keys)


class AuditUnavailable(Hl7BusError):
    """The audit cannot take records now: patient data is not served until it can."""


@dataclass(slots=True)
class _Pending:
    since: float  # when the record was first handed to the producer
    key: bytes
    value: bytes
    failed: bool = False  # Kafka refused it: produce it again


class AuditLog:
    """Writes access records to the audit topic and knows whether Kafka keeps up."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        schema_id: int,
        *,
        timeout_s: float = 5.0,
        queue_limit: int = 100_000,
    ) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.timeout_s = timeout_s
        config = producer_config(kafka, linger_ms=5, delivery_timeout_ms=30_000)
        config["client.id"] = f"{kafka.client_id}-web-audit"
        config["queue.buffering.max.messages"] = queue_limit
        self._producer = Producer(config)
        self._encode = wire_writer("AccessAudit", schema_id)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._next = 0
        self.delivered = 0
        self.refused = 0  # deliveries Kafka refused (each produced again)
        self._running = True
        self._poller = threading.Thread(target=self._poll, name="audit-delivery", daemon=True)
        self._poller.start()

    # -- the request side --------------------------------------------------------------------

    def check(self) -> None:
        """Refuse (:class:`AuditUnavailable`) while a record has waited too long for Kafka."""
        oldest = self.oldest_wait_s()
        if oldest > self.timeout_s:
            raise AuditUnavailable(
                f"The access audit cannot be written now (Kafka has not acknowledged it for "
                f"{oldest:.0f} s); patient data is served again once it can."
            )

    def ready(self) -> bool:
        return self.oldest_wait_s() <= self.timeout_s

    def write(self, access: Access) -> None:
        """Hand one access record to the producer; it reaches Kafka in the background.
        :class:`AuditUnavailable` when the producer's queue is full."""
        value = self._encode(access_record(access))
        key = access.user.encode()
        with self._lock:
            number = self._next
            self._next += 1
            self._pending[number] = _Pending(time.monotonic(), key, value)
        try:
            self._produce(number, key, value)
        except BufferError:
            with self._lock:
                del self._pending[number]
            raise AuditUnavailable(
                "The access audit cannot be written now (its queue to Kafka is full); "
                "patient data is served again once it drains."
            ) from None

    def oldest_wait_s(self) -> float:
        """How long the oldest record still unacknowledged has waited (0 when none)."""
        with self._lock:
            if not self._pending:
                return 0.0
            oldest = min(p.since for p in self._pending.values())
        return time.monotonic() - oldest

    @property
    def backlog(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- the Kafka side ----------------------------------------------------------------------

    def _produce(self, number: int, key: bytes, value: bytes) -> None:
        self._producer.produce(
            self.topic, value, key, on_delivery=lambda err, _msg: self._settled(number, err)
        )

    def _settled(self, number: int, err: Any) -> None:
        """A delivery report (in the polling thread)."""
        with self._lock:
            pending = self._pending.get(number)
            if pending is None:
                return
            if err is None:
                del self._pending[number]
                self.delivered += 1
                return
            pending.failed = True
            self.refused += 1
        log.error(
            "kafka refused an access-audit record; producing it again",
            extra=fields(topic=self.topic, reason=err.str()),
        )

    def _retry_refused(self) -> None:
        with self._lock:
            again = [(n, p) for n, p in self._pending.items() if p.failed]
        for number, pending in again:
            try:
                self._produce(number, pending.key, pending.value)
            except BufferError:
                return
            pending.failed = False

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.05)
            self._retry_refused()

    def close(self, timeout_s: float = 10.0) -> int:
        """Flush what is queued; the number of records Kafka still has not acknowledged."""
        deadline = time.monotonic() + timeout_s
        while self.backlog and time.monotonic() < deadline:
            self._producer.flush(min(0.5, max(deadline - time.monotonic(), 0.01)))
            self._retry_refused()
        self._running = False
        self._poller.join(timeout=2)
        left = self.backlog
        if left:
            log.error(
                "access-audit records not acknowledged by Kafka at shutdown",
                extra=fields(topic=self.topic, records=left),
            )
        return left

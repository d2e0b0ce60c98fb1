"""Storing the messages of one file on Kafka with the same promises as over MLLP: each
message's raw record first, then its events, or a dead-letter record saying why it
could not be translated.  Kafka's failure (:class:`~hl7bus.store.StoreError`) is not
caught here: the file then stays in the folder and is sent again later."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from hl7bus.connectors.files.placement import MessageResult, Outcome
from hl7bus.envelope import read_envelope
from hl7bus.errors import MessageError
from hl7bus.hl7 import split_messages
from hl7bus.ingest import Ingestor, Received, too_large
from hl7bus.logs import fields
from hl7bus.metrics import ConnectorMetrics
from hl7bus.store import KafkaStore

log = logging.getLogger("hl7bus.files")

PREFIX_KEPT = 4096
"""Bytes kept of a message or file over the size limit, so that its MSH can be read."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class FileDelivery:
    def __init__(
        self,
        ingestor: Ingestor,
        store: KafkaStore,
        metrics: ConnectorMetrics,
        connector: str,
        max_message_bytes: int,
    ) -> None:
        self.ingestor = ingestor
        self.store = store
        self.metrics = metrics
        self.connector = connector
        self.max_message_bytes = max_message_bytes

    async def deliver(self, name: str, data: bytes) -> list[MessageResult]:
        """Store every message of the file, in order; what became of each."""
        return [
            await self._message(name, index, chunk)
            for index, chunk in enumerate(split_messages(data), start=1)
        ]

    async def deliver_oversized(
        self, name: str, head: bytes, size: int, limit: int
    ) -> list[MessageResult]:
        """A file over the size limit: one dead-letter record with its first bytes."""
        return [await self._too_large(name, 1, head[:PREFIX_KEPT], size, limit)]

    async def _message(self, name: str, index: int, raw: bytes) -> MessageResult:
        if len(raw) > self.max_message_bytes:
            return await self._too_large(
                name, index, raw[:PREFIX_KEPT], len(raw), self.max_message_bytes
            )
        received = Received(raw, _now(), self.connector, name)
        envelope = read_envelope(raw)
        # The raw record goes to Kafka while the message is translated in a worker thread.
        translated, (stored,) = await asyncio.gather(
            asyncio.to_thread(self.ingestor.translate, received),
            self.store.put([self.ingestor.raw_record(received, envelope)]),
        )
        if translated.error is None:
            records = self.ingestor.event_records(translated.events, stored)
            if records:
                await self.store.put(records)
            self.metrics.label(self.metrics.events).inc(len(records))
            return MessageResult(index, envelope.control_id, Outcome.TRANSLATED, len(records))
        error = translated.error
        await self.store.put([self.ingestor.dead_letter(received, envelope, error, _now(), stored)])
        self.metrics.label(self.metrics.rejected, error=error.code.text).inc()
        log.info(
            "message rejected",
            extra=fields(
                file=name,
                index=index,
                control_id=envelope.control_id,
                error=error.code.text,
                segment=error.segment,
                field=error.field,
            ),
        )
        return _rejected(index, envelope.control_id or error.control_id or "", error)

    async def _too_large(
        self, name: str, index: int, head: bytes, size: int, limit: int
    ) -> MessageResult:
        received = Received(head, _now(), self.connector, name)
        envelope = read_envelope(head)
        error = too_large(size, limit)
        await self.store.put([self.ingestor.dead_letter(received, envelope, error, _now(), None)])
        self.metrics.label(self.metrics.oversized).inc()
        self.metrics.label(self.metrics.rejected, error=error.code.text).inc()
        log.warning(
            "message over the size limit",
            extra=fields(
                file=name, index=index, size=size, limit=limit, control_id=envelope.control_id
            ),
        )
        return _rejected(index, envelope.control_id, error)


def _rejected(index: int, control_id: str, error: MessageError) -> MessageResult:
    return MessageResult(
        index, control_id, Outcome.DEAD_LETTER, 0, error.code.text, error.segment, error.field
    )

"""Storing the messages of one file on Kafka with the same promises as over MLLP: each
message's raw record first, then its events (none for a well-formed message of a type
without a mapper), or a dead-letter record saying why it could not be translated.
Kafka's failure (:class:`~hl7bus.kafka.producer.StoreError`) is not caught here: the file
then stays in the folder and is sent again later."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from hl7bus.connectors.files.placement import MessageResult, Outcome
from hl7bus.errors import ErrorCode, MessageError
from hl7bus.hl7 import split_messages
from hl7bus.hl7.header import Header, read_header
from hl7bus.ingest.delivery import after_internal_error, deliver, too_large_message
from hl7bus.ingest.records import Ingestor, Received
from hl7bus.kafka.producer import KafkaStore, StoreError
from hl7bus.logs import fields
from hl7bus.metrics import ConnectorMetrics

log = logging.getLogger("hl7bus.files")


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
        received = Received(head, _now(), self.connector, name)
        return [await self._too_large(received, read_header(head), 1, size, limit)]

    async def _message(self, name: str, index: int, raw: bytes) -> MessageResult:
        received = Received(raw, _now(), self.connector, name)
        header = read_header(raw)
        if len(raw) > self.max_message_bytes:
            return await self._too_large(received, header, index, len(raw), self.max_message_bytes)
        try:
            delivered = await deliver(self.ingestor, self.store, received, header)
        except StoreError:
            raise
        except Exception as exc:  # a bug in hl7bus: this message fails, the file goes on
            delivered = await after_internal_error(self.ingestor, self.store, received, header, exc)
        self.metrics.from_sender(header)
        error = delivered.error
        if error is None and delivered.without_events is not None:
            self.metrics.stored_without_events(delivered.without_events)
            log.info(
                "message stored without events",
                extra=fields(
                    file=name,
                    index=index,
                    control_id=header.control_id,
                    type=delivered.without_events,
                ),
            )
            return MessageResult(
                index,
                header.control_id,
                Outcome.WITHOUT_EVENTS,
                message_type=delivered.without_events,
            )
        if error is None:
            self.metrics.label(self.metrics.events).inc(delivered.events)
            return MessageResult(index, header.control_id, Outcome.TRANSLATED, delivered.events)
        self.metrics.dead_lettered(error.code, header)
        internal = error.code is ErrorCode.INTERNAL
        log.log(
            logging.ERROR if internal else logging.INFO,
            "message failed with an internal error" if internal else "message rejected",
            extra=fields(
                file=name,
                index=index,
                control_id=header.control_id,
                error=error.code.text,
                segment=error.segment,
                field=error.field,
                detail=error.detail,
            ),
        )
        return _rejected(index, header.control_id or error.control_id or "", error)

    async def _too_large(
        self, received: Received, header: Header, index: int, size: int, limit: int
    ) -> MessageResult:
        delivered = await too_large_message(
            self.ingestor, self.store, received, header, size, limit
        )
        self.metrics.from_sender(header)
        self.metrics.dead_lettered(ErrorCode.MESSAGE_TOO_LARGE, header)
        log.warning(
            "message over the size limit",
            extra=fields(
                file=received.peer,
                index=index,
                size=size,
                limit=limit,
                control_id=header.control_id,
            ),
        )
        assert delivered.error is not None
        return _rejected(index, header.control_id, delivered.error)


def _rejected(index: int, control_id: str, error: MessageError) -> MessageResult:
    return MessageResult(
        index, control_id, Outcome.DEAD_LETTER, 0, error.code.text, error.segment, error.field
    )

"""Putting records on Kafka from asyncio, and knowing when Kafka has them.

One idempotent producer (``acks=all``) is shared by every connection, so records of
many senders go out in the same batches; a background thread serves the producer's
delivery reports and resolves each record's future on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.ingest import OutRecord, Stored
from hl7bus.kafka import producer_config
from hl7bus.settings import KafkaSettings


class StoreError(MessageError):
    """Kafka did not take a record in time: the sender gets AE and resends.

    With code ``MESSAGE_TOO_LARGE`` Kafka refused the record for its size: resending
    cannot help, so the connector rejects the message instead.
    """

    def __init__(self, message: str, code: ErrorCode = ErrorCode.STORE_FAILED) -> None:
        super().__init__(code, message)


class KafkaStore:
    def __init__(self, settings: KafkaSettings, *, timeout_s: float = 10.0,
                 linger_ms: float = 0.0, client_id: str = "hl7bus") -> None:
        from confluent_kafka import Producer

        config = producer_config(settings, linger_ms=linger_ms,
                                 delivery_timeout_ms=int(max(timeout_s * 3, 30) * 1000))
        config["client.id"] = client_id
        self._producer = Producer(config)
        self.timeout_s = timeout_s
        self._running = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    async def put(self, records: Sequence[OutRecord]) -> list[Stored]:
        """Put records on Kafka; return once Kafka has acknowledged every one of them.

        Raises :class:`StoreError` when it has not within ``timeout_s``.
        """
        from confluent_kafka import KafkaError, KafkaException

        loop = asyncio.get_running_loop()
        futures = []
        deadline = time.monotonic() + self.timeout_s
        for record in records:
            future: asyncio.Future[Stored] = loop.create_future()
            callback = _callback(loop, future)
            while True:
                try:
                    self._producer.produce(record.topic, record.value, record.key,
                                           on_delivery=callback)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    if time.monotonic() > deadline:
                        raise StoreError("The Kafka producer's queue stayed full.") from None
                    await asyncio.sleep(0.005)
                except KafkaException as exc:
                    error = exc.args[0]
                    raise StoreError(f"Kafka refused the record ({error.str()}).",
                                     _code(error.code() == KafkaError.MSG_SIZE_TOO_LARGE)) from None
            futures.append(future)
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            return list(await asyncio.wait_for(asyncio.gather(*futures), remaining))
        except TimeoutError:
            raise StoreError(
                f"Kafka did not acknowledge the message within {self.timeout_s:g} s."
            ) from None

    def flush(self, timeout_s: float) -> int:
        """Wait for outstanding deliveries; the number still undelivered."""
        return self._producer.flush(timeout_s)

    def close(self, timeout_s: float = 10.0) -> int:
        left = self.flush(timeout_s)
        self._running = False
        self._poller.join(timeout=1)
        return left


def _code(too_large: bool) -> ErrorCode:
    return ErrorCode.MESSAGE_TOO_LARGE if too_large else ErrorCode.STORE_FAILED


def _callback(loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> Any:
    from confluent_kafka import KafkaError

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            loop.call_soon_threadsafe(_fail, future, err.str(),
                                      _code(err.code() == KafkaError.MSG_SIZE_TOO_LARGE))
        else:
            loop.call_soon_threadsafe(
                _resolve, future, Stored(msg.topic(), msg.partition(), msg.offset())
            )

    return delivered


def _resolve(future: asyncio.Future, stored: Stored) -> None:
    if not future.done():
        future.set_result(stored)


def _fail(future: asyncio.Future, why: str, code: ErrorCode = ErrorCode.STORE_FAILED) -> None:
    if not future.done():
        future.set_exception(StoreError(f"Kafka did not store the message ({why}).", code))

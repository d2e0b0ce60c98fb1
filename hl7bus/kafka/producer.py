"""Putting records on Kafka from asyncio, and knowing when Kafka has them.

One idempotent producer (``acks=all``) is shared by every connection, so records of
many senders go out in the same batches; a background thread serves the producer's
delivery reports and resolves each record's future on the event loop — all the reports
of one poll in one hand-over, so a batch of acknowledgements wakes the loop once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.ingest.records import OutRecord, Stored
from hl7bus.kafka.clients import producer_config
from hl7bus.settings import KafkaSettings


class StoreError(MessageError):
    """Kafka did not take a record in time: the sender's ACK says resend (AR with ERR-3
    206, ERR-4 F; see :data:`hl7bus.mllp.ack.POLICY`).

    With code ``MESSAGE_TOO_LARGE`` Kafka refused the record for its size: resending
    cannot help, so the connector rejects the message instead.
    """

    def __init__(self, message: str, code: ErrorCode = ErrorCode.STORE_FAILED) -> None:
        super().__init__(code, message)


class KafkaStore:
    def __init__(
        self,
        settings: KafkaSettings,
        *,
        timeout_s: float = 10.0,
        linger_ms: float = 0.0,
        client_id: str = "hl7bus",
    ) -> None:
        from confluent_kafka import Producer

        # linger 0: a sender waits for its ACK after each message, so any linger is added to
        # every ACK twice (raw record, then events); under load, records still share
        # requests while earlier ones are in flight (benchmarks/mllp.py).
        config = producer_config(
            settings, linger_ms=linger_ms, delivery_timeout_ms=int(max(timeout_s * 3, 30) * 1000)
        )
        config["client.id"] = client_id
        self._producer = Producer(config)
        self.timeout_s = timeout_s
        self._running = True
        # (loop, settle, args) of each delivery report served and not yet handed over
        self._reports: deque[tuple[asyncio.AbstractEventLoop, Any, tuple]] = deque()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.05)
            self._hand_over()

    def _hand_over(self) -> None:
        """Pass the delivery reports served so far to their event loops, one call each."""
        reports = self._reports
        if not reports:
            return
        batches: dict[asyncio.AbstractEventLoop, list[tuple[Any, tuple]]] = {}
        while reports:
            try:
                loop, settle, args = reports.popleft()
            except IndexError:
                break
            batches.setdefault(loop, []).append((settle, args))
        for loop, batch in batches.items():
            # RuntimeError: that loop is closed, nobody waits for these any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, batch)

    def put(self, records: Sequence[OutRecord]) -> Coroutine[Any, Any, list[Stored]]:
        """Put records on Kafka; the coroutine returned completes once Kafka has
        acknowledged every one of them, and raises :class:`StoreError` when it has not
        within ``timeout_s``.

        The records go to the producer in this call already (as far as its queue takes
        them), not when the coroutine first runs: a caller can start a put, do other work
        while Kafka's round trip runs, and then await it.
        """
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.timeout_s
        futures: list[asyncio.Future[Stored]] = []
        try:
            queued = self._produce(records, 0, loop, futures)
        except StoreError as exc:
            return _raise(exc)
        return self._acknowledged(records, queued, loop, futures, deadline)

    def _produce(
        self,
        records: Sequence[OutRecord],
        start: int,
        loop: asyncio.AbstractEventLoop,
        futures: list[asyncio.Future],
    ) -> int:
        """Hand ``records[start:]`` to the producer until its queue is full; how far it got."""
        from confluent_kafka import KafkaError, KafkaException

        for index in range(start, len(records)):
            record = records[index]
            future: asyncio.Future[Stored] = loop.create_future()
            try:
                self._producer.produce(
                    record.topic,
                    record.value,
                    record.key,
                    on_delivery=_callback(self._reports, loop, future),
                )
            except BufferError:
                return index
            except KafkaException as exc:
                error = exc.args[0]
                raise StoreError(
                    f"Kafka refused the record ({error.str()}).",
                    _code(error.code() == KafkaError.MSG_SIZE_TOO_LARGE),
                ) from None
            futures.append(future)
        return len(records)

    async def _acknowledged(
        self,
        records: Sequence[OutRecord],
        queued: int,
        loop: asyncio.AbstractEventLoop,
        futures: list[asyncio.Future],
        deadline: float,
    ) -> list[Stored]:
        while queued < len(records):  # the local queue is full: let deliveries drain it
            if time.monotonic() > deadline:
                raise StoreError("The Kafka producer's queue stayed full.")
            await asyncio.sleep(0.005)
            queued = self._produce(records, queued, loop, futures)
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            async with asyncio.timeout(remaining):
                if len(futures) == 1:
                    return [await futures[0]]
                return list(await asyncio.gather(*futures))
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
        self._hand_over()  # reports that flush() served after the poller's last round
        return left


async def _raise(exc: StoreError) -> list[Stored]:
    raise exc


def _code(too_large: bool) -> ErrorCode:
    return ErrorCode.MESSAGE_TOO_LARGE if too_large else ErrorCode.STORE_FAILED


def _callback(reports: deque, loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> Any:
    """The delivery report callback of one record: runs in the thread that polls (or
    flushes) the producer, and queues the outcome for the record's event loop."""
    from confluent_kafka import KafkaError

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            reports.append(
                (
                    loop,
                    _fail,
                    (future, err.str(), _code(err.code() == KafkaError.MSG_SIZE_TOO_LARGE)),
                )
            )
        else:
            reports.append(
                (loop, _resolve, (future, Stored(msg.topic(), msg.partition(), msg.offset())))
            )

    return delivered


def _settle_all(batch: list[tuple[Any, tuple]]) -> None:
    for settle, args in batch:
        settle(*args)


def _resolve(future: asyncio.Future, stored: Stored) -> None:
    if not future.done():
        future.set_result(stored)


def _fail(future: asyncio.Future, why: str, code: ErrorCode = ErrorCode.STORE_FAILED) -> None:
    if not future.done():
        future.set_exception(StoreError(f"Kafka did not store the message ({why}).", code))

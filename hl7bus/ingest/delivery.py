"""The bus's delivery promise for one received message, shared by every connector:
the raw record first, then the events (pointing at it; none for a well-formed message of a
type without a mapper) — or, when the message cannot be translated or is too large, a
dead-letter record with its bytes and why.  An unexpected
failure (a bug in hl7bus) while handling the message is one more reason for a dead letter,
never a crash and never a reason for the sender to resend.  Returns once
Kafka has acknowledged all of it; Kafka's failure to store it in time is a
:class:`~hl7bus.kafka.producer.StoreError` for the connector to answer (an ACK that says
resend, or a retry later)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from hl7bus.errors import ErrorCode, MessageError, internal_error
from hl7bus.hl7.header import Header
from hl7bus.ingest.records import Ingestor, Received, Stored, Translated, head_of, too_large
from hl7bus.kafka.producer import KafkaStore, StoreError
from hl7bus.logs import fields

log = logging.getLogger("hl7bus.ingest")


@dataclass(frozen=True, slots=True)
class Delivered:
    """What was stored for one message: its events, or the error it was dead-lettered with;
    ``without_events`` names the type of a message stored with no event (no mapper)."""

    events: int = 0
    error: MessageError | None = None
    without_events: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


async def dead_letter(
    ingestor: Ingestor,
    store: KafkaStore,
    received: Received,
    header: Header,
    error: MessageError,
    raw: Stored | None,
) -> Delivered:
    await store.put([ingestor.dead_letter(received, header, error, _now(), raw)])
    return Delivered(error=error)


async def after_internal_error(
    ingestor: Ingestor, store: KafkaStore, received: Received, header: Header, exc: Exception
) -> Delivered:
    """The last resort of a connector whose handling of one message failed unexpectedly
    (a bug in hl7bus): the message goes to the dead-letter topic with the internal error,
    when that can still be written.  A :class:`StoreError` is raised for the connector to
    answer as usual."""
    error = internal_error(exc)
    try:
        return await dead_letter(ingestor, store, received, header, error, None)
    except StoreError:
        raise
    except Exception as again:
        log.error(
            "dead letter not written",
            extra=fields(control_id=header.control_id, detail=type(again).__name__),
        )
        return Delivered(error=error)


async def too_large_message(
    ingestor: Ingestor,
    store: KafkaStore,
    received: Received,
    header: Header,
    size: int,
    limit: int,
) -> Delivered:
    """A message over the connector's limit: its first bytes, dead-lettered."""
    return await dead_letter(
        ingestor, store, head_of(received), header, too_large(size, limit), None
    )


async def deliver(
    ingestor: Ingestor, store: KafkaStore, received: Received, header: Header
) -> Delivered:
    """Store one message as the bus promises; see the module's docstring."""
    raw: Stored | None = None
    try:
        try:
            raw_record = ingestor.raw_record(received, header)
        except Exception as exc:  # a bug in hl7bus: the message still reaches the DLQ
            return await dead_letter(ingestor, store, received, header, internal_error(exc), None)
        raw_put = store.put([raw_record])  # on its way already
        try:
            translated = ingestor.translate(received)  # overlaps the raw record's round trip
        except Exception as exc:
            translated = Translated(error=internal_error(exc))
        (raw,) = await raw_put
        if translated.error is not None:
            return await dead_letter(ingestor, store, received, header, translated.error, raw)
        try:
            records = ingestor.event_records(translated.events, raw)
        except Exception as exc:  # an event the writer refuses: one bad message
            return await dead_letter(ingestor, store, received, header, internal_error(exc), raw)
        if records:
            await store.put(records)
        return Delivered(events=len(records), without_events=translated.without_events)
    except StoreError as exc:
        if exc.code is not ErrorCode.MESSAGE_TOO_LARGE:
            raise
        # Under the connector's limit but over Kafka's record limit: a resend cannot help.
        error = MessageError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"The message is {len(received.raw)} bytes, more than Kafka accepts in one record.",
        )
        return await dead_letter(ingestor, store, head_of(received), header, error, raw)

"""The dead letters of ``hl7.dlq`` as operators see them (``hl7bus dlq list``, ``show``):
each with its id, its error, where in the message and where on Kafka, its raw message.

A dead letter's id is its record's ``dead_letter_id`` (the same for every copy of one
message resent after a store timeout: the copies are shown once, counted), else, in records
written before the field, ``<partition>:<offset>``.  Replaying them is
:mod:`hl7bus.operators.dlq_replay`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from hl7bus.errors import ErrorCode, Hl7BusError
from hl7bus.hl7.header import PREFIX_KEPT
from hl7bus.operators import scan
from hl7bus.operators.bus import bus_topics
from hl7bus.operators.records import Decoding
from hl7bus.operators.times import Start, epoch_ms, iso
from hl7bus.operators.views import RecordView, jsonable
from hl7bus.settings import KafkaSettings, RegistrySettings


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    id: str
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    copies: int
    error_code: str
    hl7_condition: int
    error_segment: str | None
    error_field: int | None
    error_message: str
    error_detail: str | None
    failed_at: str
    received_at: str
    connector: str
    peer: str | None
    mapping_version: str
    sending_application: str | None
    sending_facility: str | None
    message_control_id: str | None
    message_type: str | None
    trigger_event: str | None
    raw_topic: str | None
    raw_partition: int | None
    raw_offset: int | None
    raw: bytes

    @classmethod
    def of(cls, record: RecordView) -> DeadLetterView:
        value = record.value
        known = {f.name for f in fields(cls)}
        return cls(
            id=value.get("dead_letter_id") or f"{record.partition}:{record.offset}",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp_ms,
            copies=1,
            **{k: value.get(k) for k in known - _OWN},
        )

    @property
    def where(self) -> str | None:
        """Where in the message: ``PID-3``, ``MSH``."""
        if self.error_field is not None:
            return f"{self.error_segment or '?'}-{self.error_field}"
        return self.error_segment

    @property
    def kind(self) -> str | None:
        if not self.message_type:
            return None
        return (
            f"{self.message_type}^{self.trigger_event}" if self.trigger_event else self.message_type
        )

    @property
    def timestamp(self) -> str | None:
        return iso(self.timestamp_ms)

    def as_dict(self, *, raw: bool = True) -> dict[str, Any]:
        shown = {f.name: getattr(self, f.name) for f in fields(self) if raw or f.name != "raw"}
        return jsonable({**shown, "timestamp": self.timestamp, "where": self.where})


_OWN = frozenset({"id", "topic", "partition", "offset", "timestamp_ms", "copies"})


def same_code(letter: DeadLetterView, wanted: str) -> bool:
    """Whether ``wanted`` names the letter's error: its code in any spelling
    (``message too large``, ``MESSAGE_TOO_LARGE``, ``message-too-large``) or its HL7
    condition (``101``).  Pure."""
    wanted = wanted.strip()
    if wanted.isdigit():
        return int(wanted) == letter.hl7_condition
    words = " ".join(wanted.replace("_", " ").replace("-", " ").lower().split())
    return words == letter.error_code.lower()


def wanted(
    letter: DeadLetterView, *, since_ms: int | None, code: str | None, sender: str | None
) -> bool:
    """Whether a selection by time, code and sender (application or facility, any case)
    keeps the letter.  Pure."""
    if since_ms is not None and (letter.timestamp_ms or 0) < since_ms:
        return False
    if code is not None and not same_code(letter, code):
        return False
    if sender is not None:
        senders = {
            (letter.sending_application or "").lower(),
            (letter.sending_facility or "").lower(),
        }
        return sender.lower() in senders
    return True


def once_each(letters: list[DeadLetterView]) -> list[DeadLetterView]:
    """Each dead letter once, where it was first written, with its number of copies.  Pure."""
    first: dict[str, DeadLetterView] = {}
    for letter in letters:
        seen = first.get(letter.id)
        first[letter.id] = letter if seen is None else replace(seen, copies=seen.copies + 1)
    return list(first.values())


def not_replayable(letter: DeadLetterView) -> str | None:
    """Why replaying the letter cannot give its message's events, or None.  Pure."""
    if not letter.raw:
        return "it holds no message"
    if letter.error_code == ErrorCode.MESSAGE_TOO_LARGE.text and len(letter.raw) >= PREFIX_KEPT:
        return (
            f"it holds only the first {PREFIX_KEPT} bytes of a larger message; the sender "
            "must send the message again"
        )
    return None


def _read(kafka: KafkaSettings, registry: RegistrySettings, start: Start) -> list[DeadLetterView]:
    decoding = Decoding(kafka, registry)
    topic = bus_topics(kafka).dlq
    with contextlib.closing(scan.read(kafka, topic, start)) as messages:
        return [DeadLetterView.of(decoding.view(m)) for m in messages if m.value() is not None]


def dead_letters(
    kafka: KafkaSettings,
    registry: RegistrySettings,
    *,
    since: datetime | None = None,
    code: str | None = None,
    sender: str | None = None,
    limit: int | None = None,
) -> list[DeadLetterView]:
    """The dead letters (each once), oldest first; with ``limit``, the newest that many.
    Reads ``hl7.dlq`` from ``since`` (else its beginning) to its end."""
    since_ms = epoch_ms(since) if since is not None else None
    start = Start("time", since_ms) if since_ms is not None else Start("beginning")
    letters = once_each(_read(kafka, registry, start))
    kept = [d for d in letters if wanted(d, since_ms=since_ms, code=code, sender=sender)]
    return kept[-limit:] if limit else kept


def dead_letter(kafka: KafkaSettings, registry: RegistrySettings, id: str) -> DeadLetterView:
    """One dead letter by its id (or ``<partition>:<offset>``); a sentence when there is none.
    An id is looked for through the whole topic; a place is read where it is."""
    partition, _, offset = id.partition(":")
    if partition.isdigit() and offset.isdigit():
        letters = _read(kafka, registry, Start("offset", int(offset)))
        found = [d for d in letters if (d.partition, d.offset) == (int(partition), int(offset))]
    else:
        found = [d for d in once_each(_read(kafka, registry, Start("beginning"))) if d.id == id]
    if not found:
        raise Hl7BusError(
            f"no dead letter {id} on {bus_topics(kafka).dlq}; `hl7bus dlq list` shows their ids"
        )
    return found[0]

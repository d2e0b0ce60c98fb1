"""Re-running ``hl7.raw`` through the current mapping and profiles into ``clinical.events``
(``hl7bus replay``): after a new mapping, a profile fixed, a mapper added for a type that
was stored without events.

Each raw record of the time range, in the order the bus received them (its partitions
merged by time), is translated again with the receipt it came with, and its events are
written with the ids the connector gave them (uuid5 of the sending facility, the control id
and the event's index), pointing at that same raw record: consumers that have an event
already ignore it again.  A message that fails now is counted and listed, and nothing of it
is written (its dead letter, if any, is on ``hl7.dlq`` already).  The pace is at most
``rate`` messages a second, so that a replay does not crowd out live traffic.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from hl7bus.ingest.records import Received, Stored
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.operators import scan
from hl7bus.operators.bus import bus_topics
from hl7bus.operators.records import Decoding
from hl7bus.operators.times import Start, epoch_ms
from hl7bus.operators.writing import Writer, event_records, ingestor, translate_again
from hl7bus.settings import KafkaSettings, RegistrySettings

FLUSH_EVERY = 500
"""Messages between confirmations of what was written."""


class Pace:
    """At most ``rate`` calls of :meth:`wait` a second (None: no limit)."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        if not self.rate:
            return
        now = self.clock()
        if self._next is not None and self._next > now:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + 1 / self.rate


@dataclass(frozen=True, slots=True)
class RawFailure:
    partition: int
    offset: int
    control_id: str | None
    error_code: str
    error: str


@dataclass(frozen=True, slots=True)
class RawReplayReport:
    """``messages`` re-run, ``events`` written, ``without_events`` that gave none (a type
    without a mapper), and each that ``failed``."""

    messages: int
    events: int
    without_events: int
    failed: tuple[RawFailure, ...]

    def as_dict(self) -> dict:
        return {**asdict(self), "failed": [asdict(f) for f in self.failed]}


def replay_raw(
    kafka: KafkaSettings,
    registry: RegistrySettings,
    since: datetime,
    until: datetime | None = None,
    max: int | None = None,
    rate: float | None = None,
    *,
    profiles: ProfileSet | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RawReplayReport:
    """Re-run the raw records received from ``since`` to ``until`` (else the end), at most
    ``max`` of them, at most ``rate`` a second, through ``profiles`` (the connector's; by
    default the default profile).  ``progress(done, total)`` after each."""
    topic = bus_topics(kafka).raw
    start, until_ms = Start("time", epoch_ms(since)), epoch_ms(until) if until else None
    total = scan.planned(kafka, topic, start, until_ms)
    total = min(total, max) if max is not None else total
    decoding = Decoding(kafka, registry)
    builder = ingestor(kafka, registry, profiles or ProfileSet())
    writer, pace = Writer(kafka), Pace(rate)
    messages = events = without = 0
    failed: list[RawFailure] = []
    with contextlib.closing(scan.read(kafka, topic, start, until_ms=until_ms)) as read:
        for message in read:
            if max is not None and messages >= max:
                break
            value = decoding.view(message).value
            if not isinstance(value, dict) or not value.get("raw"):
                continue
            pace.wait()
            messages += 1
            received = Received(
                value["raw"], value["received_at"], value["connector"], value.get("peer")
            )
            translated = translate_again(builder, received)
            records = (
                event_records(
                    builder, translated, Stored(topic, message.partition(), message.offset())
                )
                if translated.error is None
                else translated.error
            )
            if isinstance(records, list):
                writer.send(records)
                events += len(records)
                without += not records
            else:
                failed.append(
                    RawFailure(
                        message.partition(),
                        message.offset(),
                        value.get("message_control_id"),
                        records.code.text,
                        records.message,
                    )
                )
            if messages % FLUSH_EVERY == 0:
                writer.flush()
            if progress:
                progress(messages, total)
    writer.flush()
    return RawReplayReport(messages, events, without, tuple(failed))

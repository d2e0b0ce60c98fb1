"""Replaying dead letters through the current mapping and profiles (``hl7bus dlq replay``).

A dead letter that now translates leaves on the bus:

- a ``RawMessage`` on ``hl7.raw``: its bytes with the receipt they came with (``received_at``,
  ``connector``, ``peer``) and ``replay``, which says which dead letter was replayed, when,
  through which mapping version.  The raw topic is where the bus records every message that
  enters it, and each event points at its raw record (``source.raw_*``): so each replayed
  event is one step from the fact that it was replayed, while the event itself stays what
  the connector would have made, the same contract with the same ids;
- its events on ``clinical.events``, with the ids the connector would have given them
  (uuid5 of the sending facility, the control id and the event's index in the message),
  pointing at that raw record; consumers that saw them already ignore them.

Nothing is deleted from ``hl7.dlq``.  A dead letter that still fails is reported with its
error and left alone: nothing of it is written.  Each dead letter (copies of one message
resent, counted once) is replayed once per run, oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from hl7bus.errors import Hl7BusError, MessageError, UsageError
from hl7bus.hl7.header import read_header
from hl7bus.ingest.records import Ingestor, Received, SchemaIds, Stored
from hl7bus.mapping.context import MAPPING_VERSION
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.operators.bus import bus_topics
from hl7bus.operators.dlq import DeadLetterView, dead_letters, not_replayable
from hl7bus.operators.writing import Writer, event_records, ingestor, translate_again
from hl7bus.settings import KafkaSettings, RegistrySettings

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What became of one dead letter: ``replayed`` (``raw`` is where its replay's raw
    record is), ``would replay`` (a dry run), or ``failed`` with the error."""

    id: str
    control_id: str | None
    status: str
    event_ids: tuple[str, ...] = ()
    raw: str | None = None
    error_code: str | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    dry_run: bool
    outcomes: tuple[ReplayOutcome, ...]

    @property
    def replayed(self) -> int:
        return sum(o.status != "failed" for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(o.status == "failed" for o in self.outcomes)

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "replayed": self.replayed,
            "failed": self.failed,
            "outcomes": [o.as_dict() for o in self.outcomes],
        }


def chosen(
    letters: list[DeadLetterView], ids: Sequence[str], max: int | None
) -> list[DeadLetterView]:
    """The letters named by ``ids`` (their id or ``<partition>:<offset>``), else all of
    ``letters``; the first ``max``.  A sentence for an id that is not there.  Pure."""
    if ids:
        known = {d.id: d for d in letters} | {f"{d.partition}:{d.offset}": d for d in letters}
        missing = [i for i in ids if i not in known]
        if missing:
            raise Hl7BusError(f"no dead letter {missing[0]}; `hl7bus dlq list` shows their ids")
        letters = list({known[i].id: known[i] for i in ids}.values())
    return letters[:max] if max is not None else letters


def replay(
    kafka: KafkaSettings,
    registry: RegistrySettings,
    ids: Sequence[str] = (),
    code: str | None = None,
    since: datetime | None = None,
    max: int | None = None,
    dry_run: bool = False,
    *,
    profiles: ProfileSet | None = None,
    progress: Progress | None = None,
) -> ReplayReport:
    """Replay the dead letters named by ``ids``, or those of ``code`` and/or ``since``
    (at most ``max``), through the current mapping and ``profiles`` (the connector's; by
    default the default profile).  ``dry_run`` translates and writes nothing."""
    if not ids and code is None and since is None:
        raise UsageError(
            "say which dead letters to replay: their ids, --code C or --since T "
            "(`hl7bus dlq list` shows them)"
        )
    letters = chosen(dead_letters(kafka, registry, since=since, code=code), ids, max)
    profiles = profiles or ProfileSet()
    if dry_run:  # registers nothing either
        builder = Ingestor(bus_topics(kafka), profiles, SchemaIds(0, 0, 0))
        writer = None
    else:
        builder, writer = ingestor(kafka, registry, profiles), Writer(kafka)
    outcomes = []
    for done, letter in enumerate(letters, 1):
        outcomes.append(_replay_one(builder, writer, letter))
        if progress:
            progress(done, len(letters))
    return ReplayReport(dry_run, tuple(outcomes))


def _failed(letter: DeadLetterView, error: MessageError | str) -> ReplayOutcome:
    if isinstance(error, str):
        return ReplayOutcome(letter.id, letter.message_control_id, "failed", error=error)
    return ReplayOutcome(
        letter.id,
        letter.message_control_id,
        "failed",
        error_code=error.code.text,
        error=error.message,
    )


def _replay_one(builder: Ingestor, writer: Writer | None, letter: DeadLetterView) -> ReplayOutcome:
    why = not_replayable(letter)
    if why is not None:
        return _failed(letter, why)
    received = Received(letter.raw, letter.received_at, letter.connector, letter.peer)
    translated = translate_again(builder, received)
    if translated.error is not None:
        return _failed(letter, translated.error)
    checked = event_records(builder, translated, Stored(builder.topics.raw, 0, 0))
    if isinstance(checked, MessageError):
        return _failed(letter, checked)
    event_ids = tuple(e.event_id for e in translated.events)
    if writer is None:
        return ReplayOutcome(letter.id, letter.message_control_id, "would replay", event_ids)
    note = {
        "dead_letter_id": letter.id,
        "dlq_topic": letter.topic,
        "dlq_partition": letter.partition,
        "dlq_offset": letter.offset,
        "replayed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "mapping_version": MAPPING_VERSION,
    }
    (raw,) = writer.put([builder.raw_record(received, read_header(letter.raw), note)])
    events = event_records(builder, translated, raw)
    if isinstance(events, MessageError):  # refused above already; only the offsets changed
        return _failed(letter, events)
    writer.put(events)
    place = f"{raw.topic} {raw.partition}:{raw.offset}"
    return ReplayOutcome(letter.id, letter.message_control_id, "replayed", event_ids, raw=place)

"""The connectors' figures as operators read them, from the Prometheus text a connector
serves at ``/metrics`` (:mod:`hl7bus.metrics`): per connector, the messages answered by
ACK code, the dead letters by error, the events produced, the open connections and the
ACK latency — and, between two readings, the rates: messages/s, ACK codes/s, dead
letters/s and the mean ACK latency of the messages answered in between.  Per sender
(``LABSTAR^NORTHWIND``, :func:`hl7bus.metrics.sender_label`): its messages by ACK code, its
dead letters by error and when its last message came, and whether it stands out
(:func:`sender_figures`): every message of the last minutes rejected, or silent for long.

Pure: text in, values out; :mod:`.connector_watch` does the reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType

from prometheus_client.parser import text_string_to_metric_families

MESSAGES = "hl7bus_messages_total"
REJECTED = "hl7bus_rejected_total"
EVENTS = "hl7bus_events_total"
CONNECTIONS = "hl7bus_mllp_connections"
LATENCY_SUM = "hl7bus_ack_latency_seconds_sum"
LATENCY_COUNT = "hl7bus_ack_latency_seconds_count"
KAFKA_REACHABLE = "hl7bus_kafka_reachable"
SENDER_MESSAGES = "hl7bus_sender_messages_total"
SENDER_REJECTED = "hl7bus_sender_rejected_total"
SENDER_LAST = "hl7bus_sender_last_message_timestamp_seconds"
ERROR_ACKS = frozenset({"AE", "AR", "CE", "CR"})
NOT_ONE_SENDER = frozenset({"unknown", "other"})
"""Sender labels of no one sender (:mod:`hl7bus.metrics`): never judged silent."""


@dataclass(frozen=True, slots=True)
class SenderReading:
    """One sender's counters at one moment (totals since the connector started)."""

    sender: str
    acks: Mapping[str, float] = field(default_factory=dict)
    """Its messages, by ACK code (``none``: no ACK, the files connector's)."""
    rejected: Mapping[str, float] = field(default_factory=dict)
    """Its messages sent to the dead-letter topic, by error code."""
    last_message_at: float | None = None
    """When its last message was handled (Unix seconds)."""

    @property
    def messages(self) -> float:
        return sum(self.acks.values())

    @property
    def error_acks(self) -> float:
        """Its messages answered with an error: AE, AR, CE or CR."""
        return sum(n for code, n in self.acks.items() if code in ERROR_ACKS)

    @property
    def dead_letters(self) -> float:
        return sum(self.rejected.values())


@dataclass(frozen=True, slots=True)
class ConnectorReading:
    """One connector's counters at one moment (totals since the connector started)."""

    connector: str
    acks: Mapping[str, float] = field(default_factory=dict)
    """Messages answered, by ACK code (AA, AE, AR, CA, CE, CR)."""
    rejected: Mapping[str, float] = field(default_factory=dict)
    """Messages sent to the dead-letter topic, by error code."""
    events: float = 0.0
    connections: float = 0.0
    latency_sum: float = 0.0
    latency_count: float = 0.0
    kafka_reachable: bool | None = None
    senders: tuple[SenderReading, ...] = ()
    """Each sender it has had a message of, by name."""

    @property
    def messages(self) -> float:
        return sum(self.acks.values())

    @property
    def dead_letters(self) -> float:
        return sum(self.rejected.values())

    def sender(self, name: str) -> SenderReading | None:
        return next((s for s in self.senders if s.sender == name), None)

    @property
    def mean_latency_ms(self) -> float | None:
        if self.latency_count <= 0:
            return None
        return 1000.0 * self.latency_sum / self.latency_count


@dataclass(frozen=True, slots=True)
class Reading:
    """Every connector of one ``/metrics`` answer, read at ``at`` (Unix seconds)."""

    at: float
    connectors: tuple[ConnectorReading, ...] = ()

    def connector(self, name: str) -> ConnectorReading | None:
        return next((c for c in self.connectors if c.connector == name), None)


@dataclass(frozen=True, slots=True)
class Rates:
    """What happened between two readings of one connector."""

    at: float
    """The later reading's time (Unix seconds)."""
    messages_per_s: float
    acks_per_s: Mapping[str, float] = field(default_factory=dict)
    dead_letters_per_s: float = 0.0
    ack_latency_ms: float | None = None
    """The mean ACK latency of the messages answered in between; None when there were none."""


class NotMetrics(ValueError):
    """The text is not in Prometheus' exposition format."""


def read_metrics(text: str, at: float) -> Reading:
    """The connectors' counters in ``text`` (Prometheus' text format), read at ``at``.
    Series of other names (and of no ``connector`` label) are left aside."""
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        raise NotMetrics(f"not Prometheus metrics ({type(exc).__name__})") from None
    found: dict[str, _Parts] = {}
    for family in families:
        for sample in family.samples:
            name = sample.labels.get("connector")
            if name is not None:
                found.setdefault(name, _Parts()).take(sample.name, sample.labels, sample.value)
    readings = (parts.reading(name) for name, parts in sorted(found.items()))
    return Reading(at, tuple(r for r in readings if r is not None))


@dataclass
class _Parts:
    """One connector's series, as they are read."""

    acks: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    senders: dict[str, _SenderParts] = field(default_factory=dict)

    def take(self, name: str, labels: Mapping[str, str], value: float) -> None:
        if name == MESSAGES and "ack" in labels:
            self.acks[labels["ack"]] = float(value)
        elif name == REJECTED and "error" in labels:
            self.rejected[labels["error"]] = float(value)
        elif name in _SINGLE:
            self.values[_SINGLE[name]] = float(value)
        elif name in _PER_SENDER and "sender" in labels:
            sender = self.senders.setdefault(labels["sender"], _SenderParts())
            if name == SENDER_MESSAGES and "ack" in labels:
                sender.acks[labels["ack"]] = float(value)
            elif name == SENDER_REJECTED and "error" in labels:
                sender.rejected[labels["error"]] = float(value)
            elif name == SENDER_LAST:
                sender.last_message_at = float(value)

    def reading(self, connector: str) -> ConnectorReading | None:
        """The connector's reading; None for series of this label that are no connector's."""
        if not self.acks:
            return None
        values = dict(self.values)
        reachable = values.pop("kafka_reachable", None)
        return ConnectorReading(
            connector,
            acks=MappingProxyType(dict(sorted(self.acks.items()))),
            rejected=MappingProxyType(dict(sorted(self.rejected.items()))),
            kafka_reachable=None if reachable is None else reachable >= 1,
            senders=tuple(parts.reading(sender) for sender, parts in sorted(self.senders.items())),
            **values,
        )


@dataclass
class _SenderParts:
    acks: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, float] = field(default_factory=dict)
    last_message_at: float | None = None

    def reading(self, sender: str) -> SenderReading:
        return SenderReading(
            sender,
            acks=MappingProxyType(dict(sorted(self.acks.items()))),
            rejected=MappingProxyType(dict(sorted(self.rejected.items()))),
            last_message_at=self.last_message_at,
        )


_PER_SENDER = frozenset({SENDER_MESSAGES, SENDER_REJECTED, SENDER_LAST})
_SINGLE = {
    EVENTS: "events",
    CONNECTIONS: "connections",
    LATENCY_SUM: "latency_sum",
    LATENCY_COUNT: "latency_count",
    KAFKA_REACHABLE: "kafka_reachable",
}


def _grown(before: float, after: float) -> float:
    """How much a counter grew; a counter that went down was restarted from 0, so all of
    ``after`` is new (Prometheus' reading of a reset)."""
    return after - before if after >= before else after


def rates(before: ConnectorReading, after: ConnectorReading, seconds: float, at: float) -> Rates:
    """The rates of one connector between two readings ``seconds`` apart."""
    if seconds <= 0:
        raise ValueError("readings must be apart in time")
    restarted = after.messages < before.messages or after.latency_count < before.latency_count
    codes = sorted(set(before.acks) | set(after.acks))
    acks = {
        code: (
            after.acks.get(code, 0.0)
            if restarted
            else _grown(before.acks.get(code, 0.0), after.acks.get(code, 0.0))
        )
        / seconds
        for code in codes
    }
    if restarted:
        dead = after.dead_letters
        count, total = after.latency_count, after.latency_sum
    else:
        dead = _grown(before.dead_letters, after.dead_letters)
        count = after.latency_count - before.latency_count
        total = after.latency_sum - before.latency_sum
    return Rates(
        at=at,
        messages_per_s=sum(acks.values()),
        acks_per_s=acks,
        dead_letters_per_s=dead / seconds,
        ack_latency_ms=1000.0 * total / count if count > 0 else None,
    )


def series(readings: list[Reading], connector: str) -> list[Rates]:
    """The rates of ``connector`` between each pair of consecutive readings that both
    have it, oldest first."""
    out: list[Rates] = []
    for earlier, later in pairwise(readings):
        before, after = earlier.connector(connector), later.connector(connector)
        if before is None or after is None or later.at <= earlier.at:
            continue
        out.append(rates(before, after, later.at - earlier.at, later.at))
    return out


def dead_letters_within(readings: list[Reading], window_s: float) -> float | None:
    """How many dead letters every connector together wrote in the last ``window_s``
    seconds of ``readings`` (oldest first): from the latest reading back to the last one at
    least that old (or the oldest there is).  None with fewer than two readings."""
    if len(readings) < 2:
        return None
    latest = readings[-1]
    start = readings[0]
    for reading in readings[:-1]:
        if reading.at <= latest.at - window_s:
            start = reading
    total = 0.0
    for after in latest.connectors:
        before = start.connector(after.connector)
        grown = (
            after.dead_letters
            if before is None
            else _grown(before.dead_letters, after.dead_letters)
        )
        total += grown
    return total


# -- per sender ---------------------------------------------------------------------------------


class SenderState(StrEnum):
    OK = "ok"
    REJECTING = "rejecting"
    """Every message it sent in the last minutes was rejected."""
    SILENT = "silent"
    """It has sent nothing for long."""


@dataclass(frozen=True, slots=True)
class SenderFigures:
    """One sender of one connector, as operators read it."""

    connector: str
    sender: SenderReading
    """Its totals since the connector started."""
    recent_messages: float | None
    """Its messages in the window; None until two readings are apart."""
    recent_rejections: float | None
    """Those of them rejected: answered AE, AR, CE or CR, or sent to the dead-letter topic
    (the larger of the two counts: a profile may answer a dead letter AA)."""
    seconds_since_last: float | None
    state: SenderState
    why: str
    """Why it stands out, in one sentence ('' when it does not)."""


def sender_figures(
    readings: list[Reading], window_s: float, silent_after_s: float, now: float
) -> list[SenderFigures]:
    """Every sender of every connector of the latest of ``readings`` (oldest first), at
    ``now`` (Unix seconds): its totals, what it sent within the last ``window_s`` seconds
    (from the latest reading back to the last one at least that old, or the oldest there
    is), and whether it stands out — *rejecting* when it sent something in that window and
    every message of it was rejected; else *silent* when its last message is more than
    ``silent_after_s`` seconds old (but ``unknown`` and ``other``, which are no one
    sender)."""
    if not readings:
        return []
    latest = readings[-1]
    start: Reading | None = None
    for reading in readings[:-1]:
        if start is None or reading.at <= latest.at - window_s:
            start = reading
    out: list[SenderFigures] = []
    for connector in latest.connectors:
        before = start.connector(connector.connector) if start is not None else None
        for after in connector.senders:
            recent = None
            if start is not None:
                earlier = before.sender(after.sender) if before is not None else None
                recent = _sender_grown(earlier, after)
            out.append(_judged(connector.connector, after, recent, window_s, silent_after_s, now))
    return out


def _sender_grown(before: SenderReading | None, after: SenderReading) -> tuple[float, float]:
    """The messages and the rejections of a sender between two readings."""
    if before is None or after.messages < before.messages:  # new, or its connector restarted
        return after.messages, max(after.error_acks, after.dead_letters)
    errors = _grown(before.error_acks, after.error_acks)
    dead = _grown(before.dead_letters, after.dead_letters)
    return after.messages - before.messages, max(errors, dead)


def _judged(
    connector: str,
    sender: SenderReading,
    recent: tuple[float, float] | None,
    window_s: float,
    silent_after_s: float,
    now: float,
) -> SenderFigures:
    messages, rejections = recent if recent is not None else (None, None)
    since = None if sender.last_message_at is None else max(0.0, now - sender.last_message_at)
    state, why = SenderState.OK, ""
    if messages and rejections is not None and rejections >= messages:
        state = SenderState.REJECTING
        why = f"every message of the last {_duration(window_s)} was rejected"
    elif since is not None and since > silent_after_s and sender.sender not in NOT_ONE_SENDER:
        state = SenderState.SILENT
        why = f"no message for {_duration(since)} (more than {_duration(silent_after_s)})"
    return SenderFigures(connector, sender, messages, rejections, since, state, why)


def _duration(seconds: float) -> str:
    """``45 s``, ``5 min``, ``1 h 5 min``, ``2 d 3 h``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"

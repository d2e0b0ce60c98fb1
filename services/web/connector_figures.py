"""The connectors' figures as operators read them, from the Prometheus text a connector
serves at ``/metrics`` (:mod:`hl7bus.metrics`): per connector, the messages answered by
ACK code, the dead letters by error, the events produced, the open connections and the
ACK latency — and, between two readings, the rates: messages/s, ACK codes/s, dead
letters/s and the mean ACK latency of the messages answered in between.

Pure: text in, values out; :mod:`.connector_watch` does the reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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

    @property
    def messages(self) -> float:
        return sum(self.acks.values())

    @property
    def dead_letters(self) -> float:
        return sum(self.rejected.values())

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

    def take(self, name: str, labels: Mapping[str, str], value: float) -> None:
        if name == MESSAGES and "ack" in labels:
            self.acks[labels["ack"]] = float(value)
        elif name == REJECTED and "error" in labels:
            self.rejected[labels["error"]] = float(value)
        elif name in _SINGLE:
            self.values[_SINGLE[name]] = float(value)

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
            **values,
        )


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

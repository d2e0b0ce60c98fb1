"""The operators' watch over the bus, while the web front door runs: every
``HL7BUS_WEB_LAG_POLL_S`` it reads the consumer groups' lag on the bus's topics
(:func:`hl7bus.operators.group_lags`) and counts the dead letters of the last
``HL7BUS_WEB_DEAD_LETTER_WINDOW_S`` from the connectors' metrics (:mod:`.connector_watch`),
and moves the two alarms (:mod:`.alarms`): each start and clear is kept for the dashboard's
banner, logged once, and is the Prometheus gauge ``hl7bus_web_alarm{kind}``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass

from hl7bus.errors import Hl7BusError
from hl7bus.logs import fields
from hl7bus.operators.bus import bus_names
from hl7bus.operators.lag import PartitionLag, group_lags
from hl7bus.services.web.alarms import Alarm, AlarmChange, AlarmKind, evaluate
from hl7bus.services.web.connector_figures import dead_letters_within
from hl7bus.services.web.connector_watch import ConnectorWatch
from hl7bus.services.web.metrics import WebMetrics
from hl7bus.settings import KafkaSettings, WebSettings

log = logging.getLogger("hl7bus.web.alarms")

KEEP_CHANGES = 100


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    lag: int
    """Records behind on every partition of the bus's topics it reads (unknown ones as 0)."""
    partitions: tuple[PartitionLag, ...]


@dataclass(frozen=True, slots=True)
class Numbered:
    id: int
    change: AlarmChange


class BusWatch:
    def __init__(
        self,
        kafka: KafkaSettings,
        settings: WebSettings,
        connectors: list[ConnectorWatch],
        metrics: WebMetrics,
    ) -> None:
        self.kafka = kafka
        self.interval_s = settings.lag_poll_s
        self.window_s = settings.dead_letter_window_s
        self.connectors = connectors
        self.metrics = metrics
        self.groups: list[GroupLag] = []
        self.lag_read_at: float | None = None
        self.lag_error: str | None = None
        self.alarms = {
            AlarmKind.LAG: Alarm(AlarmKind.LAG, settings.lag_alarm),
            AlarmKind.DEAD_LETTERS: Alarm(AlarmKind.DEAD_LETTERS, settings.dead_letter_alarm),
        }
        self.changes: deque[Numbered] = deque(maxlen=KEEP_CHANGES)
        self._numbers = itertools.count(1)

    async def run(self) -> None:
        """Watch until cancelled."""
        while True:
            try:
                await self.check()
            except Exception as exc:  # a bug: logged, and the watch goes on
                log.error("bus watch failed", extra=fields(error=type(exc).__name__))
            await asyncio.sleep(self.interval_s)

    async def check(self) -> None:
        lag = await self._read_lag()
        dead = self._dead_letters()
        now = time.time()
        window = f"in the last {self.window_s:g} s"
        for kind, value, unit in (
            (AlarmKind.LAG, lag, "records behind"),
            (AlarmKind.DEAD_LETTERS, dead, window),
        ):
            alarm, change = evaluate(self.alarms[kind], value, now, unit)
            self.alarms[kind] = alarm
            if change is not None:
                self._changed(change)

    def _changed(self, change: AlarmChange) -> None:
        self.changes.append(Numbered(next(self._numbers), change))
        kind = change.kind.value
        self.metrics.alarm.labels(kind=kind).set(1 if change.started else 0)
        if change.started:
            self.metrics.alarms_started.labels(kind=kind).inc()
            log.warning(
                "alarm started",
                extra=fields(kind=kind, value=change.value, threshold=change.threshold),
            )
        else:
            log.info(
                "alarm cleared",
                extra=fields(kind=kind, value=change.value, threshold=change.threshold),
            )

    async def _read_lag(self) -> float | None:
        """The largest lag of one consumer group on the bus's topics; None when unread."""
        try:
            lags = await asyncio.to_thread(group_lags, self.kafka)
        except Hl7BusError as exc:
            if self.lag_error is None:
                log.warning("consumer lag unreadable", extra=fields(reason=str(exc)))
            self.lag_error = str(exc)
            return None
        ours = set(bus_names(self.kafka))
        by_group: dict[str, list[PartitionLag]] = {}
        for partition in lags:
            if partition.topic in ours:
                by_group.setdefault(partition.group, []).append(partition)
        self.groups = [
            GroupLag(group, sum(p.lag or 0 for p in parts), tuple(parts))
            for group, parts in sorted(by_group.items())
        ]
        self.lag_read_at = time.time()
        self.lag_error = None
        return float(max((g.lag for g in self.groups), default=0))

    def _dead_letters(self) -> float | None:
        counts = [dead_letters_within(list(w.readings), self.window_s) for w in self.connectors]
        known = [c for c in counts if c is not None]
        return sum(known) if known else None

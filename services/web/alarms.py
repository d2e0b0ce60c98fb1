"""Alarms on what operators watch: consumer lag and the dead-letter rate above a threshold.

An alarm starts when its value goes above its threshold and clears when the value is back
at or below it; each start and each clear is one :class:`AlarmChange`, said once — never
again while the value stays where it is.  Pure: values in, the new state and the changes
out; :mod:`.bus_watch` feeds it and keeps its changes for the dashboard and ``/metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class AlarmKind(str, Enum):
    LAG = "lag"
    DEAD_LETTERS = "dead_letters"


ABOUT = {
    AlarmKind.LAG: "Consumer lag",
    AlarmKind.DEAD_LETTERS: "Dead letters",
}


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm's state: ``active`` since ``since`` (Unix seconds), with the last value."""

    kind: AlarmKind
    threshold: float
    active: bool = False
    since: float | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class AlarmChange:
    kind: AlarmKind
    started: bool
    """True: it started; False: it cleared."""
    at: float
    value: float
    threshold: float
    message: str


def evaluate(
    alarm: Alarm, value: float | None, at: float, unit: str
) -> tuple[Alarm, AlarmChange | None]:
    """The alarm after ``value`` was read at ``at``, and the change it made, if any.  An
    unknown value (it could not be read) changes nothing."""
    if value is None:
        return alarm, None
    above = value > alarm.threshold
    if above == alarm.active:
        return replace(alarm, value=value), None
    changed = replace(alarm, active=above, since=at, value=value)
    where = "above the threshold" if above else "back at or below the threshold"
    figures = f"{_number(value)} {unit} (threshold {_number(alarm.threshold)})"
    message = f"{ABOUT[alarm.kind]} {where}: {figures}."
    return changed, AlarmChange(alarm.kind, above, at, value, alarm.threshold, message)


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))

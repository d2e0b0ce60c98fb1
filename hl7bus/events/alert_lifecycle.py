"""An alert's lifecycle: ``RAISED`` by the alerts service, then ``ACKNOWLEDGED`` and
``RESOLVED`` by a clinician, each change a new :class:`ClinicalAlert` record with the same
``alert_id`` (``clinical.alerts``).

The lifecycle only goes forward — raised, acknowledged, resolved; an alert may be resolved
without being acknowledged first, and a resolved alert is done — so an alert's latest state
is the furthest its records reached (:func:`latest`), in whatever order they are read; of
two records of the same state, the first counts (as the timeline store keeps it).
:func:`change` makes the record of a change, or refuses one the lifecycle does not allow
(:class:`TransitionRefused`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Final

from hl7bus.errors import Hl7BusError
from hl7bus.events.alerts import AlertStatus, ClinicalAlert

STAGE: Final = {AlertStatus.RAISED: 0, AlertStatus.ACKNOWLEDGED: 1, AlertStatus.RESOLVED: 2}
"""How far along the lifecycle each state is."""


class StatusFilter(str, Enum):
    """Which alerts a list shows, in the API's words: ``open`` is raised or acknowledged
    (not resolved)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ALL = "all"

    def admits(self, alert: ClinicalAlert) -> bool:
        return alert.status in _ADMITTED[self]


_ADMITTED: Final = {
    StatusFilter.OPEN: frozenset({AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED}),
    StatusFilter.ACKNOWLEDGED: frozenset({AlertStatus.ACKNOWLEDGED}),
    StatusFilter.RESOLVED: frozenset({AlertStatus.RESOLVED}),
    StatusFilter.ALL: frozenset(AlertStatus),
}


class TransitionRefused(Hl7BusError):
    """A change the lifecycle does not allow: acknowledging an alert already acknowledged
    or resolved, resolving one already resolved.  ``current`` is the alert as it is."""

    def __init__(self, current: ClinicalAlert, wanted: AlertStatus) -> None:
        self.current = current
        self.wanted = wanted
        done = "acknowledged" if current.status is AlertStatus.ACKNOWLEDGED else "resolved"
        by = f" by {current.changed_by}" if current.changed_by else ""
        at = f" at {current.changed_at}" if current.changed_at else ""
        super().__init__(f"The alert was already {done}{by}{at}.")

    @property
    def code(self) -> str:
        """``already_acknowledged`` or ``already_resolved``."""
        return f"already_{self.current.status.value.lower()}"


def latest(alerts: Iterable[ClinicalAlert]) -> dict[str, ClinicalAlert]:
    """Each alert's latest state, by ``alert_id`` (in the order each id was first seen)."""
    found: dict[str, ClinicalAlert] = {}
    for alert in alerts:
        known = found.get(alert.alert_id)
        if known is None or STAGE[alert.status] > STAGE[known.status]:
            found[alert.alert_id] = alert
    return found


def change(current: ClinicalAlert, to: AlertStatus, *, by: str, at: str) -> ClinicalAlert:
    """The record of ``current`` acknowledged or resolved (``to``) by ``by`` at ``at`` (ISO
    8601 with its offset): the alert's fields as they are, with the new status, who and
    when.  :class:`TransitionRefused` when the lifecycle does not allow it."""
    if to is AlertStatus.RAISED:
        raise ValueError("an alert is RAISED by the alerts service, not by a change")
    if not by.strip():
        raise ValueError("a change of an alert says who made it")
    if not _has_offset(at):
        raise ValueError(f"a change's time is ISO 8601 with its offset, not {at!r}")
    if STAGE[current.status] >= STAGE[to]:
        raise TransitionRefused(current, to)
    return dataclasses.replace(current, status=to, changed_by=by, changed_at=at)


def _has_offset(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False

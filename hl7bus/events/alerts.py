"""The clinical alert: a frozen value for each record of ``schemas/clinical_alert.avsc``
(topic ``clinical.alerts``, key = patient key), and its conversion to and from the record.

An alert's lifecycle is a sequence of records with the same ``alert_id``: ``RAISED`` by the
alerts service, then ``ACKNOWLEDGED`` and ``RESOLVED`` by a clinician (``changed_by``,
``changed_at``).  Records written before the lifecycle fields existed read as ``RAISED``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class AlertSeverity(str, Enum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class AlertStatus(str, Enum):
    RAISED = "RAISED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClinicalAlert:
    alert_id: str  # deterministic: the rule and the events that raised it
    rule: str
    severity: AlertSeverity = AlertSeverity.WARNING
    patient_key: str
    title: str
    detail: str | None = None
    raised_at: str  # ISO 8601 with offset
    occurred_at: str | None = None  # clinical time of the triggering event
    event_ids: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    status: AlertStatus = AlertStatus.RAISED
    changed_by: str | None = None
    changed_at: str | None = None


def alert_to_record(alert: ClinicalAlert) -> dict[str, Any]:
    """The alert as a dict in the shape of ``schemas/clinical_alert.avsc``."""
    return {
        "alert_id": alert.alert_id,
        "rule": alert.rule,
        "severity": alert.severity.value,
        "patient_key": alert.patient_key,
        "title": alert.title,
        "detail": alert.detail,
        "raised_at": alert.raised_at,
        "occurred_at": alert.occurred_at,
        "event_ids": list(alert.event_ids),
        "attributes": dict(alert.attributes),
        "status": alert.status.value,
        "changed_by": alert.changed_by,
        "changed_at": alert.changed_at,
    }


def alert_from_record(record: Mapping[str, Any]) -> ClinicalAlert:
    """The alert back from its record (as read from Kafka or JSON); optional fields that
    are missing take the schema's defaults."""
    get = record.get
    return ClinicalAlert(
        alert_id=record["alert_id"],
        rule=record["rule"],
        severity=AlertSeverity(get("severity") or AlertSeverity.WARNING.value),
        patient_key=record["patient_key"],
        title=record["title"],
        detail=get("detail"),
        raised_at=record["raised_at"],
        occurred_at=get("occurred_at"),
        event_ids=tuple(get("event_ids") or ()),
        attributes=dict(get("attributes") or {}),
        status=AlertStatus(get("status") or AlertStatus.RAISED.value),
        changed_by=get("changed_by"),
        changed_at=get("changed_at"),
    )

"""``/api/v1/alerts``: the clinical alerts in their latest state, and a clinician's
acknowledgement or resolution of one.

An alert is ``RAISED`` by the alerts service, then ``ACKNOWLEDGED`` and ``RESOLVED`` by a
clinician (:mod:`hl7bus.events.alert_lifecycle`); ``open`` means raised or acknowledged.
The list is read from the timeline store, which keeps every record of ``clinical.alerts``;
a change is a new record on ``clinical.alerts`` (:mod:`.alert_changes`), answered once
Kafka has it, and on the list once the timeline service has stored it.  Every request is
audited (:mod:`.audit`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from hl7bus.events.alert_lifecycle import StatusFilter, TransitionRefused, change
from hl7bus.events.alerts import AlertStatus, ClinicalAlert, alert_to_record
from hl7bus.kafka.producer import StoreError
from hl7bus.logs import fields
from hl7bus.services.web.audit import AuditNote
from hl7bus.services.web.auth import alert_change, alert_reading
from hl7bus.services.web.errors import NO_NUL, conflict, not_found, unavailable
from hl7bus.services.web.models import Alert, AlertList
from hl7bus.services.web.patients import ERRORS, MAX_TEXT, SAMPLE_KEY, refusal
from hl7bus.services.web.reading import reading

log = logging.getLogger("hl7bus.web.alerts")

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: refusal("the token's role may not acknowledge or resolve alerts"),
    404: refusal("no alert has this id"),
    409: refusal(
        "the lifecycle does not allow it: the alert is already acknowledged "
        "(`already_acknowledged`) or resolved (`already_resolved`)"
    ),
    503: refusal(
        "the store or the access audit is unavailable, or Kafka did not acknowledge the "
        "change in time (`kafka_unavailable`)"
    ),
}

AlertId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_TEXT,
        pattern=NO_NUL,
        description="the alert's id (as it is or percent-encoded)",
        examples=["critical-value:5f0c8d1e-2b7a-5c1e-9f0a-3d2b1c0e9a87"],
    ),
]


@router.get(
    "",
    response_model=AlertList,
    responses=ERRORS,
    summary="Alerts in their latest state, the newest raised first",
    description="`status`: `open` (raised or acknowledged, not resolved: the default), "
    "`acknowledged`, `resolved` or `all`. A merged-away `patient_key` answers for its "
    "survivor (the alerts of every key merged into it); each alert keeps the key it was "
    "raised under.",
)
async def list_alerts(
    request: Request,
    note: Annotated[AuditNote, Depends(alert_reading)],
    status: Annotated[
        StatusFilter, Query(description="open = raised or acknowledged")
    ] = StatusFilter.OPEN,
    patient_key: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_TEXT,
            pattern=NO_NUL,
            description="only this patient's alerts (AUTHORITY|ID)",
            examples=[SAMPLE_KEY],
        ),
    ] = None,
    rule: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_TEXT,
            pattern=NO_NUL,
            description="only the alerts of this rule",
            examples=["critical-value"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertList:
    store = request.app.state.store
    with reading():
        if patient_key is not None:
            note.read(await run_in_threadpool(store.resolve, patient_key))
        found = await run_in_threadpool(
            store.alerts, status, patient_key=patient_key, rule=rule, limit=limit
        )
    note.read(*(alert.patient_key for alert in found))
    note.entries = len(found)
    return AlertList(alerts=[_model(alert) for alert in found])


@router.post(
    "/{alert_id:path}/acknowledge",
    response_model=Alert,
    responses=CHANGE_ERRORS,
    summary="Acknowledge an alert: it stays open, marked with who and when",
    description="Answers with the alert as acknowledged once Kafka has the change; the "
    "list shows it once the timeline service has stored it.",
)
async def acknowledge(
    request: Request, alert_id: AlertId, note: Annotated[AuditNote, Depends(alert_change)]
) -> Alert:
    return await _change(request, alert_id, AlertStatus.ACKNOWLEDGED, note)


@router.post(
    "/{alert_id:path}/resolve",
    response_model=Alert,
    responses=CHANGE_ERRORS,
    summary="Resolve an alert (acknowledged or not): it is no longer open",
    description="Answers with the alert as resolved once Kafka has the change; the list "
    "shows it once the timeline service has stored it.",
)
async def resolve(
    request: Request, alert_id: AlertId, note: Annotated[AuditNote, Depends(alert_change)]
) -> Alert:
    return await _change(request, alert_id, AlertStatus.RESOLVED, note)


async def _change(request: Request, alert_id: str, status: AlertStatus, note: AuditNote) -> Alert:
    with reading():
        current = await run_in_threadpool(request.app.state.store.alert, alert_id)
    if current is None:
        raise not_found(f"No alert has the id {alert_id!r}.")
    note.read(current.patient_key)
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    try:
        changed = change(current, status, by=note.user, at=now)
    except TransitionRefused as exc:
        raise conflict(exc.code, str(exc)) from None
    changes = request.app.state.alert_changes
    if changes is None:
        raise unavailable(
            "alert_changes_unavailable", "This front door does not record changes of alerts."
        )
    try:
        await changes.append(changed)
    except StoreError as exc:
        log.error("kafka did not take a change of an alert", extra=fields(reason=str(exc)))
        raise unavailable(
            "kafka_unavailable",
            f"Kafka did not acknowledge the change within {changes.timeout_s:g} s; it may "
            "still be recorded, so list the patient's alerts before trying again.",
        ) from None
    note.entries = 1
    return _model(changed)


def _model(alert: ClinicalAlert) -> Alert:
    return Alert(**alert_to_record(alert))

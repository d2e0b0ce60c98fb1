"""``/api/v1/operators/dead-letters``: the dead letters of ``hl7.dlq`` — why each message
was refused, where, and its raw message — and replaying one through the current mapping
and the connector's sender profiles (:mod:`hl7bus.operators.dlq_replay`: its events go to
``clinical.events`` with the ids the connector would have given them; nothing is deleted
from ``hl7.dlq``).

A raw message holds patient data: every request is for ``operator`` or ``admin`` and is
written to the access audit.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hl7bus.errors import Hl7BusError
from hl7bus.logs import fields
from hl7bus.operators.dlq import DeadLetterView, dead_letter, dead_letters, not_replayable
from hl7bus.operators.dlq_replay import replay
from hl7bus.operators.views import text_of
from hl7bus.services.web.audit import AuditNote
from hl7bus.services.web.auth import dead_letter_access
from hl7bus.services.web.errors import not_found, unavailable
from hl7bus.services.web.patients import refusal

log = logging.getLogger("hl7bus.web.dead_letters")

router = APIRouter(prefix="/api/v1/operators/dead-letters", tags=["operators"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: refusal("a parameter that is not valid"),
    401: refusal("no token, or one that is not valid"),
    403: refusal("the token's role is neither operator nor admin"),
    503: refusal("Kafka, the registry or the access audit is unavailable"),
}
ONE = {**ERRORS, 404: refusal("no dead letter has this id")}

LetterId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9:._-]+$",
        description="the dead letter's id, or <partition>:<offset>",
    ),
]


class DeadLetterOut(BaseModel):
    """A dead letter: which message, why it was refused, where it is."""

    id: str
    timestamp: str | None = Field(description="when it was written to hl7.dlq")
    copies: int = Field(description="copies of one message resent after a store timeout")
    error_code: str = Field(examples=["message too large"])
    where: str | None = Field(description="segment and field: PID-3", examples=["PID-3"])
    error_message: str
    connector: str
    sending_application: str | None
    sending_facility: str | None
    message_control_id: str | None
    message_type: str | None = Field(examples=["ADT^A01"])
    place: str = Field(description="topic partition:offset")
    replayable: str | None = Field(description="null, or why a replay cannot succeed")


class DeadLetterShown(DeadLetterOut):
    error_detail: str | None
    received_at: str
    failed_at: str
    mapping_version: str
    raw: str = Field(description="the raw message as text (UTF-8, else Latin-1)")


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterOut] = Field(description="newest first")


class ReplayOut(BaseModel):
    id: str
    status: str = Field(description="replayed, or failed", examples=["replayed"])
    event_ids: list[str]
    raw: str | None = Field(description="where the replay's raw record is")
    error_code: str | None
    error: str | None = Field(description="why it failed again")


def _bus(request: Request) -> tuple[Any, Any]:
    state = request.app.state
    if state.kafka is None or state.registry is None:
        raise unavailable(
            "bus_unavailable", "This front door was started without the bus's settings."
        )
    return state.kafka, state.registry


def _failed(exc: Hl7BusError) -> Exception:
    log.warning("dead letters unreadable", extra=fields(reason=str(exc)))
    return unavailable("kafka_unavailable", f"{str(exc)[:1].upper()}{str(exc)[1:]}.")


def _out(letter: DeadLetterView) -> dict[str, Any]:
    return {
        "id": letter.id,
        "timestamp": letter.timestamp,
        "copies": letter.copies,
        "error_code": letter.error_code,
        "where": letter.where,
        "error_message": letter.error_message,
        "connector": letter.connector,
        "sending_application": letter.sending_application,
        "sending_facility": letter.sending_facility,
        "message_control_id": letter.message_control_id,
        "message_type": letter.kind,
        "place": f"{letter.topic} {letter.partition}:{letter.offset}",
        "replayable": not_replayable(letter),
    }


@router.get(
    "",
    response_model=DeadLetterList,
    responses=ERRORS,
    summary="The dead letters of the last days, newest first (without their raw messages)",
)
async def list_dead_letters(
    request: Request,
    note: Annotated[AuditNote, Depends(dead_letter_access)],
    days: Annotated[int, Query(ge=1, le=90, description="how far back")] = 7,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeadLetterList:
    kafka, registry = _bus(request)
    since = datetime.now(UTC) - timedelta(days=days)
    try:
        letters = await run_in_threadpool(dead_letters, kafka, registry, since=since, limit=limit)
    except Hl7BusError as exc:
        raise _failed(exc) from None
    note.entries = len(letters)
    return DeadLetterList(dead_letters=[DeadLetterOut(**_out(d)) for d in reversed(letters)])


@router.get(
    "/{dead_letter_id}",
    response_model=DeadLetterShown,
    responses=ONE,
    summary="One dead letter, with its raw message",
)
async def show_dead_letter(
    request: Request,
    dead_letter_id: LetterId,
    note: Annotated[AuditNote, Depends(dead_letter_access)],
) -> DeadLetterShown:
    letter = await _one(request, dead_letter_id)
    note.entries = 1
    return DeadLetterShown(
        **_out(letter),
        error_detail=letter.error_detail,
        received_at=letter.received_at,
        failed_at=letter.failed_at,
        mapping_version=letter.mapping_version,
        raw=text_of(letter.raw),
    )


@router.post(
    "/{dead_letter_id}/replay",
    response_model=ReplayOut,
    responses=ONE,
    summary="Replay one dead letter through the current mapping and sender profiles",
    description="`replayed`: its events are on clinical.events (and a raw record that says "
    "it was replayed on hl7.raw); `failed`: it still cannot be translated, nothing was "
    "written. The dead letter stays on hl7.dlq either way.",
)
async def replay_dead_letter(
    request: Request,
    dead_letter_id: LetterId,
    note: Annotated[AuditNote, Depends(dead_letter_access)],
) -> ReplayOut:
    kafka, registry = _bus(request)
    letter = await _one(request, dead_letter_id)
    try:
        report = await run_in_threadpool(
            replay, kafka, registry, [letter.id], profiles=request.app.state.profiles
        )
    except Hl7BusError as exc:
        raise _failed(exc) from None
    (outcome,) = report.outcomes
    log.info(
        "dead letter replayed",
        extra=fields(user=note.user, dead_letter=letter.id, status=outcome.status),
    )
    note.entries = 1
    return ReplayOut(
        id=outcome.id,
        status=outcome.status,
        event_ids=list(outcome.event_ids),
        raw=outcome.raw,
        error_code=outcome.error_code,
        error=outcome.error,
    )


async def _one(request: Request, dead_letter_id: str) -> DeadLetterView:
    kafka, registry = _bus(request)
    try:
        return await run_in_threadpool(dead_letter, kafka, registry, dead_letter_id)
    except Hl7BusError as exc:
        if str(exc).startswith("no dead letter"):
            raise not_found(f"No dead letter has the id {dead_letter_id!r}.") from None
        raise _failed(exc) from None

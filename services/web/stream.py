"""``/api/v1/stream``: new timeline entries as server-sent events, as the timeline service
stores them — of every patient, or of one (``?patient_key=``).

Each event is ``id: <the store's sequence>``, ``event: entry``, ``data: <the entry as
JSON>``.  A client that reconnects with ``Last-Event-ID`` gets every entry after that
one, so it misses nothing; a new client gets the entries stored from now on.  A comment
line every ``HL7BUS_WEB_STREAM_HEARTBEAT_S`` keeps idle connections open.

Each batch of entries sent is one access-audit record naming its patients; when the audit
cannot be written the stream ends with an ``event: error`` (the client reconnects with
its ``Last-Event-ID`` once it can).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hl7bus.logs import fields
from hl7bus.services.web.audit import Access, AuditNote, AuditUnavailable
from hl7bus.services.web.auth import patient_access
from hl7bus.services.web.errors import NO_NUL, ApiError, bad_parameter, body
from hl7bus.services.web.patients import ERRORS, entry_json
from hl7bus.services.web.reading import reading

log = logging.getLogger("hl7bus.web.stream")

router = APIRouter(prefix="/api/v1", tags=["stream"])

ROUTE = "/api/v1/stream"
BATCH = 500
MAX_SEQUENCE = 2**63 - 1

_SSE_DESCRIPTION = (
    "Server-sent events: `id:` the entry's sequence in the store, `event: entry`, `data:` "
    "the entry as JSON (the schema StreamedEntry)."
)


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


@router.get(
    "/stream",
    response_class=EventStreamResponse,
    responses={
        200: {
            "description": _SSE_DESCRIPTION,
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **ERRORS,
    },
    summary="New timeline entries as server-sent events",
)
async def stream(
    request: Request,
    note: Annotated[AuditNote, Depends(patient_access)],
    patient_key: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=256,
            pattern=NO_NUL,
            description="only this patient's entries",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=32,
            description="the id of the last event received: go on after it",
        ),
    ] = None,
) -> EventStreamResponse:
    store = request.app.state.store
    if last_event_id is not None:
        text = last_event_id.strip()
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_SEQUENCE:
            raise bad_parameter("The Last-Event-ID header must be an id this stream sent.")
        start = int(text)
    else:
        with reading():
            start = await run_in_threadpool(store.latest_sequence)
    note.read(patient_key)
    access = _Stream(request, note, patient_key)
    return EventStreamResponse(
        _events(request, access, start),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _Stream:
    """What the stream's audit records share."""

    def __init__(self, request: Request, note: AuditNote, patient_key: str | None) -> None:
        client = request.client
        self.note = note
        self.patient_key = patient_key
        self.query = {k: v for k, v in request.query_params.items()}
        self.path = request.url.path
        self.client = f"{client.host}:{client.port}" if client else None
        self.user_agent = request.headers.get("user-agent")

    def sent(self, keys: list[str], count: int) -> Access:
        return Access(
            user=self.note.user,
            role=self.note.role,
            endpoint=ROUTE,
            path=self.path,
            status=200,
            patient_keys=tuple(keys),
            query=self.query,
            client_address=self.client,
            user_agent=self.user_agent,
            entries=count,
        )


async def _events(request: Request, access: _Stream, start: int) -> AsyncIterator[str]:
    app = request.app
    store, audit, settings = app.state.store, app.state.audit, app.state.settings
    metrics = app.state.metrics
    metrics.stream_clients.inc()
    sequence = start
    beat = time.monotonic()
    try:
        yield "retry: 2000\n\n"
        while True:
            try:
                with reading():
                    batch = await run_in_threadpool(
                        store.stream_since, sequence, patient_key=access.patient_key, limit=BATCH
                    )
            except ApiError as exc:  # the store is unavailable: the client comes back later
                yield _error(exc.code, exc.message)
                return
            if batch:
                keys = list(dict.fromkeys(entry.patient_key for _, entry in batch))
                try:
                    audit.check()
                    audit.write(access.sent(keys, len(batch)))
                except AuditUnavailable as exc:
                    metrics.audit_refusals.inc()
                    yield _error("audit_unavailable", str(exc))
                    return
                yield "".join(_entry(number, entry) for number, entry in batch)
                sequence = batch[-1][0]
                beat = time.monotonic()
                if len(batch) == BATCH:
                    continue
            elif time.monotonic() - beat >= settings.stream_heartbeat_s:
                yield ": heartbeat\n\n"
                beat = time.monotonic()
            await asyncio.sleep(settings.stream_poll_s)
    finally:
        metrics.stream_clients.dec()
        log.info("stream closed", extra=fields(user=access.note.user, last_sequence=sequence))


def _entry(number: int, entry: Any) -> str:
    """One server-sent event: the entry in the shape of ``models.StreamedEntry`` (its
    event as the store holds it)."""
    data = orjson.dumps({**entry_json(entry), "sequence": number}).decode()
    return f"id: {number}\nevent: entry\ndata: {data}\n\n"


def _error(code: str, message: str) -> str:
    return f"event: error\ndata: {json.dumps(body(code, message))}\n\n"

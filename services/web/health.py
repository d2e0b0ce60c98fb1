"""``/healthz`` (no token: for load balancers and orchestrators) and ``/metrics``
(Prometheus, any valid token)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from hl7bus.logs import fields
from hl7bus.services.web.auth import authenticated
from hl7bus.services.web.models import Health
from hl7bus.services.web.patients import refusal
from hl7bus.services.web.tokens import Principal

log = logging.getLogger("hl7bus.web")

router = APIRouter(tags=["operations"])

STORE_PING_TIMEOUT_S = 2.0


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Kafka, the store or the audit is down"}},
    summary="Whether the front door can serve: Kafka, the timeline store, the access audit",
)
async def healthz(request: Request) -> JSONResponse:
    state = request.app.state
    store_ok = await _store_answers(state.store)
    state.metrics.store_up.set(1 if store_ok else 0)
    kafka_ok = bool(state.kafka_reachable())
    audit_ok = state.audit.ready()
    health = Health(
        ok=store_ok and kafka_ok and audit_ok,
        kafka="reachable" if kafka_ok else "unreachable",
        store="reachable" if store_ok else "unreachable",
        audit="ok" if audit_ok else "backed_up",
        audit_backlog=state.audit.backlog,
    )
    return JSONResponse(health.model_dump(), status_code=200 if health.ok else 503)


async def _store_answers(store: Any) -> bool:
    try:
        await asyncio.wait_for(run_in_threadpool(store.ping), STORE_PING_TIMEOUT_S)
        return True
    except Exception as exc:  # whatever the database says, it is not serving
        log.warning("timeline store did not answer", extra=fields(error=type(exc).__name__))
        return False


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        401: refusal("no token, or one that is not valid"),
    },
    summary="Prometheus metrics",
)
def metrics(request: Request, _principal: Annotated[Principal, Depends(authenticated)]) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )

"""The web front door as an ASGI application: :func:`create_app` joins the routers (one per
resource), the token check, the access audit, the metrics and the error answers.

It is given what it serves from — the settings, an open timeline store, the audit log —
and opens nothing itself; :mod:`.main` builds those and runs it under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import SecretStr
from starlette.middleware.gzip import GZipMiddleware

from hl7bus.errors import Hl7BusError
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.services.web import (
    alerts,
    dashboard,
    dead_letters,
    errors,
    health,
    operators,
    patients,
    stream,
)
from hl7bus.services.web.alert_changes import AlertChanges
from hl7bus.services.web.audit import AuditLog
from hl7bus.services.web.bus_watch import BusWatch
from hl7bus.services.web.connector_watch import ConnectorWatch
from hl7bus.services.web.metrics import WebMetrics
from hl7bus.services.web.middleware import FrontDoor
from hl7bus.services.web.models import ErrorBody
from hl7bus.settings import KafkaSettings, RegistrySettings, WebSettings

GZIP_MINIMUM_BYTES = 4096
"""Answers shorter than this go as they are: compressing them saves next to nothing."""

GZIP_LEVEL = 1
"""zlib's fastest level: a 320 kB timeline page to 30 kB in about 2 ms (level 4: 22 kB
in 3.5 ms), for clients that ask (`Accept-Encoding: gzip`; browsers do)."""

DESCRIPTION = """\
hl7bus's one HTTP front door: each patient's timeline, current state and FHIR R4 bundle,
new timeline entries as they are stored, and the clinical alerts (listed in their latest
state; acknowledged and resolved by clinicians), and figures of the bus for operators.
The operators' dashboard is the page at `/`.

Every request but `/healthz` (and the dashboard's page and files) carries
`Authorization: Bearer <token>`
(`hl7bus token create --role ROLE --name NAME`); patient data (alerts included) is for the
roles `clinician`, `service` and `admin`, acknowledging and resolving alerts for
`clinician` and `admin`, and every request for either is written to the access audit
(`audit.access`); the operators' figures are for `operator` and `admin`.  A patient key
(`AUTHORITY|ID`) goes in the path as it is or percent-encoded (`NORTHWIND%7C12345`).  A
refusal is `{"error": code, "message": sentence}`.
"""


def create_app(
    settings: WebSettings,
    store: Any,
    audit: AuditLog,
    *,
    token_secret: SecretStr | None = None,
    kafka_reachable: Callable[[], bool] = lambda: True,
    metrics: WebMetrics | None = None,
    alert_changes: AlertChanges | None = None,
    connector_watches: list[ConnectorWatch] | None = None,
    kafka: KafkaSettings | None = None,
    registry: RegistrySettings | None = None,
    profiles: ProfileSet | None = None,
) -> FastAPI:
    """The application over ``store`` (the timeline store's read API), writing its access
    records to ``audit`` and the changes of alerts to ``alert_changes`` (without it, a
    change is answered 503); tokens are checked with ``token_secret`` (default: the
    settings').  The connectors' ``/metrics`` are read by ``connector_watches`` (default:
    the settings' MLLP connector) while the application runs; with ``kafka`` and
    ``registry`` it also watches the consumer groups' lag and serves the dead letters,
    replayed through ``profiles`` (the connector's sender profiles)."""
    secret = token_secret or settings.token_secret
    if secret is None:
        raise Hl7BusError("the web front door needs a token secret (HL7BUS_WEB_TOKEN_SECRET)")
    metrics = metrics or WebMetrics()
    if connector_watches is None:
        connector_watches = [
            ConnectorWatch(url, settings.figures_poll_s)
            for url in (settings.mllp_metrics_url,)
            if url
        ]
    bus_watch = BusWatch(kafka, settings, connector_watches, metrics) if kafka is not None else None
    app = FastAPI(
        title="hl7bus",
        description=DESCRIPTION,
        version="1",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_watching([*connector_watches, *([bus_watch] if bus_watch else [])]),
    )
    app.state.settings = settings
    app.state.store = store
    app.state.audit = audit
    app.state.token_secret = secret
    app.state.kafka_reachable = kafka_reachable
    app.state.metrics = metrics
    app.state.alert_changes = alert_changes
    app.state.connector_watches = connector_watches
    app.state.bus_watch = bus_watch
    app.state.kafka = kafka
    app.state.registry = registry
    app.state.profiles = profiles or ProfileSet()
    app.include_router(patients.router)
    app.include_router(alerts.router)
    app.include_router(stream.router)
    app.include_router(operators.router)
    app.include_router(dead_letters.router)
    app.include_router(health.router)
    dashboard.install(app)
    errors.install(app)
    # JSON answers compressed for clients that accept it: a timeline page of 100 entries
    # with their full events is about 300 kB.  The live stream (text/event-stream) is never
    # compressed.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(FrontDoor, metrics=metrics, audit=audit)
    metrics.watch_audit(lambda: audit.backlog)
    metrics.start_at_zero(
        (method, route.path)
        for route in app.routes
        for method in sorted(getattr(route, "methods", None) or ())
        if method != "HEAD"
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _watching(watches: list[ConnectorWatch | BusWatch]) -> Callable[[FastAPI], Any]:
    """The application's lifespan: the watches run while it runs."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(watch.run()) for watch in watches]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return lifespan


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The API's description, without FastAPI's 422 answers: a bad parameter is a 400 in the
    API's error shape."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components["ErrorBody"] = ErrorBody.model_json_schema()
    app.openapi_schema = schema
    return schema

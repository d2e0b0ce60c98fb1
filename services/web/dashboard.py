"""The operators' dashboard: the page at ``/`` and its files under ``/static/`` (plain
HTML, CSS and JavaScript of :file:`static/`, no build step), and ``/api/v1/me``, who the
page's token speaks for and what that role may do.

The page and its files hold no data and need no token; the page asks for one once, keeps
it in the tab's ``sessionStorage`` and sends it as ``Authorization: Bearer`` to the API
(never in a URL).  The charting library (uPlot) is fetched by ``make setup`` into
:file:`static/vendor/`; without it the page says so and shows its figures without charts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from hl7bus.services.web.auth import allowed, authenticated
from hl7bus.services.web.patients import refusal
from hl7bus.services.web.tokens import (
    ALERT_CHANGE_ROLES,
    OPERATIONS_ROLES,
    PATIENT_DATA_ROLES,
    Principal,
)

STATIC = Path(__file__).resolve().parent / "static"

# The page runs only its own scripts and talks only to this server; no other site may
# frame it, and no address of it leaves in a Referer.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}

router = APIRouter()


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)


class Me(BaseModel):
    """Who a token speaks for, and what its role may do."""

    name: str = Field(examples=["ops.kim"])
    role: str = Field(examples=["operator"])
    expires_at: str = Field(description="ISO 8601")
    reads_patient_data: bool = Field(description="patients, timelines, the stream, alerts")
    changes_alerts: bool = Field(description="acknowledge and resolve alerts")
    reads_operations: bool = Field(description="the operators' figures")


@router.get(
    "/api/v1/me",
    response_model=Me,
    responses={401: refusal("no token, or one that is not valid")},
    tags=["session"],
    summary="Who the token speaks for, and what its role may do",
)
def me(principal: Annotated[Principal, Depends(authenticated)]) -> Me:
    role = principal.role
    return Me(
        name=principal.name,
        role=role.value,
        expires_at=principal.expires_at.isoformat(),
        reads_patient_data=allowed(role, PATIENT_DATA_ROLES),
        changes_alerts=allowed(role, ALERT_CHANGE_ROLES),
        reads_operations=allowed(role, OPERATIONS_ROLES),
    )


def install(app: FastAPI) -> None:
    """The page, its files and ``/api/v1/me`` on ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

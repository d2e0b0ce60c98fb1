"""``/api/v1/patients``: find a patient, read their current state, their timeline and their
FHIR R4 bundle.

A patient key (``AUTHORITY|ID``) goes in the path as it is or percent-encoded: ``|`` as
``%7C``, and a ``/`` inside a key as ``/`` or ``%2F`` (the key is the rest of the path up
to ``/timeline`` or ``/fhir``).  A key that was merged away answers with its survivor's
data and says so (``merged_into``).  Every request is audited (:mod:`.audit`).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from hl7bus.events.model import EventType
from hl7bus.services.timeline.codec import summary_to_dict
from hl7bus.services.timeline.entries import ALERT_TYPES, Entry
from hl7bus.services.timeline.fhir import bundle
from hl7bus.services.timeline.order import instant
from hl7bus.services.timeline.stored import record_json
from hl7bus.services.timeline.summary import PatientSummary
from hl7bus.services.web.audit import AuditNote
from hl7bus.services.web.auth import patient_access
from hl7bus.services.web.errors import NO_NUL, bad_parameter, bad_time, not_found
from hl7bus.services.web.models import (
    SUMMARY_FIELDS,
    FhirBundle,
    PatientFound,
    PatientList,
    PatientSummaryOut,
    Timeline,
    TimelineEntry,
)
from hl7bus.services.web.reading import reading

router = APIRouter(prefix="/api/v1/patients", tags=["patients"])


def refusal(description: str) -> dict[str, Any]:
    """An answer in the API's error shape (JSON, whatever the endpoint's own type)."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    400: refusal("a parameter that is not valid"),
    401: refusal("no token, or one that is not valid"),
    403: refusal("the token's role may not read patient data"),
    503: refusal("the store or the access audit is unavailable"),
}
UNKNOWN = {404: refusal("no patient has this key")}

ISO_TIME = (
    r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d+)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
SAMPLE_KEY = "NORTHWIND|NW100234"

EVENT_TYPES = frozenset({t.value for t in EventType} | set(ALERT_TYPES.values()))
MAX_TEXT = 256

Key = Annotated[
    str,
    Path(
        pattern=NO_NUL,
        description="a patient key, AUTHORITY|ID (as it is or percent-encoded)",
        examples=[SAMPLE_KEY],
    ),
]


def _store(request: Request) -> Any:
    return request.app.state.store


# -- search ---------------------------------------------------------------------------------


@router.get(
    "",
    response_model=PatientList,
    responses=ERRORS,
    summary="Find patients by identifier or by name",
)
def find_patients(
    request: Request,
    note: Annotated[AuditNote, Depends(patient_access)],
    identifier: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_TEXT,
            pattern=NO_NUL,
            description="an identifier of any authority (a medical record number, …)",
        ),
    ] = None,
    authority: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_TEXT,
            pattern=NO_NUL,
            description="the identifier's authority",
        ),
    ] = None,
    name: Annotated[
        str | None,
        Query(
            min_length=1, max_length=MAX_TEXT, pattern=NO_NUL, description="FAMILY or FAMILY,GIVEN"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PatientList:
    if identifier is None and name is None:
        raise bad_parameter(
            "Give identifier=VALUE (and authority=A to narrow it) or name=FAMILY[,GIVEN]."
        )
    if authority is not None and identifier is None:
        raise bad_parameter("The query parameter authority narrows an identifier: give one.")
    family = given = None
    if name is not None:
        family, _, rest = name.partition(",")
        family, given = family.strip(), rest.strip() or None
        if not family:
            raise bad_parameter("The query parameter name starts with a family name.")
    with reading():
        found = _store(request).find_patients(
            identifier=identifier, authority=authority, family=family, given=given, limit=limit
        )
    patients = [_found(key, summary) for key, summary in found]
    note.read(*(p.patient_key for p in patients))
    note.entries = len(patients)
    return PatientList(patients=patients)


def _found(key: str, summary: PatientSummary) -> PatientFound:
    written = summary_to_dict(summary)
    return PatientFound(
        patient_key=key,
        **{name: written[name] for name in PatientFound.model_fields if name != "patient_key"},
    )


# -- one patient ----------------------------------------------------------------------------
# The sub-resources come first: a key may hold "/", and the summary's route takes the whole
# rest of the path.


def _resolve(request: Request, key: str, note: AuditNote) -> tuple[str, PatientSummary]:
    """The surviving key and current state of ``key``, or 404."""
    with reading():
        found = _store(request).summary(key)
    if found is None:
        raise not_found(f"No patient has the key {key!r}.")
    survivor, summary = found
    note.read(survivor)
    return survivor, summary


def _survivor(request: Request, key: str, note: AuditNote) -> str:
    """The surviving key of ``key``, or 404."""
    with reading():
        survivor = _store(request).survivor(key)
    if survivor is None:
        raise not_found(f"No patient has the key {key!r}.")
    note.read(survivor)
    return survivor


@router.get(
    "/{patient_key:path}/timeline",
    response_model=Timeline,
    responses={**ERRORS, **UNKNOWN},
    summary="A patient's timeline, in clinical order, a page at a time",
)
def timeline(
    request: Request,
    patient_key: Key,
    note: Annotated[AuditNote, Depends(patient_access)],
    type: Annotated[  # the API's parameter name
        str | None,
        Query(
            min_length=1,
            max_length=2048,
            pattern=r"^[A-Z_]+(,[A-Z_]+)*$",
            description="event types, comma-separated: OBSERVATIONS_REPORTED,ALERT_RAISED",
        ),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=ISO_TIME,
            description="ISO 8601: from this clinical time on (a partial time: from the "
            "start of its period)",
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=ISO_TIME,
            description="ISO 8601: up to this clinical time",
        ),
    ] = None,
    code: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_TEXT,
            pattern=NO_NUL,
            description="only entries with an observation of this code (LOINC or local)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None,
        Query(min_length=1, max_length=1024, description="the next_cursor of the page before"),
    ] = None,
) -> Response:
    types = _types(type)
    for name, value in (("since", since), ("until", until)):
        if value is not None and instant(value) is None:
            raise bad_time(name)
    survivor = _survivor(request, patient_key, note)
    with reading():
        entries, next_cursor = _store(request).timeline(
            survivor,
            types=types,
            since=since,
            until=until,
            code=code,
            limit=limit,
            cursor=cursor,
        )
    note.read(*(e.patient_key for e in entries))
    note.entries = len(entries)
    # The shape of Timeline, written at once: each entry's event is its stored JSON text.
    page = {
        "patient_key": survivor,
        "requested_key": patient_key,
        "merged_into": survivor if survivor != patient_key else None,
        "entries": [entry_json(e) for e in entries],
        "next_cursor": next_cursor,
    }
    return Response(orjson.dumps(page), media_type="application/json")


def _types(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    types = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(types - EVENT_TYPES)
    if not types or unknown:
        raise bad_parameter(
            f"The query parameter type names unknown event types ({', '.join(unknown)[:200]}); "
            "give types such as OBSERVATIONS_REPORTED,PATIENT_ADMITTED."
        )
    return types


def entry_json(entry: Entry) -> dict[str, Any]:
    """The entry in the shape of :class:`TimelineEntry`, ready for orjson (the event as
    the store holds it)."""
    return {
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "occurred_at": entry.occurred_at,
        "recorded_at": entry.recorded_at,
        "patient_key": entry.patient_key,
        "linked": getattr(entry, "linked", None),
        "summary": entry.summary,
        "event": record_json(entry.event),
    }


def entry_model(entry: Entry) -> TimelineEntry:
    return TimelineEntry(
        event_id=entry.event_id,
        event_type=entry.event_type,
        occurred_at=entry.occurred_at,
        recorded_at=entry.recorded_at,
        patient_key=entry.patient_key,
        linked=getattr(entry, "linked", None),
        summary=entry.summary,
        event=dict(entry.event),
    )


class FhirJSONResponse(JSONResponse):
    media_type = "application/fhir+json"


@router.get(
    "/{patient_key:path}/fhir",
    response_model=FhirBundle,
    response_class=FhirJSONResponse,
    responses={**ERRORS, **UNKNOWN},
    summary="A patient's FHIR R4 Bundle (type collection)",
)
def fhir_bundle(
    request: Request,
    patient_key: Key,
    note: Annotated[AuditNote, Depends(patient_access)],
) -> dict[str, Any]:
    survivor = _survivor(request, patient_key, note)
    with reading():
        events, alerts = _store(request).events(survivor)
    note.entries = len(events)
    return bundle(survivor, events, alerts)


@router.get(
    "/{patient_key:path}",
    response_model=PatientSummaryOut,
    responses={**ERRORS, **UNKNOWN},
    summary="A patient's current state; a merged-away key answers with its survivor's",
)
def patient_summary(
    request: Request,
    patient_key: Key,
    note: Annotated[AuditNote, Depends(patient_access)],
) -> PatientSummaryOut:
    survivor, summary = _resolve(request, patient_key, note)
    written = summary_to_dict(summary)
    return PatientSummaryOut(
        patient_key=survivor,
        requested_key=patient_key,
        merged_into=survivor if survivor != patient_key else None,
        **{name: written[name] for name in SUMMARY_FIELDS},
    )

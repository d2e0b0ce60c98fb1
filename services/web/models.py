"""The API's answers, as pydantic models: each response's JSON and its OpenAPI schema.

The parts of a patient's state are the timeline's own frozen values (``Stay``,
``ResultSeries``, ``ActiveOrder``, … of :mod:`hl7bus.services.timeline.summary`) and the
event contract's (``PersonName``, ``Identifier``, ``Allergy``, … of
:mod:`hl7bus.events.model`): one definition each, so the API says what the events say.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Mapping
from enum import Enum
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from hl7bus.events import model as events
from hl7bus.events.alerts import ClinicalAlert
from hl7bus.events.records import RENAMED
from hl7bus.services.timeline import summary as timeline


@cache
def mirror(cls: type) -> type[BaseModel]:
    """A pydantic model with the fields of the frozen dataclass ``cls`` (those that make its
    value), in the JSON shape of the timeline store's codec: tuples as lists, enums as
    their values, an encounter's ``patient_class`` as ``class``."""
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.compare:
            continue
        hint = _shape(hints[f.name])
        alias = RENAMED.get(f.name)
        fields[f.name] = (hint, Field(alias=alias) if alias else ...)
    config = ConfigDict(frozen=True, validate_by_name=True, serialize_by_alias=True)
    return create_model(cls.__name__, __config__=config, **fields)


def _shape(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_shape(a) for a in typing.get_args(hint))]  # noqa: UP007
    if origin is tuple:
        return list[_shape(typing.get_args(hint)[0])]  # type: ignore[misc]
    if origin in (dict, Mapping):
        key, value = typing.get_args(hint)
        return dict[key, _shape(value)]  # type: ignore[valid-type]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return str
    if dataclasses.is_dataclass(hint):
        return mirror(hint)  # type: ignore[arg-type]
    return hint


# The parts, as the store's codec writes them.
Identifier = mirror(events.Identifier)
PersonName = mirror(events.PersonName)
Address = mirror(events.Address)
Telecom = mirror(events.Telecom)
Allergy = mirror(events.Allergy)
Diagnosis = mirror(events.Diagnosis)
Procedure = mirror(events.Procedure)
Medication = mirror(events.Medication)
Stay = mirror(timeline.Stay)
ResultSeries = mirror(timeline.ResultSeries)
ActiveOrder = mirror(timeline.ActiveOrder)
BookedAppointment = mirror(timeline.BookedAppointment)
FiledDocument = mirror(timeline.FiledDocument)
OpenAlert = mirror(timeline.OpenAlert)


class ErrorBody(BaseModel):
    """Every refusal: a short code and one sentence."""

    error: str = Field(examples=["not_found"])
    message: str = Field(examples=["No patient has the key 'NORTHWIND|404'."])


class PatientFound(BaseModel):
    """One patient a search found."""

    patient_key: str = Field(description="the patient's key (a merged record's survivor)")
    keys: list[str] = Field(description="every patient key folded into this patient")
    identifiers: list[Identifier]  # type: ignore[valid-type]
    name: PersonName | None  # type: ignore[valid-type]
    birth_date: str | None
    sex: str | None
    deceased: bool | None
    event_count: int
    last_event_at: str | None


class PatientList(BaseModel):
    patients: list[PatientFound]


class PatientSummaryOut(BaseModel):
    """One patient's current state, folded from their timeline."""

    patient_key: str = Field(description="the patient whose state this is")
    requested_key: str = Field(description="the key asked for")
    merged_into: str | None = Field(
        description="when the key asked for was merged away: the surviving key (this "
        "answer is the survivor's); else null"
    )
    keys: list[str] = Field(description="every patient key folded into this patient")
    identifiers: list[Identifier]  # type: ignore[valid-type]
    name: PersonName | None  # type: ignore[valid-type]
    birth_date: str | None
    sex: str | None
    address: list[Address]  # type: ignore[valid-type]
    phones: list[Telecom]  # type: ignore[valid-type]
    deceased: bool | None
    deceased_at: str | None
    stay: Stay | None = Field(  # type: ignore[valid-type]
        description="the current (or last) encounter and where the patient is"
    )
    allergies: list[Allergy]  # type: ignore[valid-type]
    problems: list[Diagnosis]  # type: ignore[valid-type]
    procedures: list[Procedure] = Field(  # type: ignore[valid-type]
        description="procedures performed (PR1), each once, oldest first"
    )
    results: dict[str, ResultSeries] = Field(  # type: ignore[valid-type]
        description="by observation code: the latest results, the latest last"
    )
    orders: dict[str, ActiveOrder] = Field(  # type: ignore[valid-type]
        description="active orders, by order id"
    )
    medications: dict[str, ActiveOrder] = Field(  # type: ignore[valid-type]
        description="active medication orders, by order id"
    )
    immunizations: list[Medication]  # type: ignore[valid-type]
    appointments: dict[str, BookedAppointment]  # type: ignore[valid-type]
    documents: dict[str, FiledDocument] = Field(  # type: ignore[valid-type]
        description="by document id, without their content"
    )
    alerts: dict[str, OpenAlert] = Field(  # type: ignore[valid-type]
        description="open alerts, by alert id"
    )
    event_count: int
    last_event_at: str | None


SUMMARY_FIELDS = tuple(
    name
    for name in PatientSummaryOut.model_fields
    if name not in ("patient_key", "requested_key", "merged_into")
)
"""The fields of the answer that come from the stored summary."""


class TimelineEntry(BaseModel):
    """One line of a timeline: an event, or a change of an alert."""

    event_id: str
    event_type: str = Field(examples=["OBSERVATIONS_REPORTED", "ALERT_RAISED"])
    occurred_at: str | None = Field(description="clinical time, ISO 8601 as sent")
    recorded_at: str | None = Field(description="when the sender recorded it (MSH-7)")
    patient_key: str = Field(description="the key the event was sent under")
    linked: str | None = Field(
        default=None,
        description="for an entry of a patient linked with this one (A24): that patient's "
        "key; null for the patient's own entries",
    )
    summary: str = Field(description="one line for people")
    event: dict[str, Any] = Field(
        description="the whole ClinicalEvent record (or ClinicalAlert record)"
    )


class Timeline(BaseModel):
    patient_key: str = Field(description="the patient whose timeline this is")
    requested_key: str
    merged_into: str | None
    entries: list[TimelineEntry] = Field(description="in clinical order")
    next_cursor: str | None = Field(description="give it as ?cursor= for the next page")


class FhirBundle(BaseModel):
    """A FHIR R4 Bundle of type collection."""

    model_config = ConfigDict(extra="allow")

    resourceType: Literal["Bundle"]  # FHIR's name
    id: str
    type: Literal["collection"]
    entry: list[dict[str, Any]]


Alert = mirror(ClinicalAlert)
"""An alert in its latest state: the fields of the ``ClinicalAlert`` record."""


class AlertList(BaseModel):
    alerts: list[Alert] = Field(  # type: ignore[valid-type]
        description="each alert once, in its latest state, the newest raised first"
    )


class StreamedEntry(TimelineEntry):
    """The data of one server-sent event of ``/api/v1/stream``; its ``id:`` is
    ``sequence``."""

    sequence: int


class Health(BaseModel):
    ok: bool
    kafka: Literal["reachable", "unreachable"]
    store: Literal["reachable", "unreachable"]
    audit: Literal["ok", "backed_up"]
    audit_backlog: int = Field(description="access records Kafka has not acknowledged yet")

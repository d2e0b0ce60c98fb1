"""Event <-> Avro record, in one place beside the schema.  The record is also the
event's plain dict form (what ``hl7bus translate`` prints as JSON)."""

from __future__ import annotations

import dataclasses
import io
from enum import Enum
from functools import cache
from typing import Any

from hl7bus.events import model

# Python names that differ from the record's field names.
_RENAMED = {"patient_class": "class"}


@cache
def _fields(cls: type) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, _RENAMED.get(f.name, f.name)) for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool) and not isinstance(value, Enum):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return {out: _plain(getattr(value, name)) for name, out in _fields(type(value))}


def to_record(event: model.ClinicalEvent) -> dict[str, Any]:
    """The event as a dict in the shape of ``schemas/clinical_event.avsc``."""
    return _plain(event)


def _build(cls: type, data: Any) -> Any:
    if data is None:
        return None
    hints = _hints(cls)
    kwargs = {}
    for name, out in _fields(cls):
        if out not in data:
            continue
        kwargs[name] = _value(hints[name], data[out])
    return cls(**kwargs)


@cache
def _hints(cls: type) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls, vars(model))


def _value(hint: Any, data: Any) -> Any:
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if data is None else _value(inner[0], data)
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(hint)
        return tuple(_value(item, v) for v in data)
    if origin is dict:
        return dict(data)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if dataclasses.is_dataclass(hint):
        return _build(hint, data)
    return data


def from_record(record: dict[str, Any]) -> model.ClinicalEvent:
    """The event back from its record (as read from Kafka or JSON)."""
    return _build(model.ClinicalEvent, record)


def encode(event: model.ClinicalEvent) -> bytes:
    """Schemaless Avro binary of the event (the payload inside Confluent's wire format)."""
    import fastavro

    from hl7bus.serde import parsed_schema

    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed_schema("ClinicalEvent"), to_record(event))
    return out.getvalue()


def decode(data: bytes) -> model.ClinicalEvent:
    import fastavro

    from hl7bus.serde import parsed_schema

    schema = parsed_schema("ClinicalEvent")
    return from_record(fastavro.schemaless_reader(io.BytesIO(data), schema, schema))

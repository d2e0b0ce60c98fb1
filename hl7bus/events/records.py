"""Event <-> Avro record, in one place beside the schema.  The record is also the
event's plain dict form (what ``hl7bus translate`` prints as JSON)."""

from __future__ import annotations

import dataclasses
import io
from enum import Enum
from functools import cache
from typing import Any

from hl7bus.events import model

RENAMED = {"patient_class": "class"}
"""The model's attribute names that differ from the record's field names."""


@cache
def _fields(cls: type) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, RENAMED.get(f.name, f.name)) for f in dataclasses.fields(cls))


def field_kind(hint: Any) -> tuple[str, type | None]:
    """How a field of the model converts, from its type hint: ``plain``, ``enum`` (with the
    enum), ``one`` value object or ``many`` (with its class), a ``list`` or a ``map``."""
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return ("many", item) if dataclasses.is_dataclass(item) else ("list", None)
    if origin is dict:
        return "map", None
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "enum", hint
    if dataclasses.is_dataclass(hint):
        return "one", hint
    return "plain", None


@cache
def _converter(cls: type) -> Any:
    """A function from an instance of ``cls`` to its record dict, built once per class."""
    hints = _hints(cls)
    lines, env = [], {}
    for name, out in _fields(cls):
        kind, inner = field_kind(hints[name])
        if kind == "plain":
            expr = f"o.{name}"
        elif kind == "enum":
            expr = f"o.{name}.value"
        elif kind == "one":
            env[f"c_{name}"] = inner
            expr = f"None if o.{name} is None else conv(c_{name})(o.{name})"
        elif kind == "many":
            env[f"c_{name}"] = inner
            expr = f"[conv(c_{name})(x) for x in o.{name}]"
        elif kind == "list":
            expr = f"list(o.{name})"
        else:
            expr = f"dict(o.{name})"
        lines.append(f"    {out!r}: {expr},")
    source = "def convert(o):\n  return {\n" + "\n".join(lines) + "\n  }\n"
    namespace: dict[str, Any] = {"conv": _converter, **env}
    exec(compile(source, f"<record converter {cls.__name__}>", "exec"), namespace)
    return namespace["convert"]


def to_record(event: model.ClinicalEvent) -> dict[str, Any]:
    """The event as a dict in the shape of ``schemas/clinical_event.avsc``."""
    return _converter(model.ClinicalEvent)(event)


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


@cache
def _writer() -> Any:
    """The event's encoder, reading the model's attributes directly (no record dict)."""
    import json

    from hl7bus.avro.schemas import schema_text
    from hl7bus.avro.writer import compile_object_writer

    attributes = {out: name for name, out in RENAMED.items()}
    return compile_object_writer(json.loads(schema_text("ClinicalEvent")), attributes)


def encode(event: model.ClinicalEvent) -> bytes:
    """Schemaless Avro binary of the event (the payload inside Confluent's wire format),
    the same bytes as the encoding of :func:`to_record`'s record."""
    return _writer()(event)


def decode(data: bytes) -> model.ClinicalEvent:
    import fastavro

    from hl7bus.avro.schemas import parsed_schema

    schema = parsed_schema("ClinicalEvent")
    return from_record(fastavro.schemaless_reader(io.BytesIO(data), schema, schema))

"""A patient's summary as JSON and back, as the timeline store keeps it.

:func:`summary_to_json` writes the fields of :class:`~.summary.PatientSummary` that make
its value (what ``==`` compares); the fold's working memory (recent entries, the event
ids folded, the last patient record seen) is not written, so a summary read back with
:func:`summary_from_json` equals the one written and takes later entries with
``summary.apply``; one that sorts before its last entry makes ``apply`` raise
``EntryOutOfOrder`` (fold the patient's entries again).

Parts of the events keep their record field names (``"class"`` for an encounter's
patient class, as in the events); an :class:`~.summary.OpenAlert`'s alert is the alert's
record; ``last_order`` is ``[occurred, recorded, event_id]``.

A :class:`FragmentMemo` remembers the JSON of the parts of a patient's summary by identity:
the fold shares every part an entry did not change with the summary before, so writing a
patient's summary again after one more result encodes only that result's series.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from functools import cache
from typing import Any, Final

import orjson

from hl7bus.events import model
from hl7bus.events.alerts import ClinicalAlert, alert_from_record, alert_to_record
from hl7bus.events.records import RENAMED
from hl7bus.services.timeline import summary as sm
from hl7bus.services.timeline.order import OrderKey
from hl7bus.services.timeline.parts import builder, constructor

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]


def _written(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that make its value (those ``==`` compares)."""
    return [f for f in dataclasses.fields(cls) if f.compare]


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))


def _unoptional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


# Encoding: a value -> a JSON-ready value.


@cache
def encoder(hint: Any) -> Encode:
    """The function from a value of type ``hint`` to its JSON-ready form."""
    hint = _unoptional(hint)
    origin = typing.get_origin(hint)
    if hint is OrderKey:
        return lambda v: None if v is None else list(v)
    if hint is ClinicalAlert:
        return lambda v: None if v is None else alert_to_record(v)
    if origin is tuple:
        item = encoder(typing.get_args(hint)[0])
        return lambda v: [item(x) for x in v]
    if origin in (dict, Mapping):
        value = encoder(typing.get_args(hint)[1])
        return lambda v: {k: value(x) for k, x in v.items()}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return lambda v: None if v is None else v.value
    if dataclasses.is_dataclass(hint):
        return _dataclass_encoder(hint)
    return lambda v: v


@cache
def _dataclass_encoder(cls: type) -> Encode:
    hints = _hints(cls)
    env: dict[str, Any] = {}
    items = []
    for i, f in enumerate(_written(cls)):
        env[f"e{i}"] = encoder(hints[f.name])
        items.append(f"{RENAMED.get(f.name, f.name)!r}: e{i}(o.{f.name})")
    source = f"def encode(o):\n    return None if o is None else {{{', '.join(items)}}}\n"
    exec(compile(source, f"<json encoder {cls.__name__}>", "exec"), env)
    return env["encode"]


# Decoding: a JSON value -> the value.


@cache
def decoder(hint: Any) -> Decode:
    """The function from the JSON form of a value of type ``hint`` to the value."""
    hint = _unoptional(hint)
    origin = typing.get_origin(hint)
    if hint is OrderKey:
        return lambda v: None if v is None else OrderKey(*v)
    if hint is ClinicalAlert:
        return lambda v: None if v is None else alert_from_record(v)
    if origin is tuple:
        item = decoder(typing.get_args(hint)[0])
        return lambda v: () if v is None else tuple(map(item, v))
    if origin in (dict, Mapping):
        value = decoder(typing.get_args(hint)[1])
        return lambda v: {} if v is None else {k: value(x) for k, x in v.items()}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return lambda v: None if v is None else hint(v)
    if dataclasses.is_dataclass(hint):
        if hint.__module__ == model.__name__:
            build = builder(hint)
            return lambda v: None if v is None else build(v)
        return _dataclass_decoder(hint)
    return lambda v: v


@cache
def _dataclass_decoder(cls: type) -> Decode:
    """Fields missing from the JSON take their defaults; the fold's memory starts empty."""
    hints = _hints(cls)
    env: dict[str, Any] = {"make": constructor(cls)}
    arguments = []
    written = {f.name for f in _written(cls)}
    for i, f in enumerate(dataclasses.fields(cls)):
        if f.default is not dataclasses.MISSING:
            env[f"d{i}"] = f.default
            default = f"d{i}"
        elif f.default_factory is not dataclasses.MISSING:
            env[f"d{i}"] = f.default_factory
            default = f"d{i}()"
        else:
            default = None
        if f.name not in written:
            arguments.append(default or "None")
            continue
        env[f"c{i}"] = decoder(hints[f.name])
        out = RENAMED.get(f.name, f.name)
        if default is None:
            arguments.append(f"c{i}(d[{out!r}])")
        else:
            arguments.append(f"c{i}(d[{out!r}]) if {out!r} in d else {default}")
    source = f"def decode(d):\n    return None if d is None else make({', '.join(arguments)})\n"
    exec(compile(source, f"<json decoder {cls.__name__}>", "exec"), env)
    return env["decode"]


# The summary.


def summary_to_dict(summary: sm.PatientSummary) -> dict[str, Any]:
    """The summary's JSON-ready form."""
    return _dataclass_encoder(sm.PatientSummary)(summary)


def summary_from_dict(data: Mapping[str, Any]) -> sm.PatientSummary:
    """The summary back from its JSON-ready form.  It remembers no entry: everything up to
    its last entry counts as forgotten, so a later ``summary.apply`` of an entry that sorts
    before its last raises ``EntryOutOfOrder`` (fold the patient's entries again)."""
    summary = _dataclass_decoder(sm.PatientSummary)(data)
    return summary if summary.last_order is None else sm.forget(summary)


def summary_from_json(text: str | bytes, memo: FragmentMemo | None = None) -> sm.PatientSummary:
    """The summary back from its text; with ``memo`` (the patient's), the text of each of
    its parts is remembered, as if it had just been written."""
    data = orjson.loads(text)
    summary = summary_from_dict(data)
    if memo is not None:
        memo.read(summary, data)
    return summary


class FragmentMemo:
    """The JSON text of the parts of the summary last written with it, by the identity of
    the part: the fold shares every part an entry did not change with the summary before,
    so writing a patient's summary again after one more result encodes only that result's
    series.  Keep one memo per patient (it remembers one summary's parts: those of the last
    write, nothing older)."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        # field name -> (value, text), and for a mapping: (value, text, {key: (item, text)})
        self._parts: dict[str, tuple[Any, ...]] = {}

    def clear(self) -> None:
        self._parts = {}

    def read(self, summary: sm.PatientSummary, data: Mapping[str, Any]) -> None:
        """Remember the parts of ``summary``, read from ``data`` (its JSON-ready form)."""
        parts: dict[str, tuple[Any, ...]] = {}
        for name in _WRITTEN:
            if name not in data:
                continue  # written again from the value
            value, raw = getattr(summary, name), data[name]
            if name in _MAPPINGS:
                if not isinstance(raw, dict) or raw.keys() != value.keys():
                    continue
                items = {k: (value[k], _orjson_dumps(x)) for k, x in raw.items()}
                parts[name] = (value, _orjson_dumps(raw), items)
            else:
                parts[name] = (value, _orjson_dumps(raw))
        self._parts = parts


# Writing JSON text straight from the values.  orjson writes the frozen dataclasses of the
# summary as the objects of their fields, in their order, enums as their values and tuples
# as arrays: the JSON-ready form of :func:`summary_to_dict`, with three exceptions handled
# here: the fold's memory is not written, ``last_order`` is an array, and the fields of
# :data:`RENAMED` take their record names.

_WRITTEN: Final = tuple(f.name for f in _written(sm.PatientSummary))
_NAMES: Final = {name: _dumps(name).encode() + b":" for name in _WRITTEN}


def _reach(hint: Any, seen: frozenset[Any] = frozenset()) -> tuple[frozenset[str], bool]:
    """The field names that values of type ``hint`` may hold, and whether they may hold a
    mapping (whose keys are data)."""
    hint = _unoptional(hint)
    origin = typing.get_origin(hint)
    if origin is tuple:
        return _reach(typing.get_args(hint)[0], seen)
    if origin in (dict, Mapping):
        return _reach(typing.get_args(hint)[1], seen)[0], True
    if not dataclasses.is_dataclass(hint) or hint in seen:
        return frozenset(), False
    names, mapping = set(), False
    hints = _hints(hint)
    for f in _written(hint):
        inner, inner_mapping = _reach(hints[f.name], seen | {hint})
        names |= {f.name, *inner}
        mapping = mapping or inner_mapping
    return frozenset(names), mapping


def _renaming() -> frozenset[str]:
    """The summary's fields whose text is renamed: those that may hold a field of
    :data:`RENAMED` (and then no mapping, whose keys the renaming must not reach)."""
    found = set()
    for name, hint in _hints(sm.PatientSummary).items():
        if name in _NAMES:
            names, mapping = _reach(hint)
            if names & RENAMED.keys():
                assert not mapping, name
                found.add(name)
    return frozenset(found)


_MAPPINGS: Final = frozenset(
    name
    for name in _WRITTEN
    if typing.get_origin(_unoptional(_hints(sm.PatientSummary)[name])) in (dict, Mapping)
)
_RENAMING: Final = _renaming()
_RENAMES: Final = tuple(
    (_dumps(name).encode() + b":", _dumps(out).encode() + b":") for name, out in RENAMED.items()
)
_orjson_dumps = orjson.dumps


def _part(name: str, value: Any) -> bytes:
    """The JSON text of one field's value (or of one item of a mapping field)."""
    if name == "last_order":
        return b"null" if value is None else _orjson_dumps(list(value))
    text = _orjson_dumps(value)
    if name in _RENAMING:
        # Only keys can hold a quote followed by a name and `":` (a quote inside a string
        # is escaped), and these fields hold no mapping with keys of their own.
        for old, new in _RENAMES:
            text = text.replace(old, new)
    return text


def summary_to_json(summary: sm.PatientSummary, memo: FragmentMemo | None = None) -> str:
    """The summary as JSON text (compact).  With ``memo`` (the patient's), parts already
    written the last time are not written again."""
    before = memo._parts if memo is not None else {}
    parts: dict[str, tuple[Any, ...]] = {}
    pieces = []
    for name in _WRITTEN:
        value = getattr(summary, name)
        known = before.get(name)
        if known is None or known[0] is not value:
            if name in _MAPPINGS:
                known = _mapping(name, value, known[2] if known is not None else {})
            else:
                known = (value, _part(name, value))
        parts[name] = known
        pieces.append(_NAMES[name] + known[1])
    if memo is not None:
        memo._parts = parts
    return (b"{" + b",".join(pieces) + b"}").decode()


def _mapping(
    name: str, value: Mapping[str, Any], before: dict[str, tuple[Any, bytes]]
) -> tuple[Any, bytes, dict[str, tuple[Any, bytes]]]:
    items: dict[str, tuple[Any, bytes]] = {}
    pieces = []
    for key, item in value.items():
        known = before.get(key)
        if known is None or known[0] is not item:
            known = (item, _part(name, item))
        items[key] = known
        pieces.append(_orjson_dumps(key) + b":" + known[1])
    return value, b"{" + b",".join(pieces) + b"}", items

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

A :class:`FragmentMemo` remembers the JSON of the parts of a summary by identity: the fold
shares every part an entry did not change with the summary before, so writing a patient's
summary again after one more result encodes only that result's series.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from functools import cache, lru_cache
from typing import Any

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
    if summary.last_order is None:
        return summary
    return dataclasses.replace(summary, forgotten=summary.last_order)


def summary_from_json(text: str) -> sm.PatientSummary:
    return summary_from_dict(json.loads(text))


class FragmentMemo:
    """The JSON text of parts of summaries, by the identity of the part.

    The fold never changes a part once a summary holds it (a changed part is a new object),
    so a part's text stays true while the part is alive, and the memo keeps it alive.  It
    keeps what was used since the last :meth:`rotate` and the rotation before (a writer
    rotates once per batch), at most ``limit`` parts of each."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._texts: dict[int, tuple[Any, str]] = {}
        self._before: dict[int, tuple[Any, str]] = {}

    def text(self, value: Any, write: Callable[[Any, FragmentMemo], str]) -> str:
        """The JSON text of ``value``, written by ``write(value, memo)`` once per value."""
        key = id(value)
        found = self._texts.get(key)
        if found is not None and found[0] is value:
            return found[1]
        found = self._before.get(key)
        text = found[1] if found is not None and found[0] is value else write(value, self)
        if len(self._texts) >= self.limit:
            self.rotate()
        self._texts[key] = (value, text)
        return text

    def rotate(self) -> None:
        """Forget what was not used since the rotation before this one."""
        self._before, self._texts = self._texts, {}

    def clear(self) -> None:
        self._texts.clear()
        self._before.clear()


# Writing JSON text straight from the values, each part through the memo.

Write = Callable[[Any, FragmentMemo], str]
_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is str:
        return _quote(value)
    return _dumps(value)


@cache
def writer(hint: Any) -> Write:
    """The function ``(value, memo) -> JSON text`` of a value of type ``hint``: the text of
    ``_dumps(encoder(hint)(value))``, with every part (a dataclass value) from the memo."""
    hint = _unoptional(hint)
    origin = typing.get_origin(hint)
    if hint is OrderKey or hint is ClinicalAlert:
        encode = encoder(hint)
        return lambda v, memo: _dumps(encode(v))
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if dataclasses.is_dataclass(item):
            part = writer(item)
            return lambda v, memo: "[" + ",".join([memo.text(x, part) for x in v]) + "]"
        return lambda v, memo: "[" + ",".join(map(_scalar, v)) + "]" if v else "[]"
    if origin in (dict, Mapping):
        value = typing.get_args(hint)[1]
        if dataclasses.is_dataclass(value):
            part = writer(value)
            return lambda v, memo: (
                "{" + ",".join([f"{_key(k)}:{memo.text(x, part)}" for k, x in v.items()]) + "}"
            )
        return lambda v, memo: _dumps(v)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return lambda v, memo: "null" if v is None else _quote(v.value)
    if dataclasses.is_dataclass(hint):
        return _dataclass_writer(hint)
    return lambda v, memo: _scalar(v)


@cache
def _dataclass_writer(cls: type) -> Write:
    hints = _hints(cls)
    env: dict[str, Any] = {"scalar": _scalar, "quote": _quote}
    pieces = []
    for i, f in enumerate(_written(cls)):
        key = _dumps(RENAMED.get(f.name, f.name))
        hint = _unoptional(hints[f.name])
        pieces.append(repr(("," if pieces else "{") + key + ":"))
        value = f"o.{f.name}"
        if hint is str:  # the common case, without a call of scalar()
            pieces.append(f"(quote({value}) if {value}.__class__ is str else scalar({value}))")
        elif hint in (int, bool, float):
            pieces.append(f"scalar({value})")
        elif dataclasses.is_dataclass(hint) and hint is not ClinicalAlert:
            env[f"w{i}"] = writer(hint)
            pieces.append(f"('null' if o.{f.name} is None else memo.text(o.{f.name}, w{i}))")
        elif typing.get_origin(hint) in (tuple, dict, Mapping):
            # A collection that did not change is the same object: its text too.
            env[f"w{i}"] = writer(hint)
            pieces.append(f"memo.text(o.{f.name}, w{i})")
        else:
            env[f"w{i}"] = writer(hint)
            pieces.append(f"w{i}(o.{f.name}, memo)")
    pieces.append("'}'" if pieces else "'{}'")
    # One join: adding the pieces one by one would copy the growing text each time.
    source = (
        "def write(o, memo):\n"
        f"    return 'null' if o is None else ''.join(({', '.join(pieces)},))\n"
    )
    exec(compile(source, f"<json writer {cls.__name__}>", "exec"), env)
    return env["write"]


def summary_to_json(summary: sm.PatientSummary, memo: FragmentMemo | None = None) -> str:
    """The summary as JSON text (compact).  With ``memo``, parts already written are not
    written again."""
    if memo is None:
        return _dumps(summary_to_dict(summary))
    return _dataclass_writer(sm.PatientSummary)(summary, memo)


@lru_cache(maxsize=65_536)
def _key(key: str) -> str:
    return _dumps(key)

"""Parts of an event record (a location, a name, an allergy…) as the frozen values of
:mod:`hl7bus.events.model`, fast enough to run on every event a fold sees.

One builder per class, written out once as plain code from the class's fields (the
reverse of the converters in :mod:`hl7bus.events.records`); fields missing from the
record take their defaults, so records written before a field existed still build.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from hl7bus.events import model
from hl7bus.events.records import RENAMED, field_kind

T = TypeVar("T")


def build(cls: type[T], record: Mapping[str, Any]) -> T:
    """An instance of the model class ``cls`` from its record."""
    return builder(cls)(record)


@cache
def builder(cls: type[T]) -> Callable[[Mapping[str, Any]], T]:
    """The function from a record to an instance of ``cls``, written once per class."""
    hints = typing.get_type_hints(cls, vars(model))
    env: dict[str, Any] = {"cls": cls, "builder": builder}
    lines = ["def build(d):", "    get = d.get"]
    arguments = []
    for i, f in enumerate(dataclasses.fields(cls)):
        out = RENAMED.get(f.name, f.name)
        kind, inner = field_kind(hints[f.name])
        value = f"get({out!r})"
        if kind == "list":
            expr = f"tuple({value} or ())"
        elif kind == "many":
            env[f"c{i}"] = inner
            expr = f"tuple(map(builder(c{i}), {value} or ()))"
        elif kind == "one":
            env[f"c{i}"] = inner
            lines.append(f"    v{i} = {value}")
            expr = f"None if v{i} is None else builder(c{i})(v{i})"
        elif kind == "enum":
            env[f"c{i}"] = inner
            lines.append(f"    v{i} = {value}")
            expr = f"None if v{i} is None else c{i}(v{i})"
        elif kind == "map":
            expr = f"dict({value} or {{}})"
        else:
            expr = value
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            expr = f"d[{out!r}]" if kind == "plain" else expr  # required: missing is an error
        elif kind == "plain":
            env[f"default{i}"] = f.default
            expr = f"get({out!r}, default{i})"
        arguments.append(expr)
    env["make"] = constructor(cls)
    lines.append(f"    return make({', '.join(arguments)})")
    namespace = dict(env)
    exec(compile("\n".join(lines), f"<record builder {cls.__name__}>", "exec"), namespace)
    return namespace["build"]


@cache
def constructor(cls: type[T]) -> Callable[..., T]:
    """A constructor of the frozen, slotted dataclass ``cls`` taking every field in order,
    positionally: it fills the slots directly, about twice as fast as the dataclass's own
    ``__init__`` (which goes through ``object.__setattr__`` once per field).  For classes
    without ``__post_init__`` only."""
    assert "__post_init__" not in vars(cls), cls
    names = [f.name for f in dataclasses.fields(cls)]
    env: dict[str, Any] = {"new": object.__new__, "cls": cls}
    lines = [f"def make({', '.join(names)}):", "    o = new(cls)"]
    for i, name in enumerate(names):
        env[f"s{i}"] = getattr(cls, name).__set__
        lines.append(f"    s{i}(o, {name})")
    lines.append("    return o")
    exec(compile("\n".join(lines), f"<constructor {cls.__name__}>", "exec"), env)
    return env["make"]

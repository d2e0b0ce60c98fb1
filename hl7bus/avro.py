"""A compiled Avro binary encoder for the bus's record schemas.

The schema is turned once into a tree of small closures, each writing one type into a
``bytearray``; union branches are chosen by Python type without validating whole
sub-records.  The output is byte for byte what any Avro writer produces (the tests
compare it with fastavro's), several times faster than a generic writer on the large,
nested, mostly-optional ``ClinicalEvent``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

Write = Callable[[Any, bytearray], None]

_DOUBLE = struct.Struct("<d").pack
_FLOAT = struct.Struct("<f").pack


def write_long(n: int, out: bytearray) -> None:
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _write_null(_value: Any, _out: bytearray) -> None:
    return None


def _write_boolean(value: Any, out: bytearray) -> None:
    out.append(1 if value else 0)


def _write_string(value: Any, out: bytearray) -> None:
    data = value.encode()
    write_long(len(data), out)
    out += data


def _write_bytes(value: Any, out: bytearray) -> None:
    write_long(len(value), out)
    out += value


def _write_double(value: Any, out: bytearray) -> None:
    out += _DOUBLE(value)


def _write_float(value: Any, out: bytearray) -> None:
    out += _FLOAT(value)


_PRIMITIVES: dict[str, Write] = {
    "null": _write_null,
    "boolean": _write_boolean,
    "int": write_long,
    "long": write_long,
    "float": _write_float,
    "double": _write_double,
    "bytes": _write_bytes,
    "string": _write_string,
}

_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, float | int) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, float | int) and not isinstance(v, bool),
    "bytes": lambda v: isinstance(v, bytes | bytearray),
    "string": lambda v: isinstance(v, str),
    "record": lambda v: isinstance(v, dict),
    "map": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list | tuple),
    "enum": lambda v: isinstance(v, str),
    "fixed": lambda v: isinstance(v, bytes),
}


class _Compiler:
    def __init__(self, namespace: str | None) -> None:
        self.named: dict[str, Write] = {}
        self.kinds: dict[str, str] = {}
        self.namespace = namespace

    def full_name(self, name: str, namespace: str | None) -> str:
        return name if "." in name else f"{namespace}.{name}" if namespace else name

    def kind(self, schema: Any, namespace: str | None) -> str:
        if isinstance(schema, str):
            return (
                schema if schema in _PRIMITIVES else self.kinds[self.full_name(schema, namespace)]
            )
        if isinstance(schema, list):
            return "union"
        return schema["type"] if isinstance(schema["type"], str) else "union"

    def compile(self, schema: Any, namespace: str | None) -> Write:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _PRIMITIVES[schema]
            full = self.full_name(schema, namespace)
            return lambda value, out: self.named[full](value, out)
        if isinstance(schema, list):
            return self.union(schema, namespace)
        kind = schema["type"]
        if not isinstance(kind, str) or kind in _PRIMITIVES:
            return self.compile(kind, namespace)
        if kind == "record":
            return self.record(schema, namespace)
        if kind == "enum":
            return self.enum(schema, namespace)
        if kind == "array":
            return self.array(self.compile(schema["items"], namespace))
        if kind == "map":
            return self.map(self.compile(schema["values"], namespace))
        if kind == "fixed":
            self.kinds[self.full_name(schema["name"], schema.get("namespace", namespace))] = "fixed"
            return lambda value, out: out.extend(value)
        raise ValueError(f"unsupported Avro type {kind!r}")

    def record(self, schema: dict, namespace: str | None) -> Write:
        namespace = schema.get("namespace", namespace)
        full = self.full_name(schema["name"], namespace)
        self.kinds[full] = "record"
        fields = [(f["name"], self.compile(f["type"], namespace)) for f in schema["fields"]]

        def write_record(value: Any, out: bytearray) -> None:
            for name, write in fields:
                write(value[name], out)

        self.named[full] = write_record
        return write_record

    def enum(self, schema: dict, namespace: str | None) -> Write:
        full = self.full_name(schema["name"], schema.get("namespace", namespace))
        self.kinds[full] = "enum"
        index = {symbol: i for i, symbol in enumerate(schema["symbols"])}

        def write_enum(value: Any, out: bytearray) -> None:
            write_long(index[value], out)

        self.named[full] = write_enum
        return write_enum

    @staticmethod
    def array(write_item: Write) -> Write:
        def write_array(value: Any, out: bytearray) -> None:
            if value:
                write_long(len(value), out)
                for item in value:
                    write_item(item, out)
            out.append(0)

        return write_array

    @staticmethod
    def map(write_value: Write) -> Write:
        def write_map(value: Any, out: bytearray) -> None:
            if value:
                write_long(len(value), out)
                for key, item in value.items():
                    _write_string(key, out)
                    write_value(item, out)
            out.append(0)

        return write_map

    def union(self, branches: list, namespace: str | None) -> Write:
        compiled = [
            (i, self.kind(b, namespace), self.compile(b, namespace)) for i, b in enumerate(branches)
        ]
        if len(compiled) == 2 and compiled[0][1] == "null":
            _, _, write_other = compiled[1]

            def write_optional(value: Any, out: bytearray) -> None:
                if value is None:
                    out.append(0)
                else:
                    out.append(2)  # zigzag(1)
                    write_other(value, out)

            return write_optional
        choices = [(i, _ACCEPTS[kind], write) for i, kind, write in compiled]

        def write_union(value: Any, out: bytearray) -> None:
            for i, accepts, write in choices:
                if accepts(value):
                    write_long(i, out)
                    write(value, out)
                    return
            raise ValueError(f"{type(value).__name__} fits no branch of the union")

        return write_union


def compile_writer(schema: dict) -> Callable[[Any], bytes]:
    """A function from a record (dict) to its Avro binary encoding under ``schema``."""
    write = _Compiler(schema.get("namespace")).compile(schema, schema.get("namespace"))

    def encode(record: Any) -> bytes:
        out = bytearray()
        write(record, out)
        return bytes(out)

    return encode

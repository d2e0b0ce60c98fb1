"""A compiled Avro binary encoder for the bus's record schemas.

Each schema is turned once into Python source, one straight-line function per named
record with every field written in place (optional strings, enums, arrays, maps and unions
inline), and that source is compiled.  The same encoder reads its records in one of two
ways: as dicts keyed by field name (:func:`compile_writer`, for every schema of the bus)
or as objects whose attributes are the fields (:func:`compile_object_writer`, for the
frozen dataclasses of :mod:`hl7bus.events.model`, without building a dict first).

Union branches are chosen by Python type without validating whole sub-records.  The
output is byte for byte what any Avro writer produces (the tests compare it with
fastavro's).
"""

from __future__ import annotations

import keyword
import linecache
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))


def write_long(n: int, out: bytearray) -> None:
    """Append ``n`` as an Avro long: zig-zag, then 7 bits a byte, low bits first."""
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


@dataclass(frozen=True, slots=True)
class _Access:
    """How the encoder reads a record's fields: by key from a dict, or by attribute, with
    ``attributes`` naming the attribute of each field whose name differs."""

    by_key: bool
    attributes: Mapping[str, str]

    @property
    def mode(self) -> str:
        return "keys" if self.by_key else "attributes"

    def read(self, name: str) -> str:
        """The expression reading field ``name`` of the record in ``o``."""
        if self.by_key:
            return f"o[{name!r}]"
        attribute = self.attributes.get(name, name)
        return f"getattr(o, {attribute!r})" if keyword.iskeyword(attribute) else f"o.{attribute}"

    def is_record(self, var: str) -> str:
        if self.by_key:
            return f"isinstance({var}, dict)"
        return f"hasattr({var}, '__dataclass_fields__')"


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _write_length(n: str) -> list[str]:
    """Source appending the non-negative int in ``n``, one byte when it is below 64."""
    return [f"if {n} < 64:", f"    append({n} << 1)", "else:", f"    write_long({n}, out)"]


class _Generator:
    """Generates the encoder's source for one schema: ``functions`` holds one function per
    named record, ``env`` the names that source uses (enum tables and helpers)."""

    def __init__(self, access: _Access) -> None:
        self.access = access
        self.functions: list[str] = []
        self.env: dict[str, Any] = {
            "write_long": write_long,
            "pack_double": struct.Struct("<d").pack,
            "pack_float": struct.Struct("<f").pack,
            "branch_1_and_length": tuple(bytes((2, n << 1)) for n in range(64)),
        }
        self.named: dict[str, tuple[str, str]] = {}  # full name -> (kind, generated name)

    @staticmethod
    def full_name(name: str, namespace: str | None) -> str:
        return name if "." in name else f"{namespace}.{name}" if namespace else name

    def kind(self, schema: Any, namespace: str | None) -> str:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return schema
            return self.named[self.full_name(schema, namespace)][0]
        if isinstance(schema, list):
            return "union"
        kind = schema["type"]
        if isinstance(kind, str) and kind not in _PRIMITIVES:
            return kind
        return self.kind(kind, namespace)

    def identifier(self, kind: str, name: str) -> str:
        return f"{kind}{len(self.named)}_{name.rsplit('.', 1)[-1]}"

    def write(self, schema: Any, namespace: str | None, var: str, depth: int) -> list[str]:
        """Source appending the value held in ``var`` under ``schema``."""
        if isinstance(schema, list):
            return self.union(schema, namespace, var, depth)
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self.primitive(schema, var, depth)
            kind, name = self.named[self.full_name(schema, namespace)]
            return self.named_value(kind, name, var)
        kind = schema["type"]
        if not isinstance(kind, str) or kind in _PRIMITIVES:
            return self.write(kind, namespace, var, depth)
        if kind == "array":
            return self.array(schema["items"], namespace, var, depth)
        if kind == "map":
            return self.map(schema["values"], namespace, var, depth)
        namespace = schema.get("namespace", namespace)
        full = self.full_name(schema["name"], namespace)
        if kind == "record":
            name = self.record(schema, namespace, full)
        elif kind == "enum":
            name = self.identifier("enum", full)
            self.env[name] = {symbol: _long_bytes(i) for i, symbol in enumerate(schema["symbols"])}
        elif kind == "fixed":
            name = ""
        else:
            raise ValueError(f"unsupported Avro type {kind!r}")
        self.named[full] = (kind, name)
        return self.named_value(kind, name, var)

    @staticmethod
    def named_value(kind: str, name: str, var: str) -> list[str]:
        if kind == "record":
            return [f"{name}({var}, out)"]
        if kind == "enum":
            return [f"out += {name}[{var}]"]
        return [f"out += {var}"]  # fixed

    @staticmethod
    def primitive(kind: str, var: str, depth: int) -> list[str]:
        if kind == "string":
            data, size = f"d{depth}", f"n{depth}"
            return [
                f"{data} = {var}.encode()",
                f"{size} = len({data})",
                *_write_length(size),
                f"out += {data}",
            ]
        if kind == "bytes":
            size = f"n{depth}"
            return [f"{size} = len({var})", *_write_length(size), f"out += {var}"]
        if kind in ("int", "long"):
            return [
                f"if 0 <= {var} < 64:",
                f"    append({var} << 1)",
                "else:",
                f"    write_long({var}, out)",
            ]
        if kind == "boolean":
            return [f"append(1 if {var} else 0)"]
        if kind == "double":
            return [f"out += pack_double({var})"]
        if kind == "float":
            return [f"out += pack_float({var})"]
        return []  # null

    @staticmethod
    def optional_string(var: str, depth: int) -> list[str]:
        """Source appending the string in ``var`` as branch 1 of a union with null."""
        data, size = f"d{depth}", f"n{depth}"
        return [
            f"{data} = {var}.encode()",
            f"{size} = len({data})",
            f"if {size} < 64:",
            f"    out += branch_1_and_length[{size}]",
            "else:",
            "    append(2)",
            f"    write_long({size}, out)",
            f"out += {data}",
        ]

    def record(self, schema: dict, namespace: str | None, full: str) -> str:
        name = self.identifier("write", full)
        self.named[full] = ("record", name)  # before the fields, which may refer to it
        body = ["append = out.append"]
        for f in schema["fields"]:
            body.append(f"v0 = {self.access.read(f['name'])}")
            body += self.write(f["type"], namespace, "v0", 0)
        self.functions.append("\n".join([f"def {name}(o, out):", *_indent(body)]))
        return name

    def array(self, items: Any, namespace: str | None, var: str, depth: int) -> list[str]:
        size, item = f"n{depth}", f"x{depth + 1}"
        return [
            f"if {var}:",
            f"    {size} = len({var})",
            *_indent(_write_length(size)),
            f"    for {item} in {var}:",
            *_indent(_indent(self.write(items, namespace, item, depth + 1))),
            "append(0)",
        ]

    def map(self, values: Any, namespace: str | None, var: str, depth: int) -> list[str]:
        size, key, item = f"n{depth}", f"k{depth + 1}", f"x{depth + 1}"
        return [
            f"if {var}:",
            f"    {size} = len({var})",
            *_indent(_write_length(size)),
            f"    for {key}, {item} in {var}.items():",
            *_indent(_indent(self.primitive("string", key, depth + 1))),
            *_indent(_indent(self.write(values, namespace, item, depth + 1))),
            "append(0)",
        ]

    def union(self, branches: list, namespace: str | None, var: str, depth: int) -> list[str]:
        kinds = [self.kind(b, namespace) for b in branches]
        if kinds[0] == "null" and len(kinds) == 2:
            if kinds[1] == "string":  # the commonest field: branch and length in one step
                present = self.optional_string(var, depth)
            else:
                present = ["append(2)", *self.write(branches[1], namespace, var, depth)]
            return [f"if {var} is None:", "    append(0)", "else:", *_indent(present)]
        lines = []
        for i, (branch, kind) in enumerate(zip(branches, kinds, strict=True)):
            lines += [
                f"{'elif' if i else 'if'} {self.accepts(kind, var)}:",
                f"    out += {_long_bytes(i)!r}",
                *_indent(self.write(branch, namespace, var, depth)),
            ]
        return [
            *lines,
            "else:",
            f"    raise ValueError(type({var}).__name__ + ' fits no branch of the union')",
        ]

    def accepts(self, kind: str, var: str) -> str:
        """A test of whether the value in ``var`` is written by a union branch of ``kind``."""
        number = f"not isinstance({var}, bool)"
        tests = {
            "null": f"{var} is None",
            "boolean": f"isinstance({var}, bool)",
            "int": f"isinstance({var}, int) and {number}",
            "long": f"isinstance({var}, int) and {number}",
            "float": f"isinstance({var}, (float, int)) and {number}",
            "double": f"isinstance({var}, (float, int)) and {number}",
            "bytes": f"isinstance({var}, (bytes, bytearray))",
            "string": f"isinstance({var}, str)",
            "record": self.access.is_record(var),
            "map": f"isinstance({var}, dict)",
            "array": f"isinstance({var}, (list, tuple))",
            "enum": f"isinstance({var}, str)",
            "fixed": f"isinstance({var}, bytes)",
        }
        return tests[kind]


def _long_bytes(n: int) -> bytes:
    out = bytearray()
    write_long(n, out)
    return bytes(out)


def _compile(schema: dict, access: _Access) -> Callable[[Any], bytes]:
    generator = _Generator(access)
    body = generator.write(schema, schema.get("namespace"), "o", 0)
    encode = "\n".join(
        [
            "def encode(o):",
            "    out = bytearray()",
            "    append = out.append",
            *_indent(body),
            "    return bytes(out)",
        ]
    )
    source = "\n\n".join([*generator.functions, encode]) + "\n"
    filename = f"<avro writer {schema.get('name', schema['type'])} by {access.mode}>"
    # Registered so that a traceback through the encoder shows the generated line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), generator.env)
    return generator.env["encode"]


def compile_writer(schema: dict) -> Callable[[Any], bytes]:
    """A function from a record (dict keyed by field name) to its Avro binary encoding
    under ``schema``."""
    return _compile(schema, _Access(by_key=True, attributes={}))


def compile_object_writer(
    schema: dict, attributes: Mapping[str, str] | None = None
) -> Callable[[Any], bytes]:
    """A function from an object to its Avro binary encoding under ``schema``, reading each
    record's fields as attributes: records are dataclass instances, arrays any sequence,
    enums their symbols or ``str`` enum members.  ``attributes`` maps a field name to its
    attribute where the two differ (``class``, a Python keyword, for one)."""
    return _compile(schema, _Access(by_key=False, attributes=dict(attributes or {})))

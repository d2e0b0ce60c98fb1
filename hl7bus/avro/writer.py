"""A compiled Avro binary encoder for the bus's record schemas.

Each schema is turned once into Python source, one straight-line function per named
record with every field written in place (optional strings, enums, arrays, maps and unions
inline), and that source is compiled.  The same encoder reads its records in one of two
ways: as dicts keyed by field name (:func:`compile_writer`, for every schema of the bus)
or as objects whose attributes are the fields (:func:`compile_object_writer`, for the
frozen dataclasses of :mod:`hl7bus.events.model`, without building a dict first).

A value is written as it is or refused with :class:`AvroValueError`, never wrapped,
truncated or coerced: an integer outside its ``int`` (32-bit) or ``long`` (64-bit) range, a
bool or a float where an integer belongs, a finite number beyond a ``float``'s range (which
would become infinity), a non-string for a ``string``, a non-``bytes`` for ``bytes``, a
symbol its enum lacks, a value no union branch takes.  The error names the field
(``Appointment.duration_minutes: integer out of range for an Avro int ...``), found from
comments in the generated source once a value has been refused.  A dict record may leave
out a field that has a default: the default is written, as by any Avro writer.

The checks cost little: integers get a range check; strings are encoded with
``str.encode``, which refuses anything but a ``str``; the rest is a type test per value.
What is accepted is what fastavro's validation accepts, and the output is byte for byte
fastavro's (the tests compare the two); the one difference is the ``float`` overflow,
which fastavro writes as infinity.

Union branches are chosen by the value as fastavro's validation chooses them (first branch
that takes it; ``double`` before ``float``; an integer too large for ``int`` goes on to
``long`` or ``double``) without validating whole sub-records; unions in which only such a
validation could tell two branches apart (two records, a record and a map, an array and
``bytes``/``fixed``) are refused when compiled.
"""

from __future__ import annotations

import keyword
import linecache
import operator
import re
import struct
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from types import TracebackType
from typing import Any

from hl7bus.errors import Hl7BusError

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


class AvroValueError(Hl7BusError, ValueError):
    """A value its Avro type cannot carry as it is.  ``field`` says where
    (``Record.field``), ``reason`` what is wrong; neither holds the value itself, which may
    be patient data."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


def _varint(n: int, out: bytearray) -> None:
    """Append ``n``, known to fit a long (a length, a branch index), zig-zag encoded, 7
    bits a byte, low bits first."""
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _integer(n: Any, avro_type: str) -> int:
    """``n`` as a Python int: an int subclass or any integral number (``__index__``), but
    not a bool and not a float, even ``1.0``."""
    if not isinstance(n, bool):
        try:
            return operator.index(n)
        except TypeError:
            pass
    raise AvroValueError(f"must be an integer (Avro {avro_type}), got {type(n).__name__}")


def write_int(n: Any, out: bytearray) -> None:
    """Append ``n`` as an Avro int; refused unless an integer from -2^31 to 2^31-1."""
    if n.__class__ is not int:
        n = _integer(n, "int")
    if not INT_MIN <= n <= INT_MAX:
        raise AvroValueError("integer out of range for an Avro int (-2^31 to 2^31-1)")
    _varint(n, out)


def write_long(n: Any, out: bytearray) -> None:
    """Append ``n`` as an Avro long; refused unless an integer from -2^63 to 2^63-1."""
    if n.__class__ is not int:
        n = _integer(n, "long")
    if not LONG_MIN <= n <= LONG_MAX:
        raise AvroValueError("integer out of range for an Avro long (-2^63 to 2^63-1)")
    _varint(n, out)


def _number(x: Any, avro_type: str) -> float:
    """``x`` for a float or double: any real number but a bool, as the float it is closest
    to (an int is written as the same number, as fastavro does)."""
    if isinstance(x, bool) or not isinstance(x, Real):
        raise AvroValueError(f"must be a number (Avro {avro_type}), got {type(x).__name__}")
    try:
        return float(x)
    except OverflowError:
        raise AvroValueError(f"number out of range for an Avro {avro_type}") from None


_pack_double = struct.Struct("<d").pack
_pack_float = struct.Struct("<f").pack


def _double(x: Any) -> bytes:
    return _pack_double(_number(x, "double"))


def _float(x: Any) -> bytes:
    """The 4 bytes of ``x``; a finite number that would round to infinity is refused
    (fastavro writes infinity: the value would change)."""
    try:
        return _pack_float(_number(x, "float"))
    except OverflowError:
        raise AvroValueError("number out of range for an Avro float (32-bit)") from None


def _bytes(b: Any) -> Any:
    if not isinstance(b, (bytes, bytearray)):
        raise AvroValueError(f"must be bytes (Avro bytes), got {type(b).__name__}")
    return b


def _array(a: Any) -> Any:
    """A sequence other than a list or tuple: what fastavro takes as an array."""
    if isinstance(a, str) or not isinstance(a, (Sequence, array)):
        raise AvroValueError(f"must be a list (Avro array), got {type(a).__name__}")
    return a


def _map(m: Any) -> Any:
    if not isinstance(m, Mapping):
        raise AvroValueError(f"must be a dict (Avro map), got {type(m).__name__}")
    return m


@dataclass(frozen=True, slots=True)
class _Access:
    """How the encoder reads a record's fields: by key from a dict, or by attribute, with
    ``attributes`` naming the attribute of each field whose name differs."""

    by_key: bool
    attributes: Mapping[str, str]

    @property
    def mode(self) -> str:
        return "keys" if self.by_key else "attributes"

    def read(self, field: dict, default: str | None) -> str:
        """The expression reading ``field`` of the record in ``o``; a dict lacking a field
        gives the schema's default (held in ``default``), as any Avro writer does."""
        name = field["name"]
        if self.by_key:
            if "default" not in field:
                return f"o[{name!r}]"
            return f"o.get({name!r})" if default is None else f"o.get({name!r}, {default})"
        attribute = self.attributes.get(name, name)
        return f"getattr(o, {attribute!r})" if keyword.iskeyword(attribute) else f"o.{attribute}"

    def is_record(self, var: str) -> str:
        if self.by_key:
            return f"isinstance({var}, Mapping)"
        return f"hasattr({var}, '__dataclass_fields__')"


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _write_length(n: str) -> list[str]:
    """Source appending the non-negative int in ``n``, one byte when it is below 64."""
    return [f"if {n} < 64:", f"    append({n} << 1)", "else:", f"    write_varint({n}, out)"]


# What the generated source says in its comments, for the error that names a field: the
# line reading a record's field, and a line whose failure means ``var`` is not ``what``.
_FIELD_MARK = re.compile(r"# field (\S+)")
_MUST_MARK = re.compile(r"[#;] (\w+) must be (.+)$")


class _Generator:
    """Generates the encoder's source for one schema: ``functions`` holds one function per
    named record, ``env`` the names that source uses (enum tables and helpers)."""

    def __init__(self, access: _Access) -> None:
        self.access = access
        self.functions: list[str] = []
        self.env: dict[str, Any] = {
            "write_varint": _varint,
            "write_int": write_int,
            "write_long": write_long,
            "encode_str": str.encode,
            "pack_double": _pack_double,
            "pack_float": _pack_float,
            "double": _double,
            "single": _float,
            "checked_bytes": _bytes,
            "checked_array": _array,
            "checked_map": _map,
            "AvroValueError": AvroValueError,
            "Integral": Integral,
            "Real": Real,
            "Mapping": Mapping,
            "Sequence": Sequence,
            "array": array,
            "branch_1_and_length": tuple(bytes((2, n << 1)) for n in range(64)),
        }
        # full name -> (kind, generated name, detail): the writer function of a record, the
        # table of an enum, the size of a fixed
        self.named: dict[str, tuple[str, str, Any]] = {}

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

    def lookup(self, schema: Any, namespace: str | None) -> tuple[str, str, Any]:
        """The kind, generated name and detail of a named type (defined or referred to)."""
        if isinstance(schema, dict) and isinstance(schema["type"], str):
            namespace = schema.get("namespace", namespace)
            return self.named[self.full_name(schema["name"], namespace)]
        if isinstance(schema, dict):
            return self.lookup(schema["type"], namespace)
        return self.named[self.full_name(schema, namespace)]

    def identifier(self, kind: str, name: str) -> str:
        return f"{kind}{len(self.named)}_{name.rsplit('.', 1)[-1]}"

    def constant(self, value: Any) -> str:
        """A name in the generated source for ``value`` (a field's default)."""
        name = f"default{len(self.env)}"
        self.env[name] = value
        return name

    def write(self, schema: Any, namespace: str | None, var: str, depth: int) -> list[str]:
        """Source appending the value held in ``var`` under ``schema``."""
        if isinstance(schema, list):
            return self.union(schema, namespace, var, depth)
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self.primitive(schema, var, depth)
            return self.named_value(self.named[self.full_name(schema, namespace)], var)
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
            self.record(schema, namespace, full)
        elif kind == "enum":
            name = self.identifier("enum", full)
            self.env[name] = {symbol: _long_bytes(i) for i, symbol in enumerate(schema["symbols"])}
            self.named[full] = ("enum", name, full)
        elif kind == "fixed":
            self.named[full] = ("fixed", "", schema["size"])
        else:
            raise ValueError(f"unsupported Avro type {kind!r}")
        return self.named_value(self.named[full], var)

    @staticmethod
    def named_value(named: tuple[str, str, Any], var: str) -> list[str]:
        kind, name, detail = named
        if kind == "record":
            return [f"{name}({var}, out)"]
        if kind == "enum":
            return [f"out += {name}[{var}]  # {var} must be a symbol of enum {detail}"]
        return [  # fixed
            f"if not isinstance({var}, (bytes, bytearray)) or len({var}) != {detail}:",
            "    raise AvroValueError("
            f"'must be bytes of length {detail} (Avro fixed), got ' + {_type(var)})",
            f"out += {var}",
        ]

    @staticmethod
    def primitive(kind: str, var: str, depth: int) -> list[str]:
        if kind == "string":
            data, size = f"d{depth}", f"n{depth}"
            return [
                f"{data} = encode_str({var})  # {var} must be a str encodable as UTF-8",
                f"{size} = len({data})",
                *_write_length(size),
                f"out += {data}",
            ]
        if kind == "bytes":
            size = f"n{depth}"
            return [
                f"if {var}.__class__ is not bytes:",
                f"    checked_bytes({var})",
                f"{size} = len({var})",
                *_write_length(size),
                f"out += {var}",
            ]
        if kind in ("int", "long"):
            return [
                f"if {var}.__class__ is int and 0 <= {var} < 64:",
                f"    append({var} << 1)",
                "else:",
                f"    write_{kind}({var}, out)",
            ]
        if kind == "boolean":
            return [
                f"if {var} is True:",
                "    append(1)",
                f"elif {var} is False:",
                "    append(0)",
                "else:",
                f"    raise AvroValueError('must be a bool (Avro boolean), got ' + {_type(var)})",
            ]
        if kind in ("double", "float"):
            pack, checked = (
                ("pack_double", "double") if kind == "double" else ("pack_float", "single")
            )
            return [
                f"if {var}.__class__ is float:",
                f"    out += {pack}({var})  # {var} must be a number in an Avro {kind}'s range",
                "else:",
                f"    out += {checked}({var})",
            ]
        return [  # null
            f"if {var} is not None:",
            f"    raise AvroValueError('must be None (Avro null), got ' + {_type(var)})",
        ]

    @staticmethod
    def optional_string(var: str, depth: int) -> list[str]:
        """Source appending the string in ``var`` as branch 1 of a union with null."""
        data, size = f"d{depth}", f"n{depth}"
        return [
            f"{data} = encode_str({var})  # {var} must be a str encodable as UTF-8",
            f"{size} = len({data})",
            f"if {size} < 64:",
            f"    out += branch_1_and_length[{size}]",
            "else:",
            "    append(2)",
            f"    write_varint({size}, out)",
            f"out += {data}",
        ]

    def record(self, schema: dict, namespace: str | None, full: str) -> str:
        name = self.identifier("write", full)
        self.named[full] = ("record", name, full)  # before the fields, which may refer to it
        short = full.rsplit(".", 1)[-1]
        body = ["append = out.append"]
        for f in schema["fields"]:
            default = None
            if "default" in f and f["default"] is not None:
                default = self.constant(f["default"])
            read = self.access.read(f, default)
            body.append(f"v0 = {read}  # field {short}.{f['name']} ; o must be a record {full}")
            body += self.write(f["type"], namespace, "v0", 0)
        if not schema["fields"]:  # nothing is read that would refuse a non-record
            body += [
                f"if not ({self.access.is_record('o')}):",
                f"    raise AvroValueError('must be a record {full}, got ' + {_type('o')})",
            ]
        self.functions.append("\n".join([f"def {name}(o, out):", *_indent(body)]))
        return name

    def array(self, items: Any, namespace: str | None, var: str, depth: int) -> list[str]:
        size, item = f"n{depth}", f"x{depth + 1}"
        # the commoner first: dict records carry lists, the event model tuples
        first, second = ("list", "tuple") if self.access.by_key else ("tuple", "list")
        return [
            f"if {var}.__class__ is not {first} and {var}.__class__ is not {second}:",
            f"    checked_array({var})",
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
            f"if {var}.__class__ is not dict:",
            f"    checked_map({var})",
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
        _refuse_ambiguous(branches, kinds)
        written = [self.write(b, namespace, var, depth) for b in branches]  # defines named types
        lines = []
        for i, (branch, kind) in enumerate(zip(branches, kinds, strict=True)):
            if kind == "float" and "double" in kinds:
                continue  # fastavro prefers the double for any number (a float loses digits)
            lines += [
                f"{'elif' if lines else 'if'} {self.accepts(kind, branch, namespace, var)}:",
                f"    out += {_long_bytes(i)!r}",
                *_indent(written[i]),
            ]
        names = ", ".join(
            self.branch_name(b, k, namespace) for b, k in zip(branches, kinds, strict=True)
        )
        return [
            *lines,
            "else:",
            f"    raise AvroValueError('no branch of [{names}] takes a ' + {_type(var)})",
        ]

    def branch_name(self, branch: Any, kind: str, namespace: str | None) -> str:
        """How an error names a union branch: its type, or a named type's full name."""
        if kind == "fixed":
            return f"fixed({self.lookup(branch, namespace)[2]})"
        if kind in ("record", "enum"):
            return self.lookup(branch, namespace)[2]
        return kind

    def accepts(self, kind: str, branch: Any, namespace: str | None, var: str) -> str:
        """A test of whether the value in ``var`` goes to a union branch of ``kind``: the
        first branch whose type fastavro's validation would accept it under."""
        number = f"{var}.__class__ is not bool"
        if kind in ("int", "long"):
            low, high = (INT_MIN, INT_MAX) if kind == "int" else (LONG_MIN, LONG_MAX)
            return f"isinstance({var}, Integral) and {number} and {low} <= {var} <= {high}"
        if kind in ("enum", "fixed"):
            _, name, detail = self.lookup(branch, namespace)
            if kind == "enum":
                return f"isinstance({var}, str) and {var} in {name}"
            return f"isinstance({var}, (bytes, bytearray)) and len({var}) == {detail}"
        tests = {
            "null": f"{var} is None",
            "boolean": f"{var}.__class__ is bool",
            "float": f"isinstance({var}, Real) and {number}",
            "double": f"isinstance({var}, Real) and {number}",
            "bytes": f"isinstance({var}, (bytes, bytearray))",
            "string": f"isinstance({var}, str)",
            "record": self.access.is_record(var),
            "map": f"isinstance({var}, Mapping)",
            "array": f"isinstance({var}, (Sequence, array)) and not isinstance({var}, str)",
        }
        return tests[kind]


def _refuse_ambiguous(branches: list, kinds: list[str]) -> None:
    """Refuse a union in which a value's Python type cannot tell two branches apart."""
    records = kinds.count("record")
    if records > 1 or (records and "map" in kinds):
        raise ValueError(
            f"unsupported union {branches!r}: a dict could be any of its records or maps"
        )
    if "array" in kinds and ("bytes" in kinds or "fixed" in kinds):
        raise ValueError(
            f"unsupported union {branches!r}: bytes could be its bytes or an array of ints"
        )


def _type(var: str) -> str:
    """Source naming the type of the value in ``var`` (for an error: never the value)."""
    return f"type({var}).__name__"


def _long_bytes(n: int) -> bytes:
    out = bytearray()
    _varint(n, out)
    return bytes(out)


def _where(lines: list[str], lineno: int) -> str | None:
    """The ``Record.field`` being written at line ``lineno`` of the generated source."""
    for line in reversed(lines[:lineno]):
        found = _FIELD_MARK.search(line)
        if found:
            return found.group(1)
        if line.startswith("def "):
            return None
    return None


def _refusal(exc: BaseException, filename: str, lines: list[str]) -> AvroValueError:
    """The error naming the field whose value ``exc`` (raised inside the generated source)
    refused, and why.  A value that is not the record it should be is blamed on the field
    of the record that holds it."""
    frames: list[TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            frames.append(tb)
        tb = tb.tb_next
    if not frames:
        return AvroValueError(f"refused ({type(exc).__name__})")
    inner = frames[-1]
    blame = [_where(lines, frame.tb_lineno) for frame in frames]  # outermost first
    if isinstance(exc, AvroValueError):
        reason = exc.reason
    else:
        must = _MUST_MARK.search(lines[inner.tb_lineno - 1])
        if must is None:
            reason = f"refused ({type(exc).__name__})"
        else:
            var, what = must.groups()
            if var == "o" and isinstance(exc, KeyError):
                return AvroValueError("missing, and the schema gives it no default", blame[-1])
            if var == "o":  # not a record at all: the field holding it is at fault
                blame[-1] = None
            reason = f"must be {what}, got {type(inner.tb_frame.f_locals.get(var)).__name__}"
    where = next((found for found in reversed(blame) if found), None)
    return AvroValueError(reason, where)


# What a wrong value raises inside the generated source, besides AvroValueError.
_REFUSED = (TypeError, ValueError, AttributeError, KeyError, OverflowError, struct.error)


def _filename(name: str, lines: list[str]) -> str:
    """The generated source's name in tracebacks: ``<name>``, numbered when another
    source already has it (``lines`` is what the errors naming a field are read from)."""
    filename, n = f"<{name}>", 1
    while filename in linecache.cache and linecache.cache[filename][2] != [
        line + "\n" for line in lines
    ]:
        n += 1
        filename = f"<{name} #{n}>"
    return filename


def _compile(schema: dict, access: _Access) -> Callable[[Any], bytes]:
    generator = _Generator(access)
    body = generator.write(schema, schema.get("namespace"), "o", 0)
    encode = "\n".join(
        [
            "def encode(o):",
            "    out = bytearray()",
            "    append = out.append",
            "    try:",
            *_indent(_indent(body)),
            "    except REFUSED as exc:",
            "        raise refusal(exc) from exc",
            "    return bytes(out)",
        ]
    )
    source = "\n\n".join([*generator.functions, encode]) + "\n"
    lines = source.splitlines()
    filename = _filename(
        f"avro writer {schema.get('name', schema['type'])} by {access.mode}", lines
    )
    generator.env["REFUSED"] = _REFUSED
    generator.env["refusal"] = lambda exc: _refusal(exc, filename, lines)
    # Registered so that a traceback through the encoder shows the generated line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), generator.env)
    return generator.env["encode"]


def compile_writer(schema: dict) -> Callable[[Any], bytes]:
    """A function from a record (dict keyed by field name) to its Avro binary encoding
    under ``schema``; :class:`AvroValueError` for a value the schema cannot carry."""
    return _compile(schema, _Access(by_key=True, attributes={}))


def compile_object_writer(
    schema: dict, attributes: Mapping[str, str] | None = None
) -> Callable[[Any], bytes]:
    """A function from an object to its Avro binary encoding under ``schema``, reading each
    record's fields as attributes: records are dataclass instances, arrays any sequence,
    enums their symbols or ``str`` enum members.  ``attributes`` maps a field name to its
    attribute where the two differ (``class``, a Python keyword, for one).  Values are
    checked as by :func:`compile_writer`."""
    return _compile(schema, _Access(by_key=False, attributes=dict(attributes or {})))

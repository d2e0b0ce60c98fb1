"""A compiled Avro binary decoder for the bus's records.

For each pair of schemas — the writer's (the one a record was written with, from the
registry) and the reader's (the bus's own) — Python source is generated once, one
straight-line function per record with every field read in place (optional strings,
enums, arrays, maps, unions and nested records inline; a recursive record calls its own
function), and that source is compiled.  The decoder returns what fastavro's
``schemaless_reader(fo, writer, reader)`` returns for the same bytes: dicts of ``str``,
``int``, ``float``, ``bool``, ``None``, ``bytes``, lists and dicts, enum symbols as
``str``; a union read as its branch's value; the reader's default for a field the writer
lacks; a field the reader lacks skipped; int → long → float → double and string ↔ bytes
promoted.  Schema resolution follows fastavro's rules (a reader's union takes a writer's
branch in the first of its branches that matches it, records and enums match by unqualified
name or alias, an enum symbol the reader lacks becomes the reader's default), decided once
when compiled instead of for every value; where fastavro refuses a resolution (no branch
matches, no default), the decoder refuses the record at the same place.

Bytes that do not fit the writer's schema are refused with :class:`AvroDecodeError`, never
read as a wrong value.  Its message names the field (``Patient.birth_date: the input ends
within a string (byte 312)``) and never the value.  Refused, as by fastavro: input that
ends too soon, a union branch index or an enum index out of range, a string that is not
UTF-8, a negative length.  Refused where fastavro reads something else: an integer of more
than 64 bits (fastavro wraps it), a negative union branch or enum index (fastavro counts
from the end), a skipped field with a negative length or past the input's end (fastavro
reads to the end or stops short), an array block count of -2^63; and an array of
zero-width items (``null``, empty records) longer than :data:`MAX_EMPTY_ITEMS`, which
fastavro would build until memory runs out.  Bytes after the record are left alone, as
fastavro leaves them: a Confluent payload holds one record and nothing else decides its
end.  As fastavro does, a boolean byte other than 0 reads as true, an ``int`` is not checked
against 32 bits, and a skipped ``int``, ``long`` or enum is passed over without decoding
its varint (nor checking the enum's index).

A pair the generator does not handle — the writer's schema uses a logical type that
fastavro converts (``timestamp-millis``, ``decimal``, ``uuid``, …), a protocol's ``error``
types, arrays nested too deep for Python's block limit — is read by fastavro itself;
:attr:`Reader.fallback` says why.
"""

from __future__ import annotations

import io
import linecache
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hl7bus.errors import Hl7BusError

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
# fastavro's vocabulary (fastavro.const), which its resolution rules are written in.
_NAMED_TYPES = frozenset(("record", "enum", "fixed", "error"))
_AVRO_TYPES = _PRIMITIVES | {"fixed", "enum", "record", "error", "array", "map", "union"}
_AVRO_TYPES |= {"request", "error_union"}

MAX_EMPTY_ITEMS = 1 << 24
"""The most items a block of an array of zero-width items (``null``, an empty record) may
count: such items take no bytes, so the input's length does not bound them."""

_MAX_INLINE_RECORDS = 8  # records nested deeper than this are read by a function call
_MAX_LOOPS = 8  # arrays and maps nested in one function (Python allows 20 nested blocks)


class AvroDecodeError(Hl7BusError, ValueError):
    """Bytes that are not a record of the writer's schema, or a record the reader's schema
    cannot take.  ``field`` says where (``Record.field``), ``reason`` what is wrong and
    ``position`` the byte offset reached; none holds the value, which may be patient data."""

    def __init__(self, reason: str, field: str | None = None, position: int | None = None):
        where = f" (byte {position})" if position is not None else ""
        super().__init__(f"{field}: {reason}{where}" if field else f"{reason}{where}")
        self.reason = reason
        self.field = field
        self.position = position


class _Unsupported(Exception):
    """A pair of schemas the generator leaves to fastavro."""


class _Mismatch(Exception):
    """fastavro's SchemaResolutionError, found when compiling: raised when read."""


# -- fastavro's resolution rules -------------------------------------------------------
#
# These follow fastavro 1.13 (``_read.match_types``, ``match_schemas``, ``read_union``,
# ``read_record``) over the parsed schemas, where a named type is referred to by its full
# name and ``named`` holds each side's definitions.


def _record_type(schema: Any) -> Any:
    if isinstance(schema, dict):
        return schema["type"]
    if isinstance(schema, list):
        return "union"
    return schema


def _match_types(w: Any, r: Any, named: dict) -> bool:
    if isinstance(w, list) or isinstance(r, list):
        return True
    if isinstance(w, dict) or isinstance(r, dict):
        return _match_schemas(w, r, named, raise_on_error=False) is not None
    if w == r:
        return True
    if (
        (w == "int" and r in ("long", "float", "double"))
        or (w == "long" and r in ("float", "double"))
        or (w == "float" and r == "double")
        or (w == "string" and r == "bytes")
        or (w == "bytes" and r == "string")
    ):
        return True
    w_named, r_named = named["writer"].get(w), named["reader"].get(r)
    if w_named is not None and r_named is not None:
        return _match_types(w_named, r_named, named)
    return False


def _match_schemas(w: Any, r: Any, named: dict, raise_on_error: bool = True) -> Any:
    """The reader's schema that reads a value written as ``w`` where the reader expects
    ``r`` (a branch of ``r`` when it is a union); _Mismatch when none does."""
    if isinstance(w, list):  # the branch is matched once its index is read
        return r
    if isinstance(r, list):
        for branch in r:
            if _match_types(w, branch, named):
                return branch
    else:
        w_type = w["type"] if isinstance(w, dict) else w
        r_type = r["type"] if isinstance(r, dict) else r
        if w_type == r_type == "map":
            if _match_types(w["values"], r["values"], named):
                return r
        elif w_type == r_type == "array":
            if _match_types(w["items"], r["items"], named):
                return r
        elif w_type in _NAMED_TYPES and r_type in _NAMED_TYPES:
            if w_type == r_type == "fixed" and w["size"] != r["size"]:
                if raise_on_error:
                    raise _Mismatch(f"the writer's fixed({w['size']}) is not the reader's")
                return None
            w_short, r_short = w["name"].split(".")[-1], r["name"].split(".")[-1]
            aliases = r.get("aliases", [])
            if w_short == r_short or w["name"] in aliases or w_short in aliases:
                return r
        elif w_type not in _AVRO_TYPES and r_type in _NAMED_TYPES:
            if _match_types(w_type, r["name"], named):
                return r["name"]
        elif w_type in _NAMED_TYPES and r_type not in _AVRO_TYPES:
            r_named = named["reader"].get(r_type)
            if r_named is not None and _match_types(w, r_named, named):
                return r_named
        elif _match_types(w_type, r_type, named):
            return r
    if raise_on_error:
        raise _Mismatch(f"the writer's {_name(w)} is not the reader's {_name(r)}")
    return None


def _name(schema: Any) -> str:
    """How an error names a type: its kind, or a named type's full name."""
    if isinstance(schema, list):
        return "[" + ", ".join(_name(b) for b in schema) + "]"
    if isinstance(schema, dict):
        if "name" in schema:
            return str(schema["name"])
        if schema.get("type") == "array":
            return f"array<{_name(schema.get('items'))}>"
        if schema.get("type") == "map":
            return f"map<{_name(schema.get('values'))}>"
        return _name(schema.get("type"))
    return str(schema)


# -- what the generated source calls ---------------------------------------------------


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """The long whose zig-zag varint starts at ``pos`` (its first byte has the high bit
    set: a long of more than one byte), and the position after it."""
    n, pos = read_varint(data, pos)
    return (n >> 1) ^ -(n & 1), pos


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``pos`` as written (zig-zag not undone), and the position
    after it; refused beyond 64 bits, where fastavro would wrap around."""
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise AvroDecodeError("an integer longer than 10 bytes")
    if n >> 64:
        raise AvroDecodeError("an integer beyond 64 bits")
    return n, pos


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    """A length (a long that must not be negative) and the position after it."""
    n, pos = read_long(data, pos)
    if n < 0:
        raise AvroDecodeError("a negative length")
    return n, pos


_unpack_double = struct.Struct("<d").unpack_from
_unpack_float = struct.Struct("<f").unpack_from


class _Unresolved:
    """Stands in an enum's table for a writer's symbol the reader cannot take."""

    def __repr__(self) -> str:
        return "UNRESOLVED"


_UNRESOLVED = _Unresolved()
_TOO_MANY = "a block of more items than the input holds"

# What bytes that do not fit raise inside the generated source, besides AvroDecodeError.
_REFUSED = (
    AvroDecodeError,
    IndexError,
    struct.error,
    UnicodeDecodeError,
    RecursionError,
    MemoryError,
    OverflowError,
)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, AvroDecodeError):
        return exc.reason
    if isinstance(exc, (IndexError, struct.error)):
        return "the input ends within this value"
    if isinstance(exc, UnicodeDecodeError):
        return "a string that is not UTF-8"
    if isinstance(exc, RecursionError):
        return "values nested too deeply"
    return f"unreadable ({type(exc).__name__})"


def _refusal(exc: BaseException, filename: str, where: list[str | None]) -> AvroDecodeError:
    """The error naming the field being read at the innermost line of the generated source
    that ``exc`` went through, and the position reached."""
    inner = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            inner = tb
        tb = tb.tb_next
    if inner is None:
        return AvroDecodeError(_reason(exc))
    field = where[inner.tb_lineno - 1] if inner.tb_lineno <= len(where) else None
    position = inner.tb_frame.f_locals.get("pos")
    return AvroDecodeError(_reason(exc), field, position if isinstance(position, int) else None)


# -- the generator ---------------------------------------------------------------------


class _Lines:
    """A function's source being built: each line with the field it reads, for errors."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str | None]] = []

    def add(self, indent: int, text: str, where: str | None) -> None:
        self.lines.append(("    " * indent + text, where))


class _Generator:
    """Generates the decoder's source for one pair of parsed schemas: ``functions`` holds
    the functions of recursive records, ``env`` the names that source uses."""

    def __init__(self, named: dict) -> None:
        self.named = named
        self.functions: list[_Lines] = []
        self.env: dict[str, Any] = {
            "read_long": read_long,
            "read_varint": read_varint,
            "read_length": read_length,
            "unpack_double": _unpack_double,
            "unpack_float": _unpack_float,
            "AvroDecodeError": AvroDecodeError,
            "UNRESOLVED": _UNRESOLVED,
        }
        self.readers: dict[tuple[str, int], str] = {}  # record pair -> its function
        self.skippers: dict[str, str] = {}
        self.inlined: list[tuple[str, int]] = []  # the record pairs being inlined
        self.loops = 0  # arrays and maps open around the line being generated
        self.count = 0

    def var(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def constant(self, prefix: str, value: Any) -> str:
        name = self.var(prefix)
        self.env[name] = value
        return name

    def literal(self, value: Any) -> str:
        """Source that builds ``value`` (a JSON default) anew each time it runs."""
        if isinstance(value, dict):
            items = ", ".join(f"{k!r}: {self.literal(v)}" for k, v in value.items())
            return "{" + items + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.literal(v) for v in value) + "]"
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        return self.constant("default", value)  # a float: NaN and infinities have no literal

    # -- reading -----------------------------------------------------------------------

    def read(self, w: Any, r: Any, out: _Lines, ind: int, where: str | None, to: str) -> None:
        """Source reading a value written as ``w`` into ``to``, as fastavro's
        ``_read_data(fo, w, named, r)`` reads it (``r`` None: no resolution)."""
        kind = _record_type(w)
        if r:
            try:
                r = _match_schemas(w, r, self.named)
            except Exception as exc:
                return self.refuse(exc, out, ind, where)
        if kind in _PRIMITIVES:
            self.primitive(kind, out, ind, where, to)
        elif kind == "fixed":
            self.fixed(w["size"], out, ind, where, to)
        elif kind == "enum":
            self.enum(w, r, out, ind, where, to)
        elif kind == "array":
            self.array(w, r, out, ind, where, to)
        elif kind == "map":
            self.map(w, r, out, ind, where, to)
        elif kind == "union":
            self.union(w, r, out, ind, where, to)
        elif kind == "record":
            self.record(w, r, out, ind, where, to)
        elif kind in _AVRO_TYPES or not isinstance(kind, str):
            raise _Unsupported(f"the writer's {_name(w)} type")
        else:  # a named type, by its full name
            try:
                r_named = self.named["reader"].get(r)
            except Exception as exc:  # fastavro fails so on a reader's record in a union
                return self.refuse(exc, out, ind, where)
            return self.read(self.named["writer"][kind], r_named, out, ind, where, to)
        if isinstance(w, dict) and w.get("logicalType"):
            from fastavro.read import LOGICAL_READERS

            if f"{w['type']}-{w['logicalType']}" in LOGICAL_READERS:
                raise _Unsupported(f"the logical type {w['logicalType']}")
        if r is not None:
            self.promote(kind, _record_type(r), out, ind, where, to)
        return None

    @staticmethod
    def refuse(exc: Exception, out: _Lines, ind: int, where: str | None) -> None:
        if isinstance(exc, _Mismatch):
            reason = str(exc)
        else:  # fastavro fails with another exception on this pair; so does the decoder
            reason = f"the reader's schema cannot take the writer's here ({type(exc).__name__})"
        out.add(ind, f"raise AvroDecodeError({reason!r})", where)

    @staticmethod
    def promote(w_kind: str, r_kind: Any, out: _Lines, ind: int, where: str | None, to: str):
        if w_kind in ("int", "long") and r_kind in ("float", "double"):
            out.add(ind, f"{to} = float({to})  # promoted", where)
        elif w_kind == "string" and r_kind == "bytes":
            out.add(ind, f"{to} = {to}.encode()  # promoted", where)
        elif w_kind == "bytes" and r_kind == "string":
            out.add(ind, f"{to} = {to}.decode()  # promoted", where)

    def long(self, out: _Lines, ind: int, where: str | None, to: str) -> None:
        """A long: one byte below 128, else the helper (which refuses beyond 64 bits)."""
        out.add(ind, "b = data[pos]", where)
        out.add(ind, "if b < 128:", where)
        out.add(ind + 1, f"{to} = (b >> 1) ^ -(b & 1)", where)
        out.add(ind + 1, "pos += 1", where)
        out.add(ind, "else:", where)
        out.add(ind + 1, f"{to}, pos = read_long(data, pos)", where)

    def length(self, out: _Lines, ind: int, where: str | None, what: str) -> None:
        """``end`` set after a length (one byte below 64, else the helper, which refuses a
        negative one); refused when the input ends before it."""
        out.add(ind, "b = data[pos]", where)
        out.add(ind, "if not b & 0x81:  # a length below 64, in one byte", where)
        out.add(ind + 1, "pos += 1", where)
        out.add(ind + 1, "end = pos + (b >> 1)", where)
        out.add(ind, "else:", where)
        out.add(ind + 1, "n, pos = read_length(data, pos)", where)
        out.add(ind + 1, "end = pos + n", where)
        out.add(ind, "if end > size:", where)
        out.add(ind + 1, f"raise AvroDecodeError('the input ends within {what}')", where)

    def primitive(self, kind: str, out: _Lines, ind: int, where: str | None, to: str) -> None:
        if kind == "null":
            out.add(ind, f"{to} = None", where)
        elif kind == "boolean":
            out.add(ind, f"{to} = data[pos] != 0", where)
            out.add(ind, "pos += 1", where)
        elif kind in ("int", "long"):
            self.long(out, ind, where, to)
        elif kind in ("float", "double"):
            unpack, width = ("unpack_double", 8) if kind == "double" else ("unpack_float", 4)
            out.add(ind, f"{to} = {unpack}(data, pos)[0]", where)
            out.add(ind, f"pos += {width}", where)
        else:  # bytes, string
            self.length(out, ind, where, f"a {kind}")
            if kind == "string":
                out.add(ind, f"{to} = data[pos:end].decode()", where)
            else:
                out.add(ind, f"{to} = data[pos:end]", where)
            out.add(ind, "pos = end", where)

    def fixed(self, size: int, out: _Lines, ind: int, where: str | None, to: str) -> None:
        out.add(ind, f"end = pos + {size}", where)
        out.add(ind, "if end > size:", where)
        out.add(ind + 1, f"raise AvroDecodeError('the input ends within a fixed({size})')", where)
        out.add(ind, f"{to} = data[pos:end]", where)
        out.add(ind, "pos = end", where)

    def enum(self, w: dict, r: Any, out: _Lines, ind: int, where: str | None, to: str) -> None:
        """An index into the writer's symbols; with a reader, each symbol resolved as
        fastavro's ``read_enum`` does (a symbol the reader lacks becomes its default)."""
        symbols = list(w["symbols"])
        if r:
            try:
                known, default = r["symbols"], r.get("default")
                symbols = [s if s in known else default or _UNRESOLVED for s in symbols]
            except Exception:  # the reader's type is no enum: fastavro fails reading it
                symbols = [_UNRESOLVED] * len(symbols)
        table = self.constant(f"symbols_{w['name'].rsplit('.', 1)[-1]}_", tuple(symbols))
        self.long(out, ind, where, "i")
        out.add(ind, f"if i < 0 or i >= {len(symbols)}:", where)
        reason = f"an index out of range for enum {w['name']}"
        out.add(ind + 1, f"raise AvroDecodeError({reason!r})", where)
        out.add(ind, f"{to} = {table}[i]", where)
        if _UNRESOLVED in symbols:
            out.add(ind, f"if {to} is UNRESOLVED:", where)
            reason = f"a symbol of {w['name']} that the reader's enum lacks, with no default"
            out.add(ind + 1, f"raise AvroDecodeError({reason!r})", where)

    def blocks(
        self, out: _Lines, ind: int, where: str | None, body: Callable[[int], None], empty: bool
    ) -> None:
        """The blocks of an array or map: a count, the items, until a count of 0; a
        negative count is followed by the block's size in bytes (read, not used)."""
        if self.loops >= _MAX_LOOPS:
            raise _Unsupported("arrays and maps nested too deep")
        count = self.var("c")
        out.add(ind, "if data[pos] == 0:  # no items", where)
        out.add(ind + 1, "pos += 1", where)
        out.add(ind, "else:", where)
        ind += 1
        self.long(out, ind, where, count)
        out.add(ind, f"while {count}:", where)
        out.add(ind + 1, f"if {count} < 0:", where)
        out.add(ind + 2, f"{count} = -{count}", where)
        out.add(ind + 2, "while data[pos] > 127:  # the block's size in bytes, not used", where)
        out.add(ind + 3, "pos += 1", where)
        out.add(ind + 2, "pos += 1", where)
        limit = MAX_EMPTY_ITEMS if empty else "size - pos"
        out.add(ind + 1, f"if {count} > {limit}:", where)
        out.add(ind + 2, f"raise AvroDecodeError({_TOO_MANY!r})", where)
        out.add(ind + 1, f"for _ in range({count}):", where)
        self.loops += 1
        body(ind + 2)
        self.loops -= 1
        self.long(out, ind + 1, where, count)

    def array(self, w: dict, r: Any, out: _Lines, ind: int, where: str | None, to: str) -> None:
        item = self.var("x")

        def body(i: int) -> None:
            try:
                items_r = r["items"] if r else None
            except Exception as exc:
                return self.refuse(exc, out, i, where)
            self.read(w["items"], items_r, out, i, where, item)
            out.add(i, f"{to}.append({item})", where)
            return None

        out.add(ind, f"{to} = []", where)
        self.blocks(out, ind, where, body, empty=self.width(w["items"]) == 0)

    def map(self, w: dict, r: Any, out: _Lines, ind: int, where: str | None, to: str) -> None:
        key, value = self.var("k"), self.var("x")

        def body(i: int) -> None:
            self.primitive("string", out, i, where, key)
            try:
                values_r = r["values"] if r else None
            except Exception as exc:
                return self.refuse(exc, out, i, where)
            self.read(w["values"], values_r, out, i, where, value)
            out.add(i, f"{to}[{key}] = {value}", where)
            return None

        out.add(ind, f"{to} = {{}}", where)
        self.blocks(out, ind, where, body, empty=False)

    def union(self, w: list, r: Any, out: _Lines, ind: int, where: str | None, to: str) -> None:
        """The branch index, then the branch; with a reader, the reader's schema for each
        writer's branch as fastavro's ``read_union`` chooses it.  The index is compared in
        its zig-zag form (branch k is 2k; a negative index is odd).  A union whose first
        branch is null (an optional field) tries that first: one byte, 0."""
        if w and _record_type(w[0]) == "null":
            out.add(ind, "if data[pos] == 0:  # null", where)
            self.branch(w[0], r, out, ind + 1, where, to)
            out.add(ind + 1, "pos += 1", where)
            if len(w) == 2 and _record_type(w[1]) in _PRIMITIVES:
                out.add(ind, "elif data[pos] == 2:  # the other branch, in one byte", where)
                out.add(ind + 1, "pos += 1", where)
                self.branch(w[1], r, out, ind + 1, where, to)
            out.add(ind, "else:", where)
            ind += 1
        self.branch_index(out, ind, where)
        for k, branch in enumerate(w):
            out.add(ind, f"{'if' if k == 0 else 'elif'} i == {2 * k}:", where)
            self.branch(branch, r, out, ind + 1, where, to)
        out.add(ind, "else:", where)
        reason = f"a branch index out of range for union {_name(w)}"
        out.add(ind + 1, f"raise AvroDecodeError({reason!r})", where)

    def branch(self, branch: Any, r: Any, out: _Lines, ind: int, where: str | None, to: str):
        try:
            chosen = self.reader_branch(branch, r)
        except Exception as exc:
            return self.refuse(exc, out, ind, where)
        return self.read(branch, chosen, out, ind, where, to)

    def reader_branch(self, branch: Any, r: Any) -> Any:
        if not r:
            return None
        if not isinstance(r, list):
            if _match_types(branch, r, self.named):
                return r
        else:
            for candidate in r:
                if _match_types(branch, candidate, self.named):
                    return candidate
        raise _Mismatch(f"the writer's {_name(branch)} is not in the reader's {_name(r)}")

    @staticmethod
    def branch_index(out: _Lines, ind: int, where: str | None) -> None:
        out.add(ind, "i = data[pos]", where)
        out.add(ind, "if i < 128:", where)
        out.add(ind + 1, "pos += 1", where)
        out.add(ind, "else:", where)
        out.add(ind + 1, "i, pos = read_varint(data, pos)", where)

    def record(self, w: dict, r: Any, out: _Lines, ind: int, where: str | None, to: str) -> None:
        pair = (w["name"], id(r))
        if pair in self.inlined or len(self.inlined) >= _MAX_INLINE_RECORDS:
            out.add(ind, f"{to}, pos = {self.record_function(w, r)}(data, pos, size)", where)
            return
        self.inlined.append(pair)
        self.fields(w, r, out, ind, to)
        self.inlined.pop()

    def record_function(self, w: dict, r: Any) -> str:
        pair = (w["name"], id(r))
        if pair not in self.readers:
            name = self.readers[pair] = self.var(f"read_{w['name'].rsplit('.', 1)[-1]}_")
            out = _Lines()
            out.add(0, f"def {name}(data, pos, size):", None)
            loops, inlined = self.loops, self.inlined
            self.loops, self.inlined = 0, [pair]
            self.fields(w, r, out, 1, "record")
            self.loops, self.inlined = loops, inlined
            out.add(1, "return record, pos", None)
            self.functions.append(out)
        return self.readers[pair]

    def fields(self, w: dict, r: Any, out: _Lines, ind: int, to: str) -> None:
        """The fields of a record, as fastavro's ``read_record`` reads them: in the writer's
        order; with a reader, each under the reader's field of its name (or alias), those
        the reader lacks skipped, then the reader's defaults for the fields the writer
        lacks."""
        short = w["name"].rsplit(".", 1)[-1]
        values: dict[str, str] = {}
        if r is None:
            for f in w["fields"]:
                where = f"{short}.{f['name']}"
                out.add(ind, f"# {where}: {_name(f['type'])}", where)
                values[f["name"]] = self.var("v")
                self.read(f["type"], None, out, ind, where, values[f["name"]])
        else:
            try:
                by_name = {f["name"]: f for f in r["fields"]}
                by_alias = {a: f for f in r["fields"] for a in f.get("aliases", [])}
            except Exception as exc:  # the reader's type is no record
                return self.refuse(exc, out, ind, short)
            for f in w["fields"]:
                ours = by_name.get(f["name"], by_alias.get(f["name"]))
                where = f"{short}.{ours['name'] if ours else f['name']}"
                if not ours:
                    out.add(ind, f"# {where}: {_name(f['type'])}, which the reader lacks", where)
                    self.skip(f["type"], out, ind, where)
                    continue
                out.add(ind, f"# {where}: {_name(f['type'])} as {_name(ours['type'])}", where)
                var = self.var("v")
                self.read(f["type"], ours["type"], out, ind, where, var)
                values[ours["name"]] = var
                if by_name.pop(ours["name"], None) is None:  # fastavro fails on a 2nd alias
                    return self.refuse(KeyError(), out, ind, where)
            for f in by_name.values():
                if "default" not in f:
                    reason = f"the writer has no {short}.{f['name']} and the reader no default"
                    return out.add(ind, f"raise AvroDecodeError({reason!r})", short)
                values[f["name"]] = self.literal(f["default"])
        out.add(ind, f"{to} = {{", None)
        for name, value in values.items():
            out.add(ind + 1, f"{name!r}: {value},", None)
        out.add(ind, "}", None)
        return None

    # -- skipping ----------------------------------------------------------------------

    def skip(self, w: Any, out: _Lines, ind: int, where: str | None) -> None:
        """Source passing over a value written as ``w`` that the reader does not read, as
        fastavro's ``_skip_data`` does, but refusing a negative length or index."""
        kind = _record_type(w)
        if kind in ("null",):
            return
        if kind in ("boolean", "float", "double", "fixed"):
            width = {"boolean": 1, "float": 4, "double": 8}.get(kind) or w["size"]
            out.add(ind, f"pos += {width}", where)
        elif kind in ("int", "long", "enum"):
            out.add(ind, "while data[pos] > 127:", where)
            out.add(ind + 1, "pos += 1", where)
            out.add(ind, "pos += 1", where)
        elif kind in ("string", "bytes"):
            self.length(out, ind, where, f"a {kind}")
            out.add(ind, "pos = end", where)
        elif kind in ("array", "map"):
            self.skip_blocks(w, kind, out, ind, where)
        elif kind == "union":
            self.branch_index(out, ind, where)
            for k, branch in enumerate(w):
                out.add(ind, f"{'if' if k == 0 else 'elif'} i == {2 * k}:", where)
                before = len(out.lines)
                self.skip(branch, out, ind + 1, where)
                if len(out.lines) == before:
                    out.add(ind + 1, "pass", where)
            out.add(ind, "else:", where)
            reason = f"a branch index out of range for union {_name(w)}"
            out.add(ind + 1, f"raise AvroDecodeError({reason!r})", where)
        elif kind == "record":
            out.add(ind, f"pos = {self.skip_function(w)}(data, pos, size)", where)
        elif kind in _AVRO_TYPES or not isinstance(kind, str):
            raise _Unsupported(f"the writer's {_name(w)} type")
        else:
            self.skip(self.named["writer"][kind], out, ind, where)

    def skip_blocks(self, w: dict, kind: str, out: _Lines, ind: int, where: str | None) -> None:
        if self.loops >= _MAX_LOOPS:
            raise _Unsupported("arrays and maps nested too deep")
        count = self.var("c")
        self.long(out, ind, where, count)
        out.add(ind, f"while {count}:", where)
        out.add(ind + 1, f"if {count} < 0:  # followed by the block's size in bytes", where)
        out.add(ind + 2, "n, pos = read_length(data, pos)", where)
        out.add(ind + 2, "pos += n", where)
        out.add(ind + 1, "else:", where)
        item = w["items"] if kind == "array" else w["values"]
        if kind == "map" or self.width(item):
            out.add(ind + 2, f"if {count} > size - pos:", where)
            out.add(ind + 3, f"raise AvroDecodeError({_TOO_MANY!r})", where)
        before = len(out.lines)
        out.add(ind + 2, f"for _ in range({count}):", where)
        self.loops += 1
        if kind == "map":
            self.skip("string", out, ind + 3, where)
        self.skip(item, out, ind + 3, where)
        self.loops -= 1
        if len(out.lines) == before + 1:  # items of no bytes: nothing to pass over
            out.lines[-1] = ("    " * (ind + 2) + "pass", where)
        self.long(out, ind + 1, where, count)

    def skip_function(self, w: dict) -> str:
        if w["name"] not in self.skippers:
            name = self.skippers[w["name"]] = self.var(f"skip_{w['name'].rsplit('.', 1)[-1]}_")
            out = _Lines()
            out.add(0, f"def {name}(data, pos, size):", None)
            loops, self.loops = self.loops, 0
            short = w["name"].rsplit(".", 1)[-1]
            for f in w["fields"]:
                where = f"{short}.{f['name']}"
                out.add(1, f"# {where}: {_name(f['type'])}", where)
                self.skip(f["type"], out, 1, where)
            self.loops = loops
            out.add(1, "return pos", None)
            self.functions.append(out)
        return self.skippers[w["name"]]

    def width(self, w: Any, seen: frozenset = frozenset()) -> int:
        """The fewest bytes a value written as ``w`` takes (0 or 1 is all that matters)."""
        kind = _record_type(w)
        if kind == "null":
            return 0
        if kind == "fixed":
            return min(w["size"], 1)
        if kind == "record":
            if w["name"] in seen:
                return 1
            return min(1, sum(self.width(f["type"], seen | {w["name"]}) for f in w["fields"]))
        if kind in _AVRO_TYPES:
            return 1
        return self.width(self.named["writer"][kind], seen)


@dataclass(frozen=True, slots=True, eq=False)
class Reader:
    """A decoder for one pair of schemas: ``read(data, start)`` is the record whose Avro
    binary begins at ``data[start]``.  ``source`` is the generated Python (None when
    ``fallback`` says why fastavro reads this pair instead)."""

    read: Callable[..., Any]
    source: str | None
    fallback: str | None

    def __call__(self, data: bytes, start: int = 0) -> Any:
        return self.read(data, start)


def reader_schemas(writer_schema: Any, reader_schema: Any = None) -> tuple[Any, Any, dict]:
    """The two schemas as fastavro's ``schemaless_reader`` prepares them: parsed, each side's
    named types collected, and no reader's schema when it equals the writer's."""
    import fastavro

    if writer_schema == reader_schema:
        reader_schema = None
    named: dict[str, dict] = {"writer": {}, "reader": {}}
    w = fastavro.parse_schema(writer_schema, named["writer"])
    r = fastavro.parse_schema(reader_schema, named["reader"]) if reader_schema else None
    return w, r, named


def compile_reader(writer_schema: Any, reader_schema: Any = None) -> Reader:
    """The decoder of records written with ``writer_schema`` as ``reader_schema`` reads
    them (the writer's own when None), schemas in JSON or fastavro's parsed form:
    ``compile_reader(w, r)(data, start)`` is ``fastavro.schemaless_reader(fo, w, r)`` for
    the Avro binary at ``data[start:]``, or :class:`AvroDecodeError`."""
    w, r, named = reader_schemas(writer_schema, reader_schema)
    try:
        source, read = _compile(w, r, named)
    except _Unsupported as exc:
        return Reader(_fastavro_reader(w, r), None, str(exc))
    return Reader(read, source, None)


def _compile(w: Any, r: Any, named: dict) -> tuple[str, Callable[..., Any]]:
    generator = _Generator(named)
    body = _Lines()
    body.add(0, "def decode(data, pos=0):", None)
    body.add(1, "if data.__class__ is not bytes:", None)
    body.add(2, "data = bytes(data)", None)
    body.add(1, "size = len(data)", None)
    body.add(1, "try:", None)
    generator.loops = 1  # the try block
    generator.read(w, r, body, 2, None, "value")
    body.add(1, "except REFUSED as exc:", None)
    body.add(2, "raise refusal(exc) from None", None)
    body.add(1, "if pos > size:  # a value skipped past the end", None)
    body.add(2, "raise AvroDecodeError('the input ends within the record', None, size)", None)
    body.add(1, "return value", None)
    lines: list[tuple[str, str | None]] = []
    for function in [*generator.functions, body]:
        lines += [*function.lines, ("", None), ("", None)]
    source = "\n".join(text for text, _ in lines).rstrip() + "\n"
    where = [field for _, field in lines]
    name = _name(w)
    filename = _filename(f"avro reader {name}" + (f" as {_name(r)}" if r else ""), source)
    generator.env["REFUSED"] = _REFUSED
    generator.env["refusal"] = lambda exc: _refusal(exc, filename, where)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec")
    except (SyntaxError, RecursionError, MemoryError) as exc:  # too deep for Python
        raise _Unsupported(f"a schema too deep to compile ({type(exc).__name__})") from exc
    exec(code, generator.env)
    return source, generator.env["decode"]


def _filename(name: str, source: str) -> str:
    """The generated source's name in tracebacks: ``<name>``, numbered when another source
    already has it."""
    filename, n = f"<{name}>", 1
    while filename in linecache.cache and "".join(linecache.cache[filename][2]) != source:
        n += 1
        filename = f"<{name} #{n}>"
    return filename


def _fastavro_reader(w: Any, r: Any) -> Callable[..., Any]:
    import fastavro

    def decode(data: bytes, pos: int = 0) -> Any:
        stream = io.BytesIO(data)
        stream.seek(pos)
        try:
            return fastavro.schemaless_reader(stream, w, r)
        except Exception as exc:  # fastavro raises many kinds for bytes that do not fit
            raise AvroDecodeError(f"unreadable ({type(exc).__name__})") from None

    return decode

"""hl7bus's compiled Avro reader and fastavro's ``schemaless_reader`` agree: for the same
bytes and the same pair of schemas (the writer's, the reader's), both return the same value
— the same types, keys in the same order, floats to the bit — or both refuse.  hl7bus
refuses with an :class:`AvroDecodeError` naming the field, never another exception.

Pairs: each of the bus's schemas read as itself; a released schema read by the current
one and the current one by the released one, where they differ; the events read by a
later schema (one more field); small synthetic schemas that hold every Avro type and a
recursive record; a synthetic pair that needs every kind of resolution (promotions,
defaults of every type, skipped fields of every type, enum defaults, unions reordered,
widened and narrowed, records and fields renamed with aliases), and one whose resolutions
fastavro refuses when it meets them (bytes that are not UTF-8 read as a string, an enum
symbol without a default, a union branch the reader lacks).

Bytes are drawn as encodings of the writer's schema — canonical or not (varints padded to
10 bytes, arrays in several blocks, blocks that carry their size in bytes, any bits for a
float) — and as fastavro's own writer writes the same values, and the sample hospital's
events as the bus writes them.  Then they are damaged: cut short, bytes overwritten,
inserted or deleted, bytes appended, or wholly random.

Where the two differ, hl7bus refuses and fastavro returns something, and only for bytes that
are not a valid encoding under the writer's schema (checked by the small strict walker
below, independent of both): fastavro wraps an integer of more than 64 bits around, counts
a negative union or enum index from the end, reads a skipped field's negative length as
"to the end", and does not notice input that ends within a skipped field.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hl7bus.avro.reader import AvroDecodeError, Reader, compile_reader, reader_schemas
from hl7bus.avro.schemas import SCHEMA_FILES, schema_text
from hl7bus.errors import MessageError
from hl7bus.events.records import encode
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

from paths import REPO, SAMPLE_FEED

DEPTH = 3  # records nested deeper than this end a recursive value
NAMED_KINDS = ("record", "enum", "fixed")


# -- the two readers -------------------------------------------------------------------


def theirs(data: bytes, writer: Any, reader: Any) -> tuple[str, Any]:
    """fastavro's answer: ("value", v), or ("refused", None) for any exception."""
    try:
        return "value", fastavro.schemaless_reader(io.BytesIO(data), writer, reader)
    except Exception:  # fastavro refuses with many exception types; any one counts
        return "refused", None


def ours(read: Reader, data: bytes) -> tuple[str, Any]:
    """hl7bus's answer: ("value", v), or ("refused", error), only ever an AvroDecodeError."""
    try:
        return "value", read(data)
    except AvroDecodeError as exc:
        assert exc.reason
        assert str(exc)
        return "refused", exc


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types, dict keys in the same order, floats to the bit
    (NaN payloads and -0.0 included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# -- a strict walker: is this a valid encoding under the writer's schema? --------------


class Invalid(Exception):
    pass


def strictly_valid(data: bytes, schema: Any, named: dict) -> bool:
    """Whether ``data`` begins with a value of ``schema`` as the Avro specification writes
    it: varints of at most 64 bits, lengths and counts not negative and within the input,
    union and enum indexes in range, strings in UTF-8.  Bytes after it are allowed."""
    try:
        _walk(data, 0, schema, named)
    except Invalid:
        return False
    return True


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise Invalid
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    if n >> 64:
        raise Invalid
    return (n >> 1) ^ -(n & 1), pos


def _take(data: bytes, pos: int, n: int) -> int:
    if n < 0 or pos + n > len(data):
        raise Invalid
    return pos + n


def _walk(data: bytes, pos: int, s: Any, named: dict) -> int:
    if isinstance(s, list):
        index, pos = _varint(data, pos)
        if not 0 <= index < len(s):
            raise Invalid
        return _walk(data, pos, s[index], named)
    kind = s["type"] if isinstance(s, dict) else s
    if kind == "null":
        return pos
    if kind == "boolean":
        return _take(data, pos, 1)
    if kind in ("int", "long"):
        return _varint(data, pos)[1]
    if kind in ("float", "double"):
        return _take(data, pos, 4 if kind == "float" else 8)
    if kind in ("bytes", "string"):
        n, pos = _varint(data, pos)
        end = _take(data, pos, n)
        if kind == "string":
            try:
                data[pos:end].decode()
            except UnicodeDecodeError:
                raise Invalid from None
        return end
    if kind == "fixed":
        return _take(data, pos, s["size"])
    if kind == "enum":
        index, pos = _varint(data, pos)
        if not 0 <= index < len(s["symbols"]):
            raise Invalid
        return pos
    if kind in ("array", "map"):
        while True:
            count, pos = _varint(data, pos)
            if count == 0:
                return pos
            if count < 0:
                size, pos = _varint(data, pos)
                if size < 0:
                    raise Invalid
                count = -count
            if count > len(data) - pos:  # every item here takes a byte at least
                raise Invalid
            for _ in range(count):
                if kind == "map":
                    pos = _walk(data, pos, "string", named)
                pos = _walk(data, pos, s["items"] if kind == "array" else s["values"], named)
    if kind == "record":
        for f in s["fields"]:
            pos = _walk(data, pos, f["type"], named)
        return pos
    return _walk(data, pos, named[kind], named)


# -- encodings of a writer's schema, canonical or not ----------------------------------


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def varint(n: int, pad: int = 0) -> bytes:
    """``n`` zig-zag encoded, padded with up to ``pad`` zero groups (10 bytes at most)."""
    u = _zigzag(n)
    groups = []
    while True:
        groups.append(u & 0x7F)
        u >>= 7
        if not u:
            break
    groups += [0] * min(pad, 10 - len(groups))
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


def _below(n: int) -> st.SearchStrategy[int]:
    return _BELOW.setdefault(n, st.integers(0, n - 1))


_BELOW: dict[int, st.SearchStrategy[int]] = {}
INTEGERS = {"int": st.integers(-(2**31), 2**31 - 1), "long": st.integers(-(2**63), 2**63 - 1)}
BOOLEAN_BYTES = st.sampled_from([b"\x00", b"\x01"]) | st.binary(min_size=1, max_size=1)
RAW = {
    "float": st.binary(min_size=4, max_size=4),  # any bits: NaNs and infinities too
    "double": st.binary(min_size=8, max_size=8),
    "bytes": st.binary(max_size=6),
    "string": st.text(max_size=6).map(str.encode),
}
SMALL = st.sampled_from((0, 0, 0, 1, 1, 2))
PADDING = st.sampled_from((0, 1, 9))


class Encodings:
    """The Avro binary of a writer's (parsed) schema, drawn value by value.  One record in
    four pads its varints with zero groups (valid, if not canonical)."""

    def __init__(self, schema: Any, named: dict) -> None:
        self.schema = schema
        self.named = named

    def kind(self, s: Any) -> tuple[Any, str]:
        if isinstance(s, list):
            return s, "union"
        kind = s["type"] if isinstance(s, dict) else s
        if isinstance(kind, str) and kind in self.named:
            return self.kind(self.named[kind])
        return s, kind

    def draw(self, draw: st.DrawFn, s: Any, padded: bool, depth: int = 0) -> bytes:
        def number(n: int) -> bytes:
            return varint(n, draw(PADDING) if padded else 0)

        s, kind = self.kind(s)
        if kind == "null":
            return b""
        if kind == "boolean":
            return draw(BOOLEAN_BYTES)
        if kind in ("int", "long"):
            return number(draw(INTEGERS[kind]))
        if kind in ("float", "double"):
            return draw(RAW[kind])
        if kind in ("bytes", "string"):
            raw = draw(RAW[kind])
            return number(len(raw)) + raw
        if kind == "fixed":
            return bytes(draw(_below(256)) for _ in range(s["size"]))
        if kind == "enum":
            return number(draw(_below(len(s["symbols"]))))
        if kind in ("array", "map"):
            return self.blocks(draw, s, kind, padded, depth)
        if kind == "union":
            branches = list(enumerate(s))
            if depth >= DEPTH:
                flat = [(i, b) for i, b in branches if self.kind(b)[1] != "record"]
                branches = flat or branches
            index, branch = branches[draw(_below(len(branches)))]
            return number(index) + self.draw(draw, branch, padded, depth)
        if kind == "record":
            return b"".join(self.draw(draw, f["type"], padded, depth + 1) for f in s["fields"])
        raise AssertionError(f"no encodings for {kind!r}")

    def blocks(self, draw: st.DrawFn, s: dict, kind: str, padded: bool, depth: int) -> bytes:
        """Up to two blocks of up to two items (none past DEPTH), some with a negative
        count and their size in bytes, then the block of 0."""
        pad = (lambda: draw(PADDING)) if padded else (lambda: 0)
        out = b""
        for _ in range(draw(SMALL) if depth < DEPTH else 0):
            items = []
            for _ in range(1 + draw(_below(2))):
                if kind == "map":
                    items.append(self.draw(draw, "string", padded, depth))
                value = s["items" if kind == "array" else "values"]
                items.append(self.draw(draw, value, padded, depth))
            count = len(items) // (2 if kind == "map" else 1)
            body = b"".join(items)
            if draw(_below(2)):
                out += varint(-count, pad()) + varint(len(body), pad()) + body
            else:
                out += varint(count, pad()) + body
        return out + varint(0, pad())

    def records(self) -> st.SearchStrategy[bytes]:
        return st.composite(lambda draw: self.draw(draw, self.schema, not draw(_below(4))))()


@st.composite
def damaged(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """Valid bytes damaged once or twice: cut short, bytes overwritten, inserted or
    deleted, bytes appended; or bytes drawn at random."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=64))
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 2))):
        how = draw(st.sampled_from(["cut", "overwrite", "insert", "delete", "append"]))
        at = draw(st.integers(0, len(data)))
        if how == "cut":
            del data[at:]
        elif how == "overwrite" and at < len(data):
            data[at] = draw(
                st.sampled_from([0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF]) | st.integers(0, 255)
            )
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=3))
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 3))]
        else:
            data += draw(st.binary(min_size=1, max_size=3))
    return bytes(data)


# -- the pairs -------------------------------------------------------------------------


class Pair:
    """A writer's and a reader's schema (the reader's may be None), parsed as fastavro
    parses them, the writer's encodings, and hl7bus's reader of the pair."""

    def __init__(self, writer: Any, reader: Any) -> None:
        self.writer = fastavro.parse_schema(json.loads(json.dumps(writer)))
        self.reader = fastavro.parse_schema(json.loads(json.dumps(reader))) if reader else None
        w, _, named = reader_schemas(self.writer, None)
        self.named = named["writer"]
        self.encodings = Encodings(w, self.named)
        self.read = compile_reader(self.writer, self.reader)

    def valid(self, data: bytes) -> bool:
        return strictly_valid(data, self.writer, self.named)

    def agree(self, data: bytes) -> None:
        """Both return the same value or both refuse; or hl7bus refuses bytes that are not
        a valid encoding, which fastavro reads as something."""
        mine, answer = ours(self.read, data)
        fa, value = theirs(data, self.writer, self.reader)
        event(f"fastavro: {fa}, hl7bus: {mine}")
        if mine == "value":
            assert fa == "value", "fastavro refuses these bytes, hl7bus read them"
            assert same(answer, value), "hl7bus and fastavro read different values"
        elif fa == "value":
            assert not self.valid(data), f"hl7bus refuses a valid encoding: {answer}"
            event(f"hl7bus stricter: {answer.reason}")


def _released(name: str) -> dict | None:
    path = REPO / "schemas" / "released" / SCHEMA_FILES[name].replace(".avsc", ".v1.avsc")
    return json.loads(path.read_text()) if path.exists() else None


def _bus_pairs() -> dict[str, tuple[Any, Any]]:
    """Each schema as itself; a released one read by the current one and the other way
    round, where they differ; and the events read by a later schema (a field added)."""
    pairs: dict[str, tuple[Any, Any]] = {}
    for name in sorted(SCHEMA_FILES):
        current = json.loads(schema_text(name))
        pairs[f"{name} as itself"] = (current, None)
        released = _released(name)
        if released is not None and released != current:
            pairs[f"{name} v1 read by the current"] = (released, current)
            pairs[f"{name} read by v1"] = (current, released)
    later = json.loads(schema_text("ClinicalEvent"))
    later["fields"].insert(3, {"name": "priority", "type": ["null", "string"], "default": None})
    pairs["ClinicalEvent read by a later schema"] = (
        json.loads(schema_text("ClinicalEvent")),
        later,
    )
    return pairs


def _record(*fields: tuple[str, Any]) -> dict:
    return {
        "type": "record",
        "name": "R",
        "fields": [{"name": name, "type": avro_type} for name, avro_type in fields],
    }


COLOUR = {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]}
FOUR = {"type": "fixed", "name": "Four", "size": 4}

EVERY_TYPE = {
    "type": "record",
    "name": "Every",
    "namespace": "t",
    "fields": [
        {"name": "nothing", "type": "null"},
        {"name": "flag", "type": "boolean"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "raw", "type": "bytes"},
        {"name": "s", "type": "string"},
        {"name": "colour", "type": COLOUR},
        {"name": "four", "type": FOUR},
        {"name": "longs", "type": {"type": "array", "items": "long"}},
        {"name": "doubles", "type": {"type": "map", "values": ["null", "double"]}},
        {
            "name": "inner",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Inner",
                    "fields": [
                        {"name": "class", "type": "int"},
                        {"name": "label", "type": ["null", "string"]},
                    ],
                },
            ],
        },
        {"name": "number", "type": ["int", "long", "float", "double"]},
        {"name": "scalar", "type": ["null", "boolean", "string", "Colour", "bytes", "Four"]},
        {"name": "box", "type": ["null", "Inner", {"type": "array", "items": "int"}]},
        {"name": "lookup", "type": ["string", {"type": "map", "values": "long"}]},
        {
            "name": "deep",
            "type": {"type": "array", "items": ["null", {"type": "map", "values": "Colour"}]},
        },
        {"name": "empty", "type": {"type": "record", "name": "Empty", "fields": []}},
    ],
}

TREE = {
    "type": "record",
    "name": "Node",
    "fields": [
        {"name": "label", "type": "string"},
        {"name": "weight", "type": "int"},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "next", "type": ["null", "Node"]},
        {"name": "tag", "type": ["string", "null", "Node"]},
    ],
}

TREE_READ = {  # the tree without its tags (skipped, recursively), with a field added
    "type": "record",
    "name": "Node",
    "fields": [
        {"name": "label", "type": "string"},
        {"name": "weight", "type": "double"},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "next", "type": ["null", "Node"]},
        {"name": "colour", "type": "string", "default": "none"},
    ],
}

OLD_INNER = {
    "type": "record",
    "name": "OldInner",
    "fields": [
        {"name": "count", "type": "int"},
        {"name": "dropped", "type": {"type": "array", "items": "string"}},
    ],
}

EVOLVING = {
    "type": "record",
    "name": "Evolving",
    "namespace": "w",
    "fields": [
        {"name": "i2l", "type": "int"},
        {"name": "i2f", "type": "int"},
        {"name": "i2d", "type": "int"},
        {"name": "l2f", "type": "long"},
        {"name": "l2d", "type": "long"},
        {"name": "f2d", "type": "float"},
        {"name": "s2b", "type": "string"},
        {"name": "colour", "type": COLOUR},
        {"name": "opt", "type": ["null", "int"]},
        {"name": "plain", "type": "int"},
        {"name": "reordered", "type": ["null", "string", "long"]},
        {"name": "old_name", "type": "string"},
        {"name": "inner", "type": ["null", OLD_INNER]},
        {"name": "four", "type": FOUR},
        {"name": "items", "type": {"type": "array", "items": "int"}},
        {"name": "table", "type": {"type": "map", "values": "int"}},
        {"name": "gone_string", "type": "string"},
        {"name": "gone_bytes", "type": "bytes"},
        {"name": "gone_long", "type": "long"},
        {"name": "gone_double", "type": "double"},
        {"name": "gone_float", "type": "float"},
        {"name": "gone_flag", "type": "boolean"},
        {"name": "gone_fixed", "type": {"type": "fixed", "name": "Two", "size": 2}},
        {"name": "gone_enum", "type": "Colour"},
        {"name": "gone_union", "type": ["null", "string", "Two", "OldInner"]},
        {"name": "gone_array", "type": {"type": "array", "items": ["string", "long"]}},
        {"name": "gone_map", "type": {"type": "map", "values": "long"}},
        {"name": "gone_record", "type": "OldInner"},
        {"name": "last", "type": "string"},
    ],
}

EVOLVED = {
    "type": "record",
    "name": "Evolving",
    "namespace": "r",
    "fields": [
        {"name": "last", "type": "string"},
        {"name": "i2l", "type": "long"},
        {"name": "i2f", "type": "float"},
        {"name": "i2d", "type": "double"},
        {"name": "l2f", "type": "float"},
        {"name": "l2d", "type": "double"},
        {"name": "f2d", "type": "double"},
        {"name": "s2b", "type": "bytes"},
        {
            "name": "colour",
            "type": {
                "type": "enum",
                "name": "Colour",
                "symbols": ["GREEN", "RED"],
                "default": "RED",
            },
        },
        {"name": "opt", "type": ["null", "long", "string"]},
        {"name": "plain", "type": ["null", "string", "double"]},
        {"name": "reordered", "type": ["long", "string", "null"]},
        {"name": "new_name", "type": "string", "aliases": ["old_name"]},
        {
            "name": "inner",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Inner",
                    "aliases": ["OldInner"],
                    "fields": [
                        {"name": "count", "type": "long"},
                        {"name": "note", "type": ["null", "string"], "default": None},
                    ],
                },
            ],
        },
        {"name": "four", "type": FOUR},
        {"name": "items", "type": {"type": "array", "items": "long"}},
        {"name": "table", "type": {"type": "map", "values": "double"}},
        {"name": "new_null", "type": "null", "default": None},
        {"name": "new_flag", "type": "boolean", "default": True},
        {"name": "new_int", "type": "int", "default": -3},
        {"name": "new_long", "type": "long", "default": 2**40},
        {"name": "new_float", "type": "float", "default": 1.5},
        {"name": "new_double", "type": "double", "default": -0.0},
        {"name": "new_bytes", "type": "bytes", "default": "\u00ff\u0000"},
        {"name": "new_string", "type": "string", "default": "été"},
        {"name": "new_enum", "type": "Colour", "default": "GREEN"},
        {"name": "new_fixed", "type": {"type": "fixed", "name": "F2", "size": 2}, "default": "ab"},
        {"name": "new_array", "type": {"type": "array", "items": "int"}, "default": [1, 2]},
        {"name": "new_map", "type": {"type": "map", "values": "string"}, "default": {"a": "b"}},
        {"name": "new_record", "type": "Inner", "default": {"count": 7, "note": None}},
        {"name": "new_union", "type": ["null", "int"], "default": None},
    ],
}

REFUSED_WHEN_READ = _record(
    ("b2s", "bytes"),
    ("mood", {"type": "enum", "name": "Mood", "symbols": ["HAPPY", "SAD"]}),
    ("either", ["string", "int"]),
)
REFUSING = _record(
    ("b2s", "string"),  # bytes that are not UTF-8 are refused
    ("mood", {"type": "enum", "name": "Mood", "symbols": ["HAPPY"]}),  # SAD has no default
    ("either", "string"),  # the int is refused
)

SYNTHETIC = {
    "every type as itself": (EVERY_TYPE, None),
    "recursive as itself": (TREE, None),
    "recursive, tags dropped and weight promoted": (TREE, TREE_READ),
    "every resolution": (EVOLVING, EVOLVED),
    "resolutions refused when read": (REFUSED_WHEN_READ, REFUSING),
}

PAIRS = {name: Pair(*pair) for name, pair in {**_bus_pairs(), **SYNTHETIC}.items()}

SLOW = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_every_pair_is_compiled_and_none_falls_back_to_fastavro():
    assert {name: pair.read.fallback for name, pair in PAIRS.items()} == dict.fromkeys(PAIRS)
    assert all(pair.read.source for pair in PAIRS.values())


@pytest.mark.parametrize("name", sorted(PAIRS))
@SLOW
@given(data=st.data())
def test_encodings_are_read_as_fastavro_reads_them(name, data):
    pair = PAIRS[name]
    encoded = data.draw(pair.encodings.records())
    assert pair.valid(encoded)
    pair.agree(encoded)
    # The same value as fastavro's writer writes it.
    value = fastavro.schemaless_reader(io.BytesIO(encoded), pair.writer, None)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, pair.writer, value)
    pair.agree(out.getvalue())


@pytest.mark.parametrize("name", sorted(PAIRS))
@SLOW
@given(data=st.data())
def test_damaged_bytes_are_refused_by_both_or_read_alike(name, data):
    pair = PAIRS[name]
    pair.agree(data.draw(damaged(pair.encodings.records())))


# -- the sample hospital's events ------------------------------------------------------


def _feed_events() -> list[bytes]:
    """The Avro binary of every event of the sample feed (its billing messages, which the
    bus refuses, left out)."""
    found = []
    for path in sorted(SAMPLE_FEED.glob("*.hl7")):
        for chunk in split_messages(path.read_bytes()):
            try:
                found += [encode(e) for e in translate(chunk, ProfileSet()).events]
            except MessageError:
                continue
    return found


FEED = _feed_events()


def test_the_sample_feeds_events_are_read_as_fastavro_reads_them_cut_anywhere_refused():
    pair = PAIRS["ClinicalEvent as itself"]
    assert len(FEED) >= 10
    for data in FEED:
        mine, value = ours(pair.read, data)
        assert mine == "value"
        assert same(value, theirs(data, pair.writer, None)[1])
        # After a 5-byte wire-format header, as the bus's records carry it.
        assert same(pair.read(b"\x00\x00\x00\x00\x07" + data, 5), value)
        for cut in range(len(data)):
            assert ours(pair.read, data[:cut])[0] == "refused"
            assert theirs(data[:cut], pair.writer, None)[0] == "refused"


@SLOW
@given(data=st.data())
def test_damaged_events_of_the_sample_feed_are_refused_by_both_or_read_alike(data):
    PAIRS["ClinicalEvent as itself"].agree(data.draw(damaged(st.sampled_from(FEED))))
    PAIRS["ClinicalEvent read by a later schema"].agree(data.draw(damaged(st.sampled_from(FEED))))


# -- named cases -----------------------------------------------------------------------


LABEL = ("label", ["null", "string"])
ENUM = {"type": "enum", "name": "E", "symbols": ["A", "B"]}


@pytest.mark.parametrize(
    ("schema", "data", "field", "reason"),
    [
        (_record(("n", "long")), b"", "R.n", "ends"),
        (_record(("s", "string")), b"\x0aabc", "R.s", "ends within a string"),
        (_record(("s", "bytes")), b"\x01abc", "R.s", "negative length"),
        (_record(("s", "string")), b"\x04\xc3\x28", "R.s", "not UTF-8"),
        (_record(LABEL), b"\x04", "R.label", "branch index out of range"),
        (_record(("e", ENUM)), b"\x04", "R.e", "index out of range for enum E"),
        (_record(("f", {"type": "fixed", "name": "F", "size": 3})), b"ab", "R.f", "ends"),
        (_record(("d", "double")), b"\x00" * 7, "R.d", "ends"),
        (_record(("xs", {"type": "array", "items": "string"})), b"\x02\x02", "R.xs", "ends"),
    ],
)
def test_bytes_fastavro_refuses_are_refused_naming_the_field(schema, data, field, reason):
    pair = Pair(schema, None)
    assert theirs(data, pair.writer, None)[0] == "refused"
    with pytest.raises(AvroDecodeError, match=reason) as refused:
        pair.read(data)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("writer", "reader", "data", "field", "reason"),
    [
        (_record(("n", "long")), None, b"\xff" * 10 + b"\x01", "R.n", "longer than 10 bytes"),
        (_record(("n", "long")), None, b"\xff" * 9 + b"\x7f", "R.n", "beyond 64 bits"),
        (_record(LABEL), None, b"\x01\x02ab", "R.label", "branch index out of range"),
        (_record(("e", ENUM)), None, b"\x01", "R.e", "index out of range for enum E"),
        (
            _record(("n", "int"), ("gone", "string")),
            _record(("n", "int")),
            b"\x02\x01abc",
            "R.gone",
            "negative length",
        ),
        (
            _record(("n", "int"), ("gone", "double")),
            _record(("n", "int")),
            b"\x02\x00",
            None,
            "ends",
        ),
        (
            _record(("n", "int"), ("gone", ["null", "int"])),
            _record(("n", "int")),
            b"\x02\x01\x02",
            "R.gone",
            "branch index out of range",
        ),
        (
            _record(("xs", {"type": "array", "items": "int"})),
            None,
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00",
            "R.xs",
            "more items than the input holds",
        ),
    ],
)
def test_where_fastavro_reads_malformed_bytes_as_something_hl7bus_refuses(
    writer, reader, data, field, reason
):
    pair = Pair(writer, reader)
    assert theirs(data, pair.writer, pair.reader)[0] == "value"
    assert not pair.valid(data)
    with pytest.raises(AvroDecodeError, match=reason) as refused:
        pair.read(data)
    assert refused.value.field == field


def test_a_refusal_never_carries_the_value():
    pair = Pair(_record(("name", "string"), ("born", "string")), None)
    data = b"\x0eSECRET1" + b"\x04\xc3\x28"
    with pytest.raises(AvroDecodeError) as refused:
        pair.read(data)
    assert refused.value.field == "R.born"
    assert "SECRET" not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_bytes_after_the_record_are_left_alone_as_fastavro_leaves_them():
    pair = Pair(_record(("n", "int")), None)
    assert pair.read(b"\x02\xff\xff") == {"n": 1}
    assert theirs(b"\x02\xff\xff", pair.writer, None) == ("value", {"n": 1})


def test_a_resolution_fastavro_refuses_is_refused_when_read_not_when_compiled():
    writer = _record(("n", ["null", "string"]))
    reader = _record(("n", ["null", "int"]))
    pair = Pair(writer, reader)
    assert pair.read(b"\x00") == {"n": None} == theirs(b"\x00", pair.writer, pair.reader)[1]
    assert theirs(b"\x02\x02a", pair.writer, pair.reader)[0] == "refused"
    with pytest.raises(AvroDecodeError, match="string is not in the reader's") as refused:
        pair.read(b"\x02\x02a")
    assert refused.value.field == "R.n"
    no_default = Pair(_record(("n", "int")), _record(("n", "int"), ("m", "int")))
    assert theirs(b"\x02", no_default.writer, no_default.reader)[0] == "refused"
    with pytest.raises(AvroDecodeError, match=r"no R\.m and the reader no default"):
        no_default.read(b"\x02")


def test_an_enum_symbol_the_reader_lacks_is_its_default_or_refused_without_one():
    writer = _record(("e", ENUM))
    with_default = Pair(writer, _record(("e", {**ENUM, "symbols": ["A"], "default": "A"})))
    assert with_default.read(b"\x02") == {"e": "A"}
    without = Pair(writer, _record(("e", {**ENUM, "symbols": ["A"]})))
    with pytest.raises(AvroDecodeError, match="enum lacks") as refused:
        without.read(b"\x02")
    assert "'B'" not in str(refused.value)


def test_a_default_is_a_new_object_for_every_record():
    tags = {"name": "tags", "type": {"type": "array", "items": "string"}, "default": ["x"]}
    reader = _record(("n", "int"))
    reader["fields"].append(tags)
    pair = Pair(_record(("n", "int")), reader)
    first, second = pair.read(b"\x02"), pair.read(b"\x02")
    assert first == second == {"n": 1, "tags": ["x"]}
    first["tags"].append("y")
    assert pair.read(b"\x02")["tags"] == ["x"]


def test_a_logical_type_fastavro_converts_is_left_to_fastavro_and_said_so():
    schema = _record(("at", {"type": "long", "logicalType": "timestamp-millis"}))
    pair = Pair(schema, None)
    assert pair.read.source is None
    assert "timestamp-millis" in pair.read.fallback
    assert same(pair.read(b"\x02"), theirs(b"\x02", pair.writer, None)[1])
    with pytest.raises(AvroDecodeError):
        pair.read(b"")
    unknown = Pair(_record(("at", {"type": "string", "logicalType": "hl7-ts"})), None)
    assert unknown.read.fallback is None


def test_the_generated_source_reads_as_the_schema_does():
    source = PAIRS["ClinicalEvent as itself"].read.source
    assert source.startswith("def decode(data, pos=0):")
    assert "# Patient.birth_date: [null, string]" in source
    assert "'birth_date': v" in source
    compile(source, "<check>", "exec")


def test_a_zero_width_array_longer_than_any_record_is_refused():
    pair = Pair(_record(("xs", {"type": "array", "items": "null"})), None)
    assert pair.read(b"\x06\x00") == {"xs": [None, None, None]}
    with pytest.raises(AvroDecodeError, match="more items"):
        pair.read(b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f\x00")

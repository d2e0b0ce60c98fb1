"""hl7bus's compiled Avro writer and fastavro (validating) agree on hostile records: for the
same record, either both write the same bytes, or both refuse it.  hl7bus refuses with an
:class:`AvroValueError` naming the field, never another exception, and never wraps,
truncates or rounds a value into something else.

Records are drawn valid from each schema and then damaged at up to three places with
hostile values: integers past 2^31 and 2^63, NaN and infinities, floats and strings where
integers belong, bools, None, bytes for strings, unknown enum symbols, values no union
branch takes, lists and maps of the wrong kind.  Schemas: the bus's own (``schemas/``) and
small synthetic ones that hold every Avro type, general unions and a recursive record.

Where fastavro accepts something questionable, matching its bytes is the rule:

* an ``int`` is written to a ``float``/``double`` field (as the same number), and a
  ``bytes`` value to an ``array`` of ints (fastavro sees a sequence of ints);
* a record field missing from a dict takes the schema's default;
* NaN and ±infinity are written to ``float``/``double`` (Avro carries them);
* bools are never integers and integral floats (``1.0``) never ints: fastavro's validation
  refuses both, and so does hl7bus.

hl7bus is stricter in one place, where fastavro would change the value's meaning: a finite
number too large for a 32-bit ``float`` is refused, where fastavro writes infinity.
"""

from __future__ import annotations

import io
import json
import math
from decimal import Decimal
from enum import Enum, IntEnum
from fractions import Fraction
from typing import Any

import fastavro
import fastavro.validation
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hl7bus.avro.schemas import SCHEMA_FILES, parsed_schema, schema_text
from hl7bus.avro.writer import AvroValueError, compile_object_writer, compile_writer
from hl7bus.events.model import Appointment, ClinicalEvent, EventType, Patient, Payload, Source
from hl7bus.events.records import encode

DEPTH = 4  # records nested deeper than this end a recursive value
PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))


class Small(IntEnum):
    ONE = 1


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([2**31, 2**31 - 1, -(2**31) - 1, 2**63, 2**63 - 1, -(2**63) - 1, 2**64]),
    st.sampled_from([10**20, 99999999999999999999, 2**200, 2**1100, -1, 64, Small.ONE]),
    st.integers(),
    st.sampled_from([math.nan, math.inf, -math.inf, 1.0, -0.0, 1.5, 1e39, -1e39, 1e308])
    | st.sampled_from([3.4028234663852886e38, 3.4028235677973366e38, 5e-324]),
    st.floats(),
    st.sampled_from([Decimal("1.5"), Decimal("NaN"), Fraction(1, 3)]),
    st.text(max_size=4),
    st.sampled_from(["1", "NaN", "RED", "\ud800", "OTHER"]),
    st.binary(max_size=5),
    st.just(bytearray(b"\x01\x02\x03\x04")),
    st.lists(st.integers(-3, 3), max_size=2),
    st.lists(st.text(max_size=2), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(-3, 3), max_size=2),
    st.dictionaries(st.integers(-3, 3), st.integers(-3, 3), min_size=1, max_size=2),
)


class Schema:
    """Walks an Avro schema (JSON form): its named types, a strategy for valid values, and
    the objects that :func:`compile_object_writer` reads in place of the dict records."""

    def __init__(self, schema: dict) -> None:
        self.schema = schema
        self.named: dict[str, tuple[dict, str | None]] = {}
        self._collect(schema, None)
        self._strategies: dict[tuple[str, int], Any] = {}
        self._classes: dict[str, type] = {}
        self._enums: dict[str, type] = {}

    @staticmethod
    def full_name(name: str, namespace: str | None) -> str:
        return name if "." in name else f"{namespace}.{name}" if namespace else name

    def _collect(self, s: Any, ns: str | None) -> None:
        if isinstance(s, list):
            for branch in s:
                self._collect(branch, ns)
        elif isinstance(s, dict):
            kind = s["type"]
            if kind in ("record", "enum", "fixed"):
                ns = s.get("namespace", ns)
                self.named[self.full_name(s["name"], ns)] = (s, ns)
                for f in s.get("fields", ()):
                    self._collect(f["type"], ns)
            elif kind == "array":
                self._collect(s["items"], ns)
            elif kind == "map":
                self._collect(s["values"], ns)
            else:
                self._collect(kind, ns)

    def resolve(self, s: Any, ns: str | None) -> tuple[Any, str | None, str]:
        """(schema, namespace, kind) with named references and nested types looked up."""
        if isinstance(s, list):
            return s, ns, "union"
        if isinstance(s, str):
            if s in PRIMITIVES:
                return s, ns, s
            definition, its_ns = self.named[self.full_name(s, ns)]
            return definition, its_ns, definition["type"]
        kind = s["type"]
        if kind in ("record", "enum", "fixed"):
            return s, s.get("namespace", ns), kind
        if kind in ("array", "map"):
            return s, ns, kind
        return self.resolve(kind, ns)

    # -- valid values ------------------------------------------------------------------

    def valid(self, s: Any, ns: str | None, depth: int = 0) -> st.SearchStrategy:
        """Values of ``s``; past :data:`DEPTH` nested records, arrays are empty and unions
        take no record, so that a recursive schema gives finite values."""
        s, ns, kind = self.resolve(s, ns)
        simple = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            # any double too: most fit a float, the largest do not (hl7bus refuses those)
            "float": st.floats(width=32) | st.integers(-(2**24), 2**24) | st.floats(),
            "double": st.floats() | st.integers(),
            "bytes": st.binary(max_size=8),
            "string": st.text(max_size=8),
        }
        if kind in simple:
            return simple[kind]
        if kind == "enum":
            return st.sampled_from(s["symbols"])
        if kind == "fixed":
            return st.binary(min_size=s["size"], max_size=s["size"])
        if kind == "array":
            if depth >= DEPTH:
                return st.just([])
            return st.lists(self.valid(s["items"], ns, depth), max_size=2)
        if kind == "map":
            values = self.valid(s["values"], ns, depth)
            return st.dictionaries(st.text(max_size=3), values, max_size=2)
        if kind == "union":
            branches = s
            if depth >= DEPTH:
                flat = [b for b in s if self.resolve(b, ns)[2] != "record"]
                branches = flat or s
            return st.one_of([self.valid(branch, ns, depth) for branch in branches])
        key = (self.full_name(s["name"], ns), min(depth, DEPTH))
        if key not in self._strategies:
            fields = {f["name"]: (f["type"], ns) for f in s["fields"]}
            self._strategies[key] = st.deferred(
                lambda: st.fixed_dictionaries(
                    {name: self.valid(t, n, key[1] + 1) for name, (t, n) in fields.items()}
                )
            )
        return self._strategies[key]

    def records(self) -> st.SearchStrategy:
        return self.valid(self.schema, None)

    # -- the same record as objects ----------------------------------------------------

    def objects(self, s: Any, ns: str | None, value: Any) -> Any:
        """``value`` as the object writer reads it: records as objects with the fields as
        attributes (and ``__dataclass_fields__``, which marks a record in a union), arrays as
        tuples, symbols as ``str`` enum members; a hostile value stays as it is."""
        s, ns, kind = self.resolve(s, ns)
        if kind == "union":
            for branch in s:
                _, _, branch_kind = self.resolve(branch, ns)
                if (
                    (branch_kind == "record" and isinstance(value, dict))
                    or (branch_kind == "array" and isinstance(value, list))
                    or (branch_kind == "map" and isinstance(value, dict))
                    or (branch_kind == "enum" and isinstance(value, str))
                ):
                    converted = self.objects(branch, ns, value)
                    if converted is not value or branch_kind != "enum":
                        return converted
            return value
        if kind == "array" and isinstance(value, list):
            return tuple(self.objects(s["items"], ns, item) for item in value)
        if kind == "map" and isinstance(value, dict):
            return {k: self.objects(s["values"], ns, v) for k, v in value.items()}
        if kind == "enum" and isinstance(value, str) and value in s["symbols"]:
            return self._enum(s, ns)(value)
        if kind == "record" and isinstance(value, dict):
            obj = self._class(s, ns)()
            for f in s["fields"]:
                if f["name"] in value:
                    setattr(obj, f["name"], self.objects(f["type"], ns, value[f["name"]]))
                elif "default" in f:  # as a dataclass field with a default
                    setattr(obj, f["name"], self.objects(f["type"], ns, f["default"]))
            return obj
        return value

    def _class(self, s: dict, ns: str | None) -> type:
        full = self.full_name(s["name"], ns)
        if full not in self._classes:
            self._classes[full] = type(s["name"], (), {"__dataclass_fields__": {}})
        return self._classes[full]

    def _enum(self, s: dict, ns: str | None) -> type:
        full = self.full_name(s["name"], ns)
        if full not in self._enums:
            self._enums[full] = Enum(s["name"], [(x, x) for x in s["symbols"]], type=str)
        return self._enums[full]


# -- damaging a record -----------------------------------------------------------------


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def damaged(draw: st.DrawFn, schema: Schema) -> Any:
    """A valid record of ``schema`` with up to three values replaced by hostile ones."""
    record = draw(schema.records())
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(record)))
        record = _replace(record, path, draw(HOSTILE))
    return record


# -- the two writers -------------------------------------------------------------------


def fastavro_bytes(parsed: Any, record: Any) -> bytes | None:
    """fastavro's bytes for ``record``, validated first; None when it refuses.  Tuples are
    sequences here, as for hl7bus (fastavro otherwise reads a tuple in a union as a
    ``(branch name, value)`` pair)."""
    try:
        fastavro.validation.validate(record, parsed, raise_errors=True, disable_tuple_notation=True)
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, record, disable_tuple_notation=True)
    except Exception:  # fastavro refuses with many exception types; any one counts
        return None
    return out.getvalue()


def hl7bus_bytes(write: Any, value: Any) -> bytes | None:
    """hl7bus's bytes, or None when it refuses: only ever with an AvroValueError."""
    try:
        return write(value)
    except AvroValueError as exc:
        assert exc.reason
        assert str(exc)
        return None


def _finite_written_as_infinity(record: Any, back: Any) -> bool:
    """Whether a finite number of ``record`` came back from fastavro's bytes as ±infinity."""
    if isinstance(back, float) and math.isinf(back):
        return (
            isinstance(record, (int, float, Fraction))
            and not isinstance(record, bool)
            and math.isfinite(record)
        )
    if isinstance(record, dict) and isinstance(back, dict):
        return any(k in back and _finite_written_as_infinity(v, back[k]) for k, v in record.items())
    if isinstance(record, (list, tuple)) and isinstance(back, list) and len(record) == len(back):
        return any(_finite_written_as_infinity(a, b) for a, b in zip(record, back, strict=True))
    return False


def assert_agree(parsed: Any, record: Any, ours: bytes | None, theirs: bytes | None) -> None:
    event("both refuse" if theirs is None else "hl7bus refuses" if ours is None else "both write")
    if theirs is None:
        assert ours is None, "fastavro refuses this record, hl7bus wrote it"
    elif ours is None:
        # The one place hl7bus is stricter: fastavro would have changed the number.
        back = fastavro.schemaless_reader(io.BytesIO(theirs), parsed, None)
        assert _finite_written_as_infinity(record, back), "hl7bus refuses what fastavro writes"
    else:
        assert ours == theirs


SLOW = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the bus's schemas -----------------------------------------------------------------

BUS = {name: Schema(json.loads(schema_text(name))) for name in SCHEMA_FILES}
BUS_DICT_WRITERS = {name: compile_writer(json.loads(schema_text(name))) for name in SCHEMA_FILES}
BUS_OBJECT_WRITERS = {
    name: compile_object_writer(json.loads(schema_text(name))) for name in SCHEMA_FILES
}


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
@SLOW
@given(data=st.data())
def test_bus_records_are_written_as_fastavro_writes_them_or_refused_by_both(name, data):
    schema = BUS[name]
    record = data.draw(damaged(schema))
    parsed = parsed_schema(name)
    theirs = fastavro_bytes(parsed, record)
    assert_agree(parsed, record, hl7bus_bytes(BUS_DICT_WRITERS[name], record), theirs)
    as_objects = schema.objects(schema.schema, None, record)
    assert_agree(parsed, record, hl7bus_bytes(BUS_OBJECT_WRITERS[name], as_objects), theirs)


# -- synthetic schemas: every Avro type ------------------------------------------------

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
        {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]}},
        {"name": "four", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "longs", "type": {"type": "array", "items": "long"}},
        {"name": "ints", "type": {"type": "array", "items": "int"}},
        {"name": "doubles", "type": {"type": "map", "values": ["null", "double"]}},
        {
            "name": "inner",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Inner",
                    "fields": [
                        {"name": "class", "type": "int", "default": 7},
                        {"name": "label", "type": ["null", "string"], "default": None},
                        {"name": "count", "type": "long"},
                    ],
                },
            ],
        },
        {"name": "number", "type": ["int", "long", "float", "double"]},
        {"name": "narrow", "type": ["null", "float", "long"]},
        {"name": "scalar", "type": ["null", "boolean", "string", "Colour", "bytes", "Four"]},
        {
            "name": "word",
            "type": [{"type": "enum", "name": "Word", "symbols": ["HI", "BYE"]}, "string"],
        },
        {"name": "symbol_first", "type": ["Colour", "Word", "null"]},
        {"name": "box", "type": ["null", "Inner", {"type": "array", "items": "int"}]},
        {"name": "lookup", "type": ["string", {"type": "map", "values": "long"}]},
        {
            "name": "deep",
            "type": {"type": "array", "items": ["null", {"type": "map", "values": "Colour"}]},
        },
    ],
}

TREE = {
    "type": "record",
    "name": "Node",
    "fields": [
        {"name": "label", "type": "string"},
        {"name": "weight", "type": "int", "default": 0},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "next", "type": ["null", "Node"]},
        {"name": "tag", "type": ["string", "null", "Node"]},
    ],
}

SYNTHETIC = {"every type": EVERY_TYPE, "recursive": TREE}
SYNTHETIC_WRITERS = {
    name: (compile_writer(schema), compile_object_writer(schema))
    for name, schema in SYNTHETIC.items()
}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
@SLOW
@given(data=st.data())
def test_synthetic_records_are_written_as_fastavro_writes_them_or_refused_by_both(name, data):
    raw_schema = SYNTHETIC[name]
    schema = Schema(raw_schema)
    record = data.draw(damaged(schema))
    parsed = fastavro.parse_schema(json.loads(json.dumps(raw_schema)))
    theirs = fastavro_bytes(parsed, record)
    write_dicts, write_objects = SYNTHETIC_WRITERS[name]
    assert_agree(parsed, record, hl7bus_bytes(write_dicts, record), theirs)
    as_objects = schema.objects(raw_schema, None, record)
    assert_agree(parsed, record, hl7bus_bytes(write_objects, as_objects), theirs)


# -- named cases -----------------------------------------------------------------------


def _field(avro_type: Any) -> dict:
    return {"type": "record", "name": "R", "fields": [{"name": "x", "type": avro_type}]}


@pytest.mark.parametrize(
    ("avro_type", "value"),
    [
        ("int", 2**31),
        ("int", -(2**31) - 1),
        ("int", 99999999999999999999),
        ("int", 1.0),
        ("int", True),
        ("int", "1"),
        ("int", None),
        ("long", 2**63),
        ("long", -(2**63) - 1),
        ("long", 99999999999999999999),
        ("long", math.inf),
        ("long", math.nan),
        ("long", 1.5),
        ("long", Decimal("1")),
        ("float", True),
        ("float", "1.5"),
        ("float", Decimal("1.5")),
        ("float", 2**1100),
        ("float", None),
        ("double", False),
        ("double", 2**1100),
        ("double", "NaN"),
        ("boolean", 1),
        ("boolean", "true"),
        ("boolean", None),
        ("string", b"bytes"),
        ("string", 5),
        ("string", None),
        ("string", "\ud800"),
        ("bytes", "text"),
        ("bytes", [1, 2]),
        ("bytes", memoryview(b"x")),
        ("null", 0),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, "B"),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, None),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, ["A"]),
        ({"type": "fixed", "name": "F", "size": 2}, b"abc"),
        ({"type": "fixed", "name": "F", "size": 2}, memoryview(b"ab")),
        ({"type": "array", "items": "string"}, "ab"),
        ({"type": "array", "items": "int"}, {"a": 1}),
        ({"type": "map", "values": "int"}, {1: 2}),
        ({"type": "map", "values": "int"}, [("a", 1)]),
        (["null", "int"], 2**31),
        (["null", "long"], True),
        (["null", "string"], 1),
        (["int", "string"], 1.5),
        (["null", {"type": "record", "name": "Inner", "fields": []}], 3),
    ],
)
def test_fastavro_refuses_and_so_does_hl7bus(avro_type, value):
    schema = _field(avro_type)
    record = {"x": value}
    assert fastavro_bytes(fastavro.parse_schema(json.loads(json.dumps(schema))), record) is None
    with pytest.raises(AvroValueError, match=r"^R\.x: "):
        compile_writer(schema)(record)
    with pytest.raises(AvroValueError, match=r"^R\.x: "):
        compile_object_writer(schema)(Schema(schema).objects(schema, None, record))


@pytest.mark.parametrize("value", [1e39, -1e39, 2**128, 3.4028235677973366e38])
def test_a_finite_number_beyond_a_float_is_refused_where_fastavro_writes_infinity(value):
    schema = _field("float")
    theirs = fastavro_bytes(fastavro.parse_schema(schema), {"x": value})
    assert theirs is not None
    assert math.isinf(
        fastavro.schemaless_reader(io.BytesIO(theirs), fastavro.parse_schema(schema), None)["x"]
    )
    with pytest.raises(AvroValueError, match=r"R\.x: .*float"):
        compile_writer(schema)({"x": value})


@pytest.mark.parametrize(
    ("avro_type", "value"),
    [
        ("float", math.nan),
        ("float", -math.inf),
        ("double", math.nan),
        ("double", math.inf),
        ("double", 2**63),
        ("float", 3.4028234663852886e38),
        ("long", Small.ONE),
        (["null", "int", "double"], 2**40),
        (["null", "int", "long"], 2**40),
        (["float", "double"], 0.1),
        ({"type": "array", "items": "int"}, b"\x01\x02"),
        ({"type": "fixed", "name": "F", "size": 2}, bytearray(b"ab")),
    ],
)
def test_what_fastavro_writes_hl7bus_writes_the_same(avro_type, value):
    schema = _field(avro_type)
    theirs = fastavro_bytes(fastavro.parse_schema(json.loads(json.dumps(schema))), {"x": value})
    assert theirs is not None
    assert compile_writer(schema)({"x": value}) == theirs


def test_an_appointment_duration_beyond_an_int_is_refused_naming_its_field():
    """The issue: SCH-9 99999999999999999999 came out of Kafka as 7766279631452241925."""
    event = ClinicalEvent(
        event_id="e",
        event_type=EventType.APPOINTMENT_BOOKED,
        patient=Patient(key="A|1"),
        source=Source(message_control_id="1", message_type="SIU"),
        payload=Payload(appointment=Appointment(duration_minutes=99999999999999999999)),
    )
    with pytest.raises(AvroValueError, match=r"^Appointment\.duration_minutes: .*Avro int"):
        encode(event)


def test_a_record_that_is_not_one_is_blamed_on_the_field_that_holds_it():
    schema = {
        "type": "record",
        "name": "Outer",
        "fields": [
            {
                "name": "inner",
                "type": {"type": "record", "name": "In", "fields": [{"name": "a", "type": "int"}]},
            }
        ],
    }
    with pytest.raises(AvroValueError, match=r"^Outer\.inner: .*record In.*got list"):
        compile_writer(schema)({"inner": [1]})
    with pytest.raises(AvroValueError, match=r"^In\.a: missing"):
        compile_writer(schema)({"inner": {}})


@pytest.mark.parametrize(
    "union",
    [
        [
            {"type": "record", "name": "A", "fields": []},
            {"type": "record", "name": "B", "fields": []},
        ],
        ["null", {"type": "record", "name": "A", "fields": []}, {"type": "map", "values": "int"}],
        [{"type": "array", "items": "int"}, "bytes"],
        [{"type": "array", "items": "int"}, {"type": "fixed", "name": "F", "size": 2}],
    ],
)
def test_a_union_whose_branch_a_python_value_cannot_tell_is_refused_when_compiled(union):
    """fastavro picks among these by validating the whole value against each branch (and,
    for records, counting matching fields); hl7bus picks by the value's type."""
    with pytest.raises(ValueError, match="union"):
        compile_writer(_field(union))

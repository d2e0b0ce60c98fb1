"""hl7bus's compiled Avro encoder writes exactly what fastavro writes, for every event the
project's own messages yield (and, with ``make test-corpus``, every event the corpus yields)
and for edge cases of each Avro type, whether it reads dict records or the event model's
dataclasses."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from enum import Enum
from types import SimpleNamespace

import fastavro
import pytest

from hl7bus.avro.writer import compile_object_writer, compile_writer
from hl7bus.errors import MessageError
from hl7bus.events.model import EventType
from hl7bus.events.records import decode, encode, to_record
from hl7bus.hl7 import split_messages
from hl7bus.kafka.serde import SCHEMA_FILES, parsed_schema, schema_text
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

from paths import CORPUS, SOURCES, own_files


def _fastavro(schema_name: str, record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed_schema(schema_name), record)
    return out.getvalue()


# At least this many events from each source: the sample feed alone gives 15.
LEAST_EVENTS = {"own": 15, "corpus": 250}


@pytest.fixture(scope="module", params=SOURCES)
def events(request: pytest.FixtureRequest) -> tuple[str, list]:
    """Every event that the source's messages translate into, and the source's name."""
    files = own_files() if request.param == "own" else sorted(CORPUS.glob("*.hl7"))
    profiles = ProfileSet()
    found = []
    for path in files:
        for chunk in split_messages(path.read_bytes()):
            try:
                found.extend(translate(chunk, profiles).events)
            except MessageError:
                continue
    return request.param, found


def test_every_event_encodes_like_fastavro_and_decodes_back(events):
    """``encode`` reads the event's dataclasses; ``compile_writer`` the record dict."""
    source, found = events
    write_record = compile_writer(json.loads(schema_text("ClinicalEvent")))
    count = 0
    for event in found:
        record = to_record(event)
        theirs = _fastavro("ClinicalEvent", record)
        ours = encode(event)
        assert ours == theirs, event.event_id
        assert write_record(record) == theirs, event.event_id
        assert decode(ours) == event
        count += 1
    assert count >= LEAST_EVENTS[source]


def test_renamed_and_enum_fields_are_read_from_the_model(events):
    _, found = events
    assert any(e.encounter and e.encounter.patient_class for e in found)
    assert {type(e.event_type) for e in found} == {EventType}


EDGE_SCHEMA = {
    "type": "record",
    "name": "Edge",
    "namespace": "t",
    "fields": [
        {"name": "l", "type": "long"},
        {"name": "i", "type": "int"},
        {"name": "d", "type": "double"},
        {"name": "f", "type": "float"},
        {"name": "b", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "s", "type": "string"},
        {"name": "u", "type": ["null", "string", "long", {"type": "array", "items": "int"}]},
        {"name": "m", "type": {"type": "map", "values": ["null", "double"]}},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}},
        {"name": "again", "type": ["null", "E"]},
    ],
}


EDGE_RECORDS = [
    {
        "l": 0,
        "i": 0,
        "d": 0.0,
        "f": 0.0,
        "b": False,
        "raw": b"",
        "s": "",
        "u": None,
        "m": {},
        "e": "A",
        "again": None,
    },
    {
        "l": -(2**63),
        "i": 2**31 - 1,
        "d": -1.5e300,
        "f": 1.5,
        "b": True,
        "raw": b"\x00\xff",
        "s": "Zoë 北京 \U0001f489",
        "u": "x",
        "m": {"k": 1.0, "n": None},
        "e": "C",
        "again": "B",
    },
    {
        "l": 2**63 - 1,
        "i": -(2**31),
        "d": 1e-300,
        "f": -2.0,
        "b": False,
        "raw": b"x" * 300,
        "s": "y" * 200,
        "u": -64,
        "m": {"": None},
        "e": "B",
        "again": "A",
    },
    {
        "l": 63,
        "i": -65,
        "d": 3.0,
        "f": 0.25,
        "b": True,
        "raw": b"ab",
        "s": "s",
        "u": [1, -1, 2**20],
        "m": {},
        "e": "A",
        "again": None,
    },
]


@pytest.mark.parametrize("record", EDGE_RECORDS)
def test_edge_values_match_fastavro(record):
    ours = compile_writer(EDGE_SCHEMA)(record)
    theirs = io.BytesIO()
    fastavro.schemaless_writer(theirs, fastavro.parse_schema(EDGE_SCHEMA), record)
    assert ours == theirs.getvalue()


@pytest.mark.parametrize("record", EDGE_RECORDS)
def test_edge_values_read_as_attributes_match_fastavro(record):
    class Symbol(str, Enum):
        A = "A"
        B = "B"
        C = "C"

    attributes = {**record, "e": Symbol(record["e"])}
    ours = compile_object_writer(EDGE_SCHEMA)(SimpleNamespace(**attributes))
    theirs = io.BytesIO()
    fastavro.schemaless_writer(theirs, fastavro.parse_schema(EDGE_SCHEMA), record)
    assert ours == theirs.getvalue()


TREE_SCHEMA = {
    "type": "record",
    "name": "Node",
    "fields": [
        {"name": "label", "type": "string"},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "next", "type": ["null", "Node"]},
        {"name": "tag", "type": ["string", "null", "Node"]},
        {"name": "lambda", "type": "long"},
    ],
}


@dataclass(frozen=True)
class Node:
    label: str
    children: tuple[Node, ...] = ()
    next: Node | None = None
    tag: str | Node | None = None
    weight: int = 0


def _tree_record(node: Node | None) -> dict | None:
    if node is None:
        return None
    return {
        "label": node.label,
        "children": [_tree_record(c) for c in node.children],
        "next": _tree_record(node.next),
        "tag": _tree_record(node.tag) if isinstance(node.tag, Node) else node.tag,
        "lambda": node.weight,
    }


@pytest.mark.parametrize(
    "tree",
    [
        Node("leaf"),
        Node("é", children=(Node("a", weight=-1), Node("b", tag="t")), next=Node("n", tag=None)),
        Node("r", tag=Node("inner", children=(Node("x" * 100),)), weight=2**40),
    ],
)
def test_recursive_records_and_general_unions_match_fastavro(tree):
    record = _tree_record(tree)
    theirs = io.BytesIO()
    fastavro.schemaless_writer(theirs, fastavro.parse_schema(TREE_SCHEMA), record)
    assert compile_writer(TREE_SCHEMA)(record) == theirs.getvalue()
    assert compile_object_writer(TREE_SCHEMA, {"lambda": "weight"})(tree) == theirs.getvalue()


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_every_bus_schema_compiles(name):
    assert callable(compile_writer(json.loads(schema_text(name))))
    assert callable(compile_object_writer(json.loads(schema_text(name))))


OPTIONAL_SCHEMA = {
    "type": "record",
    "name": "Optional",
    "fields": [
        {"name": "s", "type": ["null", "string"]},
        {"name": "n", "type": ["null", "long"]},
    ],
}


@pytest.mark.parametrize(
    ("s", "n"),
    [(None, None), ("", 0), ("a" * 63, 63), ("a" * 64, 64), ("é" * 32, -65), ("z" * 9000, -1)],
)
def test_optional_values_either_side_of_one_length_byte_match_fastavro(s, n):
    theirs = io.BytesIO()
    fastavro.schemaless_writer(theirs, fastavro.parse_schema(OPTIONAL_SCHEMA), {"s": s, "n": n})
    assert compile_writer(OPTIONAL_SCHEMA)({"s": s, "n": n}) == theirs.getvalue()
    assert compile_object_writer(OPTIONAL_SCHEMA)(SimpleNamespace(s=s, n=n)) == theirs.getvalue()

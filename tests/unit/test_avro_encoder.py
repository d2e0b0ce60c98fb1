"""hl7bus's compiled Avro encoder writes exactly what fastavro writes, for every event the
corpus yields and for edge cases of each Avro type."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from hl7bus.avro import compile_writer
from hl7bus.errors import MessageError
from hl7bus.events.records import decode, encode, to_record
from hl7bus.hl7 import split_messages
from hl7bus.mapping.router import translate
from hl7bus.profiles import ProfileSet
from hl7bus.serde import SCHEMA_FILES, parsed_schema, schema_text

from paths import CORPUS


def _fastavro(schema_name: str, record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed_schema(schema_name), record)
    return out.getvalue()


def _corpus_events():
    profiles = ProfileSet()
    for path in sorted(CORPUS.glob("*.hl7")):
        for chunk in split_messages(path.read_bytes()):
            try:
                yield from translate(chunk, profiles).events
            except MessageError:
                continue


def test_every_corpus_event_encodes_like_fastavro_and_decodes_back():
    count = 0
    for event in _corpus_events():
        ours = encode(event)
        assert ours == _fastavro("ClinicalEvent", to_record(event)), event.event_id
        assert decode(ours) == event
        count += 1
    assert count > 250


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


@pytest.mark.parametrize(
    "record",
    [
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
    ],
)
def test_edge_values_match_fastavro(record):
    ours = compile_writer(EDGE_SCHEMA)(record)
    theirs = io.BytesIO()
    fastavro.schemaless_writer(theirs, fastavro.parse_schema(EDGE_SCHEMA), record)
    assert ours == theirs.getvalue()


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_every_bus_schema_compiles(name):
    assert callable(compile_writer(json.loads(schema_text(name))))

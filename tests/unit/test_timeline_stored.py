"""An entry's record as the store hands it out: its stored JSON text, read only when a
field is asked for, equal to the record it was written from."""

from __future__ import annotations

import json

import orjson

from hl7bus.services.timeline.stored import StoredRecord, record_json

RECORD = {"event_id": "e1", "patient": {"key": "MRN|1", "name": {"family": "Ñúñez"}}, "n": [1]}


def test_a_stored_record_reads_as_the_record_it_was_written_from() -> None:
    stored = StoredRecord(json.dumps(RECORD, ensure_ascii=False))
    assert stored == RECORD
    expected = RECORD
    assert expected.__eq__(stored) is NotImplemented and stored.__eq__(expected) is True
    assert dict(stored) == RECORD
    assert stored["patient"]["name"]["family"] == "Ñúñez"
    assert stored.get("missing", 7) == 7
    assert "n" in stored and len(stored) == 3
    assert stored != {**RECORD, "n": [2]}
    assert StoredRecord(orjson.dumps(RECORD).decode()) == stored


def test_a_stored_record_is_written_out_as_its_text() -> None:
    text = '{"event_id":"e1","odd":  [1,2]}'
    page = orjson.dumps({"event": record_json(StoredRecord(text)), "plain": record_json(RECORD)})
    plain = orjson.dumps(RECORD)
    assert page == b'{"event":{"event_id":"e1","odd":  [1,2]},"plain":' + plain + b"}"

"""The file connector's delivery of one file: an unexpected error in one message is that
message's dead letter; the other messages of the file are stored as usual."""

from __future__ import annotations

import asyncio

from test_mllp_ack import ADMIT, FakeStore, _a_mapper_bug, _internal_dead_letter, _with_msh

from hl7bus.connectors.files import delivery as files_delivery
from hl7bus.connectors.files.delivery import FileDelivery
from hl7bus.connectors.files.placement import Outcome
from hl7bus.ingest.records import Ingestor, SchemaIds
from hl7bus.kafka.topics import Topics
from hl7bus.mapping.profiles import load_profiles
from hl7bus.metrics import ConnectorMetrics

TRANSFER = _with_msh(_with_msh(ADMIT, 9, b"ADT^A02^ADT_A02"), 10, b"MSG00002").replace(
    b"EVN|A01", b"EVN|A02"
)


def _delivery(store: FakeStore) -> FileDelivery:
    ingestor = Ingestor(Topics(), load_profiles([]), SchemaIds(raw=1, events=2, dlq=3))
    return FileDelivery(ingestor, store, ConnectorMetrics("files:test"), "files:test", 1 << 20)


def test_a_mapper_bug_fails_one_message_of_a_file_and_not_the_rest(monkeypatch):
    _a_mapper_bug(monkeypatch)
    store = FakeStore()
    delivery = _delivery(store)
    results = asyncio.run(delivery.deliver("day.hl7", ADMIT + TRANSFER))
    assert [(r.control_id, r.outcome, r.error_code) for r in results] == [
        ("MSG00001", Outcome.DEAD_LETTER, "application internal error"),
        ("MSG00002", Outcome.TRANSLATED, None),
    ]
    _internal_dead_letter(store, ADMIT)
    assert delivery.metrics.label(delivery.metrics.internal_errors)._value.get() == 1


def test_a_failure_outside_the_delivery_sequence_is_still_a_dead_letter(monkeypatch):
    async def broken(*args, **kwargs):
        raise ValueError("EVERYMAN went wrong")

    monkeypatch.setattr(files_delivery, "deliver", broken)
    store = FakeStore()
    results = asyncio.run(_delivery(store).deliver("day.hl7", ADMIT))
    assert [r.outcome for r in results] == [Outcome.DEAD_LETTER]
    _internal_dead_letter(store, ADMIT)

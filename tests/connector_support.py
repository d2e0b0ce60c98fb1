"""What the connectors' unit tests share: a store that keeps what the connector stores, in
memory, and the ingestor with the default sender profile."""

from __future__ import annotations

from hl7bus.ingest.records import Ingestor, SchemaIds, Stored
from hl7bus.kafka.topics import Topics
from hl7bus.mapping.profiles import load_profiles


class FakeStore:
    """Keeps every record the connector stores, each at the next offset of partition 0."""

    def __init__(self) -> None:
        self.records: list = []

    async def put(self, records):
        out = []
        for record in records:
            self.records.append(record)
            out.append(Stored(record.topic, 0, len(self.records) - 1))
        return out


def ingestor() -> Ingestor:
    return Ingestor(Topics(), load_profiles([]), SchemaIds(raw=1, events=2, dlq=3))

"""An entry's record as the timeline store keeps it: JSON text, read only when asked.

The timeline's pages hand the records on as they were stored (the web API sends the text
as it is, without reading it into objects and writing it again): a :class:`StoredRecord`
is a read-only mapping over the text that reads it the first time a field is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson


class StoredRecord(Mapping[str, Any]):
    """A record (a ``ClinicalEvent`` or ``ClinicalAlert`` record) as stored JSON ``text``;
    equal to the dict the text reads into."""

    __slots__ = ("_record", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._record: dict[str, Any] | None = None

    def read(self) -> dict[str, Any]:
        """The record as a dict (read once; do not change it)."""
        record = self._record
        if record is None:
            record = self._record = orjson.loads(self.text)
        return record

    def __getitem__(self, key: str) -> Any:
        return self.read()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.read().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.read())

    def __len__(self) -> int:
        return len(self.read())

    def __contains__(self, key: object) -> bool:
        return key in self.read()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredRecord):
            return self.text == other.text or self.read() == other.read()
        if isinstance(other, Mapping):
            return self.read() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StoredRecord({len(self.text)} characters)"


def record_json(record: Mapping[str, Any]) -> Any:
    """What orjson writes for ``record``: its stored text as it is, or the mapping."""
    if isinstance(record, StoredRecord):
        return orjson.Fragment(record.text)
    return record if isinstance(record, dict) else dict(record)

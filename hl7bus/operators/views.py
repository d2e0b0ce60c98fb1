"""One record of a topic as operators see it: where it is, when, its key and its value
decoded through the registry.  Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hl7bus.operators.times import iso


def text_of(data: bytes) -> str:
    """Bytes as text: UTF-8, else Latin-1 (which reads any bytes, one character each)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def jsonable(value: Any) -> Any:
    """A decoded record as JSON takes it: bytes (an HL7 message) as text."""
    if isinstance(value, bytes):
        return text_of(value)
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class RecordView:
    """A record: ``value`` is what the registry's schema decodes (a dict; treat it as
    read-only), or the record's text when it is not Avro (``alerts.state``), or None for a
    tombstone."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: str | None
    value: Any

    @property
    def timestamp(self) -> str | None:
        return iso(self.timestamp_ms)

    @property
    def place(self) -> str:
        """``topic partition:offset``."""
        return f"{self.topic} {self.partition}:{self.offset}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "key": self.key,
            "value": jsonable(self.value),
        }

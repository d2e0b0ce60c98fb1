"""Where a file goes once all of its messages are stored, and the result written next to
it.  Pure: outcomes in, folder and document out."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath


class Outcome(StrEnum):
    TRANSLATED = "translated"  # raw record and events stored
    WITHOUT_EVENTS = "without_events"  # raw record stored: well-formed, no mapper for its type
    DEAD_LETTER = "dead_letter"  # raw record (when readable) and a dead-letter record stored


class Folder(StrEnum):
    DONE = "done"  # every message stored, with its events or without (no mapper)
    ERROR = "error"  # at least one message went to the dead-letter topic, or none was found


@dataclass(frozen=True, slots=True)
class MessageResult:
    """What became of one message of a file."""

    index: int  # 1-based position in the file
    control_id: str
    outcome: Outcome
    events: int = 0
    error_code: str | None = None
    error_segment: str | None = None
    error_field: int | None = None
    message_type: str | None = None  # of a message stored without events: ``QBP^Q22``

    def as_dict(self) -> dict:
        out = {
            "index": self.index,
            "control_id": self.control_id,
            "outcome": self.outcome.value,
            "events": self.events,
            "error_code": self.error_code,
            "error_segment": self.error_segment,
            "error_field": self.error_field,
        }
        if self.message_type is not None:
            out["message_type"] = self.message_type
        return out


def folder_for(results: Sequence[MessageResult]) -> Folder:
    """``done`` when the file held messages and none went to the dead-letter topic, else
    ``error``."""
    if results and all(r.outcome is not Outcome.DEAD_LETTER for r in results):
        return Folder.DONE
    return Folder.ERROR


def sidecar_name(name: str) -> str:
    return f"{name}.result.json"


def free_name(name: str, taken: Container[str]) -> str:
    """``name``, or ``stem.N.suffix`` with the smallest N ≥ 2 such that neither the file
    nor its sidecar is already in the target folder."""
    path = PurePath(name)
    candidate, n = name, 1
    while candidate in taken or sidecar_name(candidate) in taken:
        n += 1
        candidate = f"{path.stem}.{n}{path.suffix}"
    return candidate


def result_document(
    file_name: str, connector: str, results: Sequence[MessageResult], finished_at: str
) -> dict:
    """The sidecar's content: per message its control id, outcome and error code."""
    document: dict = {
        "file": file_name,
        "connector": connector,
        "finished_at": finished_at,
        "messages": len(results),
        "translated": sum(r.outcome is Outcome.TRANSLATED for r in results),
        "without_events": sum(r.outcome is Outcome.WITHOUT_EVENTS for r in results),
        "dead_letter": sum(r.outcome is Outcome.DEAD_LETTER for r in results),
        "results": [r.as_dict() for r in results],
    }
    if not results:
        document["note"] = "The file holds no HL7 message."
    return document

"""The Avro schemas of the bus's records, as shipped in ``schemas/`` (installed as
``hl7bus.schemas``): their text, and fastavro's parsed form for offline use."""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

SCHEMA_FILES: dict[str, str] = {
    "ClinicalEvent": "clinical_event.avsc",
    "RawMessage": "raw_message.avsc",
    "DeadLetter": "dead_letter.avsc",
    "ClinicalAlert": "clinical_alert.avsc",
    "AccessAudit": "access_audit.avsc",
}


@functools.cache
def schema_text(name: str) -> str:
    """The ``.avsc`` text of a record type of the bus, e.g. ``schema_text("ClinicalEvent")``."""
    return importlib.resources.files("hl7bus.schemas").joinpath(SCHEMA_FILES[name]).read_text()


@functools.cache
def parsed_schema(name: str) -> dict[str, Any]:
    """The fastavro-parsed schema, for offline encoding and decoding."""
    import fastavro

    return fastavro.parse_schema(json.loads(schema_text(name)))

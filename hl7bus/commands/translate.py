"""``hl7bus translate``: HL7 v2 files in, one JSON event per line out.

Reads single messages, batch files (FHS/BHS) and MLLP-framed streams, from files or
standard input.  Each event goes to stdout as its plain record (the same content as its
Avro record); each message that cannot be translated gives one JSON line on stderr
with the file, the control id, the error code, the segment and field, and a sentence.
A well-formed message of a type hl7bus has no mapper for (an ACK, a query, a Z-type)
gives no event and no error, as the connectors store it and answer AA.
Exit status: 0 when nothing was rejected, 2 when something was.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from hl7bus.errors import ErrorCode, MessageError
from hl7bus.events.records import to_record
from hl7bus.hl7 import split_messages
from hl7bus.hl7.standard import describe
from hl7bus.mapping.context import Receipt
from hl7bus.mapping.profiles import ProfileSet, load_profiles
from hl7bus.mapping.router import translate


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def run(
    inputs: list[str], profile_paths: list[Path], out: TextIO, err: TextIO, *, strict: bool = False
) -> int:
    profiles: ProfileSet = load_profiles(profile_paths)
    received_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    receipt = Receipt(received_at=received_at, connector="translate")
    rejected = 0
    for name in inputs:
        try:
            data = _read(name)
        except OSError as exc:
            rejected += 1
            _error(
                err,
                {
                    "file": name,
                    "control_id": None,
                    "code": "unreadable file",
                    "segment": None,
                    "field": None,
                    "message": f"Cannot read {name}: {exc.strerror or exc}.",
                },
            )
            continue
        chunks = split_messages(data)
        if not chunks:  # an empty or blank file, or nothing on stdin
            rejected += 1
            source = "Standard input" if name == "-" else name
            _error(
                err,
                {
                    "file": name,
                    "control_id": None,
                    "code": ErrorCode.NOT_HL7.text,
                    "segment": None,
                    "field": None,
                    "message": f"{source} holds no HL7 message.",
                },
            )
        for index, chunk in enumerate(chunks, start=1):
            try:
                translation = translate(chunk, profiles, receipt, strict=strict)
            except MessageError as exc:
                rejected += 1
                where = describe(exc.segment, exc.field)
                _error(err, {"file": name, "message_index": index, **exc.as_dict(), "where": where})
                continue
            for event in translation.events:
                out.write(json.dumps(to_record(event), ensure_ascii=False))
                out.write("\n")
    out.flush()
    return 2 if rejected else 0


def _error(err: TextIO, record: dict) -> None:
    err.write(json.dumps(record, ensure_ascii=False))
    err.write("\n")

"""Decoding the bus's records on one core: hl7bus's compiled Avro reader
(``hl7bus.avro.reader``) records/s, printed beside the baseline of the same run, fastavro's
``schemaless_reader`` on the same bytes.

The records are the ClinicalEvents of the sample hospital's feed (``hl7bus/samples/feed``),
translated by the project's own mapper and encoded by its own writer, each in Confluent's
wire format as it arrives from Kafka; both readers start after the 5-byte header, as the
services' decoder does.  Two pairs of schemas:

* **as written**: the writer's schema is the reader's (what the timeline reads today):
  fastavro is given no reader's schema, as the services gave it before;
* **read by a later schema**: the reader's schema has one more (optional) field, as every
  service reads older records after the next schema version: fastavro resolves every value.

Run ``python -m benchmarks.avro_reader [--records N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

from hl7bus.avro.reader import compile_reader
from hl7bus.avro.schemas import schema_text
from hl7bus.errors import MessageError
from hl7bus.events.records import encode
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

FEED = Path(__file__).resolve().parent.parent / "hl7bus" / "samples" / "feed"
HEADER = struct.pack(">bI", 0, 1)  # Confluent wire format: magic byte, schema id


def feed_records() -> list[bytes]:
    """The Avro binary of each event of the sample feed, after its wire-format header (the
    feed's billing messages, which the bus refuses, left out)."""
    found = []
    profiles = ProfileSet()
    for path in sorted(FEED.glob("*.hl7")):
        for chunk in split_messages(path.read_bytes()):
            try:
                found += [HEADER + encode(e) for e in translate(chunk, profiles).events]
            except MessageError:
                continue
    return found


def later_schema() -> dict:
    """The ClinicalEvent schema with one more optional field, as a next version adds one."""
    schema = json.loads(schema_text("ClinicalEvent"))
    schema["fields"].insert(3, {"name": "priority", "type": ["null", "string"], "default": None})
    return schema


def rate(name: str, work: Callable[[], int], repeat: int) -> float:
    """The best of ``repeat`` runs, in records per second of this process's CPU time (the
    figure stays meaningful on a machine that other work shares), with the wall-clock
    figure beside it."""
    best = best_wall = 0.0
    for _ in range(repeat):
        start, start_wall = time.process_time(), time.perf_counter()
        count = work()
        best = max(best, count / (time.process_time() - start))
        best_wall = max(best_wall, count / (time.perf_counter() - start_wall))
    print(f"  {name:<44} {best:>10,.0f} records/s  (wall clock {best_wall:,.0f})")
    return best


def compare(title: str, records: list[bytes], writer: Any, reader: Any, repeat: int) -> None:
    writer = fastavro.parse_schema(writer)
    reader = fastavro.parse_schema(reader) if reader is not None else None
    compiled = compile_reader(writer, reader)
    if compiled.fallback:
        print(f"  (read by fastavro: {compiled.fallback})")

    def fastavro_decode() -> int:
        schemaless_reader = fastavro.schemaless_reader
        for data in records:
            stream = io.BytesIO(data)
            stream.seek(5)
            schemaless_reader(stream, writer, reader)
        return len(records)

    def hl7bus_decode() -> int:
        read = compiled.read
        for data in records:
            read(data, 5)
        return len(records)

    for data in records[:50]:  # both read the same
        stream = io.BytesIO(data)
        stream.seek(5)
        assert compiled.read(data, 5) == fastavro.schemaless_reader(stream, writer, reader)
    print(f"{title}:")
    baseline = rate("baseline: fastavro schemaless_reader", fastavro_decode, repeat)
    ours = rate("hl7bus.avro.reader (compiled)", hl7bus_decode, repeat)
    print(f"  {'':<44} {ours / baseline:>10.1f}x fastavro")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    feed = feed_records()
    records = (feed * (args.records // len(feed) + 1))[: args.records]
    size = sum(len(r) - len(HEADER) for r in feed) / len(feed)
    print(
        f"{len(records):,} records: the sample feed's {len(feed)} ClinicalEvents over and over, "
        f"{size:,.0f} Avro bytes each on average"
    )
    current = json.loads(schema_text("ClinicalEvent"))
    gc.collect()
    gc.freeze()  # what was built before the run is not the run's garbage to collect
    for title, reader in [
        ("as written (the writer's schema is the reader's)", None),
        ("read by a later schema (one more field)", later_schema()),
    ]:
        compare(title, records, current, reader, args.repeat)


if __name__ == "__main__":
    main()

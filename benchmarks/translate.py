"""hl7bus's translation speed on one core, printed beside the baselines of the same run.

Stages measured over the corpus, each from the raw bytes as received (decoding included):

* hl7bus parse — ``hl7bus.hl7.parse_message``;
* hl7bus parse + map — ``hl7bus.mapping.router.translate`` (events built);
* hl7bus parse + map + Avro — the above plus each event's Confluent wire-format bytes
  (5-byte header and the Avro binary of ``hl7bus.avro``), i.e. what a connector produces.

Baselines (``benchmarks/parse_baselines.py``; given pre-normalised text, so their figures
exclude decoding): hl7apy's ``parse_message``, python-hl7's ``hl7.parse``, and HAPI
HL7v2's ``PipeParser`` in a JVM. Goal: at least 10,000 messages/s per core on ORU-sized
messages for parse + map + Avro, and ahead of HAPI's parse alone.

Run ``python -m benchmarks.translate [--corpus DIR] [--seconds S] [--hapi-warmup S] [--no-hl7apy]``;
HAPI gets a 20 s warm-up by default: with 3 s its JIT has not finished and it runs ~40% slower.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import struct
from collections.abc import Callable

from benchmarks import parse_baselines as baselines
from hl7bus.errors import MessageError
from hl7bus.events.records import encode
from hl7bus.hl7 import parse_message
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.mapping.router import translate

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def measure(
    name: str, work: Callable[[bytes], object], messages: list[bytes], seconds: float
) -> dict:
    """Time ``work`` per message, bytes in as received; hl7bus's rejections are left out."""
    return baselines._measure(
        name,
        work,
        messages,
        seconds,
        prepare=lambda raw: raw,
        refusal=MessageError,
        reason=lambda exc: exc.code.text,  # type: ignore[attr-defined]
    )


def pipeline() -> dict[str, Callable[[bytes], object]]:
    profiles = ProfileSet()
    header = struct.pack(">bI", 0, 1)  # Confluent wire format: magic byte, schema id

    def to_avro(raw: bytes) -> list[bytes]:
        return [header + encode(event) for event in translate(raw, profiles).events]

    return {
        "hl7bus parse": parse_message,
        "hl7bus parse + map": lambda raw: translate(raw, profiles),
        "hl7bus parse + map + Avro": to_avro,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", type=pathlib.Path, default=REPO_ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--no-hl7apy", action="store_true", help="skip the slow hl7apy runs")
    parser.add_argument("--no-hapi", action="store_true", help="skip the JVM baseline")
    parser.add_argument(
        "--hapi-warmup",
        type=float,
        default=20.0,
        help="seconds the JVM parses before HAPI's timed period (its JIT needs ~20 s here)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    paths = baselines.corpus_files(args.corpus)
    raw = {p: p.read_bytes() for p in paths}
    subsets = {
        "ORU": [p for p in paths if baselines.message_type(raw[p]).startswith("ORU")],
        "all": paths,
    }
    rows = []
    for subset, chosen in subsets.items():
        messages = [raw[p] for p in chosen]
        for name, work in pipeline().items():
            rows.append((subset, measure(name, work, messages, args.seconds)))
        if not args.no_hapi:
            for generic in (False, True):  # HL7 structures per version, or generic segments
                hapi = baselines.baseline_hapi(chosen, args.seconds, args.hapi_warmup, generic)
                if generic and "parser" in hapi:
                    hapi["parser"] += " (generic)"
                rows.append((subset, hapi))
        rows.append((subset, baselines.baseline_python_hl7(messages, args.seconds)))
        if not args.no_hl7apy:
            rows.append((subset, baselines.baseline_hl7apy(messages, args.seconds)))
    print(
        f"corpus {args.corpus}: {len(paths)} messages ({len(subsets['ORU'])} ORU), "
        f"{args.seconds:g} s per measurement, one core (CPU 0)"
    )
    print(f"{'what':<46} {'subset':<6} {'msgs':>5} {'rej':>4} {'msgs/s':>9} {'p50 µs':>8}")
    for subset, r in rows:
        print(
            f"{r['parser']:<46} {subset:<6} {r['messages']:>5} {r['rejected']:>4} "
            f"{r['msgs_per_s']:>9.0f} {r['us_per_msg_p50']:>8.1f}"
        )
    print("goal: hl7bus parse + map + Avro >= 10,000 msgs/s on ORU, and ahead of HAPI's parse")


if __name__ == "__main__":
    main()

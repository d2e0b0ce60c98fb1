"""Single-core parse throughput of existing HL7 v2 parsers, as baselines for hl7bus.

Three parsers are measured over the same messages:

* hl7apy ``hl7apy.parser.parse_message`` (tolerant validation level), with its default
  ``find_groups=True`` (segments assigned to the message structure's groups) and with
  ``find_groups=False`` (a flat list of segments);
* python-hl7 ``hl7.parse``;
* HAPI HL7v2 ``ca.uhn.hl7v2.parser.PipeParser``, the reference Java parser, run in a JVM by
  the Maven project in ``benchmarks/hapi/`` with validation disabled.

Before timing, every message is decoded as UTF-8, a leading BOM is dropped, CR, LF and CRLF
segment separators become CR, and blank segments are removed (the HAPI program does the
same), because the parsers differ in which separators they accept and that is not what is
measured. A message that a parser raises on during a first pass is counted as ``rejected``
and left out of its timing; for the Python parsers that pass is also the warm-up. The accepted
messages are then parsed in passes, each in a fresh random order (fixed seed), until the time
budget is spent, possibly mid-pass (an hl7apy pass over a corpus can outlast the budget), each
call timed on its own.

Each result is a dict with ``parser``, ``messages`` (accepted), ``rejected``,
``msgs_per_s`` (calls / elapsed time) and ``us_per_msg_p50`` (median call time, µs), plus
``calls`` (timed calls: the sample size behind both figures).

Run ``python benchmarks/parse_baselines.py [--corpus DIR] [--seconds S]``: it pins itself to
CPU 0, measures each parser over every ``*.hl7`` file in the corpus (``*.batch.hl7``
excluded) and over the ORU subset (MSH-9 starting with ``ORU``), and prints a table.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

BENCH_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HAPI_DIR = BENCH_DIR / "hapi"
HAPI_JAR = HAPI_DIR / "target" / "hapi-pipeparser-bench-0.1.0.jar"
HAPI_LIB = HAPI_DIR / "target" / "lib"
HAPI_MAIN_CLASS = "hl7bus.bench.PipeParserBench"

_SEGMENT_SPLIT = re.compile(r"\r\n|\r|\n")


def normalise(raw: bytes) -> str:
    """UTF-8 text without BOM, as CR-separated non-blank segments ending with CR."""
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    return "".join(seg + "\r" for seg in _SEGMENT_SPLIT.split(text) if seg.strip())


def message_type(raw: bytes) -> str:
    """MSH-9 of the message as written (empty when there is no MSH segment)."""
    for segment in normalise(raw).split("\r"):
        if segment.startswith("MSH") and len(segment) > 3:
            fields = segment.split(segment[3])
            return fields[8] if len(fields) > 8 else ""
    return ""


def _result(
    parser: str, messages: int, rejected: int, per_s: float, p50_us: float, **extra
) -> dict:
    return {
        "parser": parser,
        "messages": messages,
        "rejected": rejected,
        "msgs_per_s": per_s,
        "us_per_msg_p50": p50_us,
        **extra,
    }


def _measure(
    name: str,
    parse: Callable[[Any], object],
    messages: list[bytes],
    seconds: float,
    *,
    prepare: Callable[[bytes], Any] = normalise,
    refusal: type[BaseException] = Exception,
    reason: Callable[[BaseException], str] = lambda exc: type(exc).__name__,
) -> dict:
    """Time ``parse`` on the messages it accepts for ``seconds``; the first pass warms up.

    Each message is given to ``parse`` as ``prepare`` makes it (normalised text by
    default); a ``refusal`` raised in the first pass leaves the message out, counted by
    ``reason``."""
    accepted: list[Any] = []
    rejected_by: Counter[str] = Counter()
    for text in map(prepare, messages):
        try:
            parse(text)
        except refusal as exc:  # a refusal, whatever form the parser gives it
            rejected_by[reason(exc)] += 1
        else:
            accepted.append(text)
    if not accepted:
        return _result(name, 0, sum(rejected_by.values()), 0.0, 0.0, rejected_by=dict(rejected_by))

    latencies: list[int] = []
    clock = time.perf_counter_ns
    order = random.Random(0)
    gc.collect()
    budget = int(seconds * 1e9)
    start = now = clock()
    while now - start < budget:
        order.shuffle(accepted)
        for text in accepted:
            t0 = clock()
            parse(text)
            now = clock()
            latencies.append(now - t0)
            if now - start >= budget:
                break
    elapsed = now - start

    latencies.sort()
    return _result(
        name,
        len(accepted),
        sum(rejected_by.values()),
        len(latencies) / (elapsed / 1e9),
        latencies[len(latencies) // 2] / 1e3,
        calls=len(latencies),
        rejected_by=dict(rejected_by),
    )


def baseline_hl7apy(messages: list[bytes], seconds: float, find_groups: bool = True) -> dict:
    """hl7apy ``parse_message`` at the tolerant validation level; ``find_groups`` as given."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    def parse(text: str) -> object:
        return parse_message(
            text, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=find_groups
        )

    name = f"hl7apy {importlib.metadata.version('hl7apy')} parse_message(find_groups={find_groups})"
    return _measure(name, parse, messages, seconds)


def baseline_python_hl7(messages: list[bytes], seconds: float) -> dict:
    """python-hl7 ``hl7.parse``."""
    import hl7

    return _measure(
        f"python-hl7 {importlib.metadata.version('hl7')} hl7.parse", hl7.parse, messages, seconds
    )


def _unavailable(why: str) -> dict:
    return _result(f"HAPI PipeParser (unavailable: {why})", 0, 0, 0.0, 0.0, unavailable=why)


def build_hapi() -> str | None:
    """Build the HAPI benchmark with Maven unless already built; return why it can't be, or None."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH"
    sources = [HAPI_DIR / "pom.xml", *(HAPI_DIR / "src").rglob("*.java")]
    if HAPI_JAR.exists() and HAPI_LIB.is_dir():
        built = HAPI_JAR.stat().st_mtime
        if all(src.stat().st_mtime <= built for src in sources):
            return None
    try:
        done = subprocess.run(
            ["mvn", "-q", "-B", "package"],
            cwd=HAPI_DIR,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        return "mvn package timed out"
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        return "mvn package failed: " + " | ".join(tail)
    return None


def baseline_hapi(
    paths: list[pathlib.Path], seconds: float, warmup: float | None = None, generic: bool = False
) -> dict:
    """HAPI ``PipeParser`` in a JVM (-Xmx256m, CPU 0 where ``taskset`` exists), validation off.

    The JVM warms up for ``warmup`` seconds (default: ``seconds``) before the timed period.
    Messages go into version-specific structures, or generic ones when ``generic`` is true.
    """
    why = build_hapi()
    if why:
        return _unavailable(why)
    warmup = seconds if warmup is None else warmup
    classpath = os.pathsep.join([str(HAPI_JAR), str(HAPI_LIB / "*")])
    command = [
        "java",
        "-Xmx256m",
        "-cp",
        classpath,
        HAPI_MAIN_CLASS,
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
    ]
    if generic:
        command.append("--generic")
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    try:
        done = subprocess.run(
            [*command, *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120 + 3 * (seconds + warmup),
        )
    except subprocess.TimeoutExpired:
        return _unavailable("JVM run timed out")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return _unavailable("JVM run failed: " + tail[0])
    result = json.loads(lines[-1])
    reasons = [
        line.split(": ", 2)[1].rsplit(".", 1)[-1]
        for line in done.stderr.splitlines()
        if line.startswith("rejected ") and line.count(": ") >= 2
    ]
    result["rejected_by"] = dict(Counter(reasons))
    return result


def corpus_files(corpus: pathlib.Path) -> list[pathlib.Path]:
    """One-message files of the corpus: ``*.hl7`` except ``*.batch.hl7``."""
    return sorted(
        p for p in corpus.glob("*.hl7") if not p.name.endswith(".batch.hl7") and p.is_file()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", type=pathlib.Path, default=REPO_ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="timed period per measurement")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # one core; the JVM is pinned by taskset
    paths = corpus_files(args.corpus)
    if not paths:
        raise SystemExit(f"no *.hl7 messages in {args.corpus}")
    raw = {p: p.read_bytes() for p in paths}
    subsets = {"all": paths, "ORU": [p for p in paths if message_type(raw[p]).startswith("ORU")]}

    rows = []
    for subset, chosen in subsets.items():
        messages = [raw[p] for p in chosen]
        rows.append((subset, baseline_hl7apy(messages, args.seconds)))
        rows.append((subset, baseline_hl7apy(messages, args.seconds, find_groups=False)))
        rows.append((subset, baseline_python_hl7(messages, args.seconds)))
        rows.append((subset, baseline_hapi(chosen, args.seconds)))

    print(
        f"corpus {args.corpus}: {len(paths)} messages, {len(subsets['ORU'])} ORU; "
        f"{args.seconds:g} s per measurement, CPU 0"
    )
    header = ("parser", "subset", "msgs", "rej", "msgs/s", "p50 µs", "calls")
    print("{:<46} {:<6} {:>5} {:>4} {:>9} {:>9} {:>6}".format(*header))
    for subset, r in rows:
        print(
            f"{r['parser']:<46} {subset:<6} {r['messages']:>5} {r['rejected']:>4} "
            f"{r['msgs_per_s']:>9.1f} {r['us_per_msg_p50']:>9.1f} {r.get('calls', 0):>6}"
        )
    for subset, r in rows:
        if r.get("rejected_by"):
            print(f"{subset}: {r['parser']} rejected {r['rejected_by']}")
        if "model" in r:
            print(f"{subset}: {r['parser']} ran with validation {r['validation']}, {r['model']}")


if __name__ == "__main__":
    main()

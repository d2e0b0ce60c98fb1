"""The load generator of ``benchmarks.mllp``: ORU messages from the corpus, each sent copy
with its own MSH-10, sent over MLLP by N senders, each on its own connection and each
waiting for the ACK of a message before it sends the next one (as vendor systems do).

Two ways to pace a sender:

* closed loop (``rate=None``): the next message goes out as soon as the ACK is in;
* open loop (``rate=R``): the senders share ``R`` messages/s, each on its own fixed
  schedule; a message's latency is counted from the time it was *due*, so an ACK that
  comes late and holds the next message back is charged to that message too (no
  coordinated omission).

One asyncio loop drives every sender of a process, each sender an
:class:`hl7bus.mllp.client.MllpClient` (the client of ``hl7bus send``); a message's ACK is
timed from when its bytes arrived (``ack_received_at``), not from when the loop got round to
the sender.  ``run_phase_procs`` splits the senders over several processes when one is not
enough.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pathlib
import resource
import time
from dataclasses import dataclass, field

from hl7bus.mllp.client import MllpClient


@dataclass(frozen=True, slots=True)
class Template:
    """A message split around its MSH-10, so that a copy with another control id is
    ``head + control_id + tail``."""

    name: str
    head: bytes
    tail: bytes

    def copy(self, control_id: bytes) -> bytes:
        return self.head + control_id + self.tail


def load_templates(corpus: pathlib.Path, count: int, max_bytes: int = 16384) -> list[Template]:
    """Up to ``count`` ORU^R01 messages of the corpus, of at most ``max_bytes`` (ORU-sized:
    the corpus also holds a few outliers up to 110 kB), that hl7bus translates and that ask
    for original-mode ACKs (no MSH-15, so AA rather than CA), chosen evenly over the sorted
    file list (so several sources are in), read in place."""
    from benchmarks.parse_baselines import corpus_files, message_type
    from hl7bus.errors import MessageError
    from hl7bus.hl7.header import control_id_bounds, read_header
    from hl7bus.mapping.profiles import ProfileSet
    from hl7bus.mapping.router import translate

    profiles = ProfileSet()
    accepted: list[Template] = []
    for path in corpus_files(corpus):
        raw = path.read_bytes()
        if len(raw) > max_bytes or not message_type(raw).startswith("ORU^R01"):
            continue
        bounds = control_id_bounds(raw)
        if bounds is None or read_header(raw).enhanced:  # enhanced mode answers CA, not AA
            continue
        head, tail = raw[: bounds[0]], raw[bounds[1] :]
        try:
            translate(head + b"BENCH0000001" + tail, profiles)
        except MessageError:
            continue
        accepted.append(Template(path.name, head, tail))
    if len(accepted) <= count:
        return accepted
    step = len(accepted) / count
    return [accepted[int(i * step)] for i in range(count)]


# -- one sender ---------------------------------------------------------------------------


def ack_code(ack: bytes, control_id: bytes) -> str:
    """MSA-1 of an ACK; ``"??"`` when its MSA-2 is not the control id that was sent."""
    sep = ack[3:4] or b"|"
    at = ack.find(b"\rMSA" + sep)
    if at < 0:
        return "??"
    fields = ack[at + 1 :].split(b"\r", 1)[0].split(sep)
    if len(fields) < 3 or fields[2] != control_id:
        return "??"
    return fields[1].decode("ascii", "replace")


@dataclass
class SenderResult:
    latencies: list[float] = field(default_factory=list)  # seconds
    codes: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    late: list[float] = field(default_factory=list)  # open loop: how late each send went out


async def _sender(
    host: str,
    port: int,
    templates: list[Template],
    tag: bytes,
    index: int,
    start_at: float,
    stop_at: float,
    interval: float | None,
    result: SenderResult,
    ack_timeout: float = 30.0,
) -> None:
    """Send until ``stop_at`` (``time.monotonic``), from ``start_at``; one message at a time."""
    client = await MllpClient.connect(host, port, timeout_s=ack_timeout)
    codes = result.codes
    latencies = result.latencies
    clock = time.perf_counter
    # perf_counter and monotonic are both CLOCK_MONOTONIC on Linux; keep the offset anyway.
    offset = clock() - time.monotonic()
    start, stop = start_at + offset, stop_at + offset
    n = len(templates)
    seq = 0
    prefix = tag + b"%03d" % index
    try:
        wait = start - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        due = start
        while True:
            now = clock()
            if now >= stop:
                break
            if interval is not None:
                if due > now:
                    await asyncio.sleep(due - now)
                    if due >= stop:
                        break
                sent_at = clock()
                result.late.append(sent_at - due)
                counted_from = due
                due += interval
            else:
                sent_at = counted_from = now
            control_id = prefix + b"%08d" % seq
            message = templates[(seq + index * 7) % n].copy(control_id)
            seq += 1
            try:
                ack = await client.send(message)
            except OSError:  # no ACK within ack_timeout, or the connection went
                result.errors += 1
                break
            latencies.append(client.ack_received_at - counted_from)
            code = ack_code(ack, control_id)
            codes[code] = codes.get(code, 0) + 1
    finally:
        await client.close()


async def run_phase(
    host: str,
    port: int,
    templates: list[Template],
    senders: int,
    seconds: float,
    rate: float | None,
    tag: bytes,
    first_sender: int = 0,
    start_at: float | None = None,
    total_senders: int | None = None,
) -> list[SenderResult]:
    """Run ``senders`` senders (numbered from ``first_sender``) for ``seconds``."""
    total = total_senders or senders
    interval = total / rate if rate else None
    start_at = start_at if start_at is not None else time.monotonic() + 0.3
    stop_at = start_at + seconds
    results = [SenderResult() for _ in range(senders)]
    tasks = []
    for i in range(senders):
        index = first_sender + i
        begin = start_at + (interval * index / total if interval else 0.0)
        tasks.append(
            _sender(host, port, templates, tag, index, begin, stop_at, interval, results[i])
        )
    await asyncio.gather(*tasks)
    return results


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _phase_in_process(args: tuple) -> tuple[list[SenderResult], float]:
    cpu = _cpu_seconds()
    results = asyncio.run(run_phase(*args))
    return results, _cpu_seconds() - cpu


def run_phase_procs(
    host: str,
    port: int,
    templates: list[Template],
    senders: int,
    seconds: float,
    rate: float | None,
    tag: bytes,
    procs: int,
) -> tuple[list[SenderResult], float]:
    """Senders spread over ``procs`` processes (1: this one); the results and the
    generator's CPU seconds."""
    procs = max(1, min(procs, senders))
    start_at = time.monotonic() + 0.5 + 0.3 * (procs > 1)
    if procs == 1:
        return _phase_in_process(
            (host, port, templates, senders, seconds, rate, tag, 0, start_at, senders)
        )
    shares = [senders // procs + (i < senders % procs) for i in range(procs)]
    jobs, first = [], 0
    for share in shares:
        jobs.append((host, port, templates, share, seconds, rate, tag, first, start_at, senders))
        first += share
    context = multiprocessing.get_context("fork")
    with context.Pool(procs) as pool:
        parts = pool.map(_phase_in_process, jobs)
    results = [r for part, _ in parts for r in part]
    return results, sum(cpu for _, cpu in parts)


def pid_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live descendants, from /proc."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = pathlib.Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # fields 14 and 15 of stat
        try:
            for task in pathlib.Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            pass
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total

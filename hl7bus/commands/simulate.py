"""``hl7bus simulate``: the simulated hospital (:mod:`hl7bus.simulate`) sends its feed over
MLLP, one connection per vendor system, as a hospital's interface engines do.

Messages go out at ``rate`` a second overall, evenly paced (a sender that falls behind does
not catch up in a burst), each vendor's in order on its connection, each after the previous
one's ACK; a patient's next message waits for the ACK of the one before it, whichever vendor
sent it, so the bus receives each story in order.  Progress is one line every few seconds
(every 10 s when stdout is not a terminal); at the end, or on Ctrl-C (SIGINT) or SIGTERM,
a summary per vendor: messages and ACK codes.  The deliberately broken messages are
expected to be refused (``AE``): they are counted as such, with their control ids, which
``hl7bus dlq`` finds.  Nothing of a patient is printed.

Exit status: 0 when every answer was the one expected, 2 when some were not, 1 when the
connector could not be reached or a connection failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from hl7bus.commands.send import ACCEPTED, read_ack
from hl7bus.errors import Hl7BusError
from hl7bus.mllp.client import MllpClient
from hl7bus.simulate import HOSPITAL, VENDORS, ZONE, SimulatedMessage, feed

QUEUE_LIMIT = 64
"""Messages waiting for one vendor's connection at most; then the pace waits for it."""
CATCH_UP_S = 0.5
"""How far behind its schedule the pace may fall and still catch up; further behind, the
schedule starts again from now rather than sending a burst."""
SHOWN = 20
"""Control ids and answers listed for people (``--json`` lists up to 1000)."""


@dataclass(frozen=True, slots=True)
class Options:
    host: str
    port: int
    rate: float  # messages a second, overall
    duration: float | None  # seconds; None: until stopped
    patients: int
    seed: int
    timeout_s: float = 30.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


# -- the pure part: what was answered, and what it adds up to ----------------------------------


@dataclass
class Tally:
    """The answers so far, per vendor; the broken messages; the answers not expected."""

    messages: Counter[str] = field(default_factory=Counter)  # per vendor
    acks: dict[str, Counter[str]] = field(default_factory=dict)  # per vendor
    broken: list[str] = field(default_factory=list)  # control ids of those refused as meant
    unexpected: list[dict[str, str]] = field(default_factory=list)
    first: datetime | None = None  # clinical time of the first and last message
    last: datetime | None = None

    def add(self, message: SimulatedMessage, code: str, text: str) -> None:
        self.messages[message.vendor] += 1
        self.acks.setdefault(message.vendor, Counter())[code] += 1
        self.first = min(self.first or message.sent_at, message.sent_at)
        self.last = max(self.last or message.sent_at, message.sent_at)
        refused = code not in ACCEPTED
        if message.broken and refused:
            self.broken.append(message.control_id)
        elif message.broken or refused:
            self.unexpected.append(
                {
                    "vendor": message.vendor,
                    "control_id": message.control_id,
                    "code": code,
                    "expected": "a rejection" if message.broken else "AA or CA",
                    "text": text,
                }
            )

    @property
    def answered(self) -> int:
        return sum(self.messages.values())

    def counts(self) -> Counter[str]:
        return sum(self.acks.values(), Counter())

    def exit_code(self) -> int:
        return 2 if self.unexpected else 0


def counts_text(counts: Counter[str]) -> str:
    order = sorted(counts.items(), key=lambda item: (item[0] not in ACCEPTED, item[0]))
    return ", ".join(f"{code} {n}" for code, n in order) or "none"


def header_line(options: Options) -> str:
    until = f"for {options.duration:g} s" if options.duration else "until Ctrl-C"
    return (
        f"Simulating {HOSPITAL}: {len(VENDORS)} vendor systems, {options.patients} patients "
        f"in care, seed {options.seed} (--seed {options.seed} replays it); {options.rate:g} "
        f"messages/s into MLLP at {options.address} {until}."
    )


def progress_line(tally: Tally, elapsed: float) -> str:
    minutes, seconds = divmod(int(elapsed), 60)
    rate = tally.answered / elapsed if elapsed > 0 else 0.0
    return (
        f"{minutes:02d}:{seconds:02d}  sent {tally.answered} ({counts_text(tally.counts())}), "
        f"{rate:.1f} msg/s"
    )


def summary_lines(tally: Tally, options: Options, elapsed: float, stopped: str) -> list[str]:
    sent = tally.answered
    rate = sent / elapsed if elapsed > 0 else 0.0
    lines = [
        f"Sent {sent} message{'' if sent == 1 else 's'} in {elapsed:.1f} s ({rate:.1f} msg/s) "
        f"to {options.address}; stopped by {stopped}; seed {options.seed}."
    ]
    if tally.first and tally.last:
        first, last = tally.first.astimezone(ZONE), tally.last.astimezone(ZONE)
        lines.append(f"Clinical time {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} ({ZONE.key}).")
    width = max(len(v.system) for v in VENDORS)
    lines.append(f"  {'vendor':<10} {'system':<{width}} {'messages':>8}  answers")
    for vendor in VENDORS:
        acks = tally.acks.get(vendor.application, Counter())
        count = tally.messages[vendor.application]
        lines.append(
            f"  {vendor.application:<10} {vendor.system:<{width}} {count:>8}  {counts_text(acks)}"
        )
    lines.append(f"  {'all':<10} {'':<{width}} {sent:>8}  {counts_text(tally.counts())}")
    if tally.broken:
        shown = ", ".join(tally.broken[:SHOWN])
        more = f" and {len(tally.broken) - SHOWN} more" if len(tally.broken) > SHOWN else ""
        lines.append(
            f"{len(tally.broken)} broken message{'' if len(tally.broken) == 1 else 's'} (an "
            f"empty PID-3), rejected as meant, to the dead-letter topic: {shown}{more}."
        )
    if tally.unexpected:
        lines.append(f"{len(tally.unexpected)} answers were not the ones expected:")
        for u in tally.unexpected[:SHOWN]:
            why = f": {u['text']}" if u["text"] else ""
            lines.append(f"  {u['code']} {u['control_id']} ({u['vendor']}){why}")
    return lines


def summary_json(tally: Tally, options: Options, elapsed: float, stopped: str) -> dict:
    return {
        "seed": options.seed,
        "patients": options.patients,
        "rate": options.rate,
        "duration": options.duration,
        "address": options.address,
        "elapsed_s": round(elapsed, 3),
        "stopped": stopped,
        "sent": tally.answered,
        "answered": tally.answered,
        "acks": dict(sorted(tally.counts().items())),
        "clinical_time": {
            "from": tally.first.astimezone(ZONE).isoformat() if tally.first else None,
            "to": tally.last.astimezone(ZONE).isoformat() if tally.last else None,
        },
        "vendors": [
            {
                "vendor": v.application,
                "system": v.system,
                "messages": tally.messages[v.application],
                "acks": dict(sorted(tally.acks.get(v.application, Counter()).items())),
            }
            for v in VENDORS
        ],
        "broken": {"rejected": len(tally.broken), "control_ids": tally.broken[:1000]},
        "unexpected": tally.unexpected[:1000],
    }


# -- the I/O part ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outgoing:
    message: SimulatedMessage
    after: asyncio.Future[None] | None  # the ACK of the patient's message before it
    answered: asyncio.Future[None]


async def _connect(options: Options) -> dict[str, MllpClient]:
    clients: dict[str, MllpClient] = {}
    try:
        for vendor in VENDORS:
            clients[vendor.application] = await MllpClient.connect(
                options.host, options.port, timeout_s=options.timeout_s
            )
    except OSError as exc:
        for client in clients.values():
            await client.close()
        why = (
            os.strerror(exc.errno)
            if exc.errno
            else str(exc) or f"no answer within {options.timeout_s:g} s"
        )
        raise Hl7BusError(
            f"no MLLP connector answers at {options.address} ({why}); start the local stack "
            "with `hl7bus dev up`, or name the connector with --host and --port"
        ) from None
    return clients


async def _dispatch(
    messages: Iterator[SimulatedMessage],
    queues: dict[str, asyncio.Queue[_Outgoing | None]],
    options: Options,
    stop: asyncio.Event,
) -> str:
    """Hand each message to its vendor's connection when it is due; why it stopped."""
    loop = asyncio.get_running_loop()
    interval = 1.0 / options.rate
    due = loop.time()
    deadline = None if options.duration is None else due + options.duration
    waiting: dict[int, asyncio.Future[None]] = {}  # story -> its last message's ACK
    for message in messages:
        if deadline is not None and due >= deadline - interval / 1000:  # float sums
            return "duration"
        pause = due - loop.time()
        if pause > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
        if stop.is_set():
            return "interrupted"
        answered = loop.create_future()
        after = waiting.pop(message.story, None)
        if not message.last_of_story:
            waiting[message.story] = answered
        await queues[message.vendor].put(_Outgoing(message, after, answered))
        due += interval
        if loop.time() - due > CATCH_UP_S:  # held up (the connector is slow): no burst
            due = loop.time()
    return "duration"


async def _send(
    vendor: str,
    client: MllpClient,
    queue: asyncio.Queue[_Outgoing | None],
    tally: Tally,
    options: Options,
) -> None:
    while (outgoing := await queue.get()) is not None:
        if outgoing.after is not None:
            await outgoing.after
        message = outgoing.message
        try:
            ack = await client.send(message.data)
        except TimeoutError:
            raise Hl7BusError(
                f"no ACK from the MLLP connector at {options.address} within "
                f"{options.timeout_s:g} s for {vendor}'s message {message.control_id}"
            ) from None
        except OSError as exc:
            raise Hl7BusError(
                f"the MLLP connector at {options.address} closed {vendor}'s connection "
                f"({exc.strerror or exc or 'closed'})"
            ) from None
        code, text = read_ack(ack)
        tally.add(message, code, text)
        outgoing.answered.set_result(None)


async def _progress(
    tally: Tally, every_s: float, started: float, show: Callable[[str], None]
) -> None:
    while True:
        await asyncio.sleep(every_s)
        show(progress_line(tally, time.monotonic() - started))


@dataclass(frozen=True, slots=True)
class Stop:
    """Why the run ended: ``duration``, ``interrupted`` (a signal) or ``failure``; and in a
    person's words (``--duration 5``, ``Ctrl-C``, ``SIGTERM``)."""

    kind: str
    words: str


async def simulate(
    options: Options,
    tally: Tally,
    *,
    progress_every_s: float | None = None,
    show: Callable[[str], None] = print,
) -> Stop:
    """Send the feed until ``options.duration`` ends or a signal (SIGINT, SIGTERM) stops it;
    the messages already due are still sent and answered.  A second signal stops at once."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals: list[str] = []
    main = asyncio.current_task()

    def on_signal(name: str) -> None:
        signals.append(name)
        if stop.is_set() and main is not None:
            main.cancel()
        stop.set()

    handled = []
    for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal, name)
            handled.append(sig)
    try:
        clients = await _connect(options)
    except BaseException:
        for sig in handled:
            loop.remove_signal_handler(sig)
        raise
    show(header_line(options))
    queues: dict[str, asyncio.Queue[_Outgoing | None]] = {
        app: asyncio.Queue(QUEUE_LIMIT) for app in clients
    }
    messages = feed(options.seed, options.patients)
    dispatcher = asyncio.create_task(_dispatch(messages, queues, options, stop))
    senders = [
        asyncio.create_task(_send(app, clients[app], queues[app], tally, options))
        for app in clients
    ]
    helpers = []
    if progress_every_s:
        started = time.monotonic()
        helpers.append(asyncio.create_task(_progress(tally, progress_every_s, started, show)))
    kind = "duration"
    try:
        pending: set[asyncio.Task] = {dispatcher, *senders}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if (error := task.exception()) is not None:
                    raise error
            if dispatcher in done:
                kind = dispatcher.result()
                for queue in queues.values():
                    await queue.put(None)  # what is due still goes; then each sender ends
    except asyncio.CancelledError:
        kind = "interrupted"
    finally:
        for task in (dispatcher, *senders, *helpers):
            task.cancel()
        for client in clients.values():
            await client.close()
        for sig in handled:
            loop.remove_signal_handler(sig)
    if kind == "interrupted":
        return Stop(kind, signals[0] if signals else "an interruption")
    return Stop(kind, f"--duration {options.duration:g}")


def run(options: Options, out: TextIO, err: TextIO, *, as_json: bool = False) -> int:
    """The ``simulate`` command: returns the exit status; what keeps it from sending raises."""
    people = err if as_json else out

    def show(line: str) -> None:
        people.write(line + "\n")
        people.flush()

    tally = Tally()
    started = time.monotonic()
    every = 3.0 if people.isatty() else 10.0
    failure: Hl7BusError | None = None
    try:
        stopped = asyncio.run(simulate(options, tally, progress_every_s=every, show=show))
    except Hl7BusError as exc:
        if not tally.answered:
            raise
        failure, stopped = exc, Stop("failure", "a failure")
    elapsed = time.monotonic() - started
    if as_json:
        summary = summary_json(tally, options, elapsed, stopped.kind)
        out.write(json.dumps(summary, ensure_ascii=False) + "\n")
        out.flush()
    else:
        for line in summary_lines(tally, options, elapsed, stopped.words):
            show(line)
    if failure is not None:
        raise failure
    return tally.exit_code()

"""The hospital's feed: every patient's story, interleaved in clinical time.

``patients`` stories run at once (the census).  When one ends, the next patient arrives a
little later, with the next scenario of a shuffled round (:data:`~.stories.DECK`), so that
every kind of story comes up every few patients.  The feed never ends; take what you need.

Reproducible: every random choice comes from generators seeded by the seed (one for the
arrivals, one per patient), so the same seed and census give the same bytes, and a patient's
story depends only on the seed, the patient's number and when they arrive.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .chart import Step
from .hospital import START, VENDORS
from .people import run_tag
from .stories import DECK, Scenario, story


@dataclass(frozen=True, slots=True)
class SimulatedMessage:
    """One message of the feed, and what the simulator knows about it."""

    vendor: str  # the sending application (MSH-3): one MLLP connection per vendor
    data: bytes  # the message, in the vendor's character set, segments ending in \r
    control_id: str  # MSH-10
    sent_at: datetime  # MSH-7, the simulated time it is sent at (in UTC)
    story: int  # the patient's number in this run
    scenario: Scenario
    patient_key: str  # the patient's key on the bus (AUTHORITY|MRN), merges included
    broken: bool  # meant to be refused (to the dead-letter topic)
    last_of_story: bool  # the patient's last message


def feed(seed: int, patients: int = 40, *, start: datetime = START) -> Iterator[SimulatedMessage]:
    """The simulated hospital's messages, in the order its vendor systems send them, for
    ever: ``patients`` patients in care at a time, clinical time from ``start``."""
    if patients < 1:
        raise ValueError("the hospital needs at least one patient")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    tag = run_tag(seed)
    arrivals = random.Random(f"hl7bus-simulate:{seed}:arrivals")
    deck: list[Scenario] = []
    sent = dict.fromkeys((v.application for v in VENDORS), 0)
    upcoming: list[tuple[datetime, int, int, list[Step], Scenario, str]] = []
    numbers = iter(range(10**9))

    def arrive(at: datetime) -> None:
        if not deck:
            deck.extend(DECK)
            arrivals.shuffle(deck)
        scenario = deck.pop()
        number = next(numbers)
        rng = random.Random(f"hl7bus-simulate:{seed}:patient:{number}")
        key, steps = story(scenario, rng, number, tag, at)
        heapq.heappush(upcoming, (steps[0].at, number, 0, steps, scenario, key))

    at = start.astimezone(UTC)  # so that adding hours adds hours, whatever the clocks do
    for _ in range(patients):
        arrive(at)
        at += timedelta(minutes=arrivals.randint(5, 45))
    while True:
        at, number, index, steps, scenario, key = heapq.heappop(upcoming)
        step = steps[index]
        vendor = step.vendor
        sent[vendor.application] += 1
        control_id = f"{vendor.prefix}{tag}{sent[vendor.application]:07d}"
        header = vendor.msh(step.at, step.message_type, control_id)
        last = index + 1 == len(steps)
        yield SimulatedMessage(
            vendor=vendor.application,
            data=vendor.encode("\r".join((header, *step.segments)) + "\r"),
            control_id=control_id,
            sent_at=step.at,
            story=number,
            scenario=scenario,
            patient_key=key,
            broken=step.broken,
            last_of_story=last,
        )
        if last:
            arrive(at + timedelta(minutes=arrivals.randint(5, 90)))
        else:
            following = (steps[index + 1].at, number, index + 1, steps, scenario, key)
            heapq.heappush(upcoming, following)


def messages(seed: int, patients: int = 40) -> Iterator[tuple[str, bytes]]:
    """``(vendor, message bytes)`` for ever: the benchmarks' load.  Send each vendor's
    messages in order on a connection of its own, as the hospital does::

        from itertools import islice
        load = list(islice(messages(seed=1, patients=200), 100_000))
    """
    for message in feed(seed, patients):
        yield message.vendor, message.data

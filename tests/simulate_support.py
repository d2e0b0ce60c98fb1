"""What the simulated hospital's tests share: one stretch of its feed, each message with what
hl7bus's own mapping made of it through the sample hospital's sender profiles (those the dev
stack's MLLP connector loads)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import islice

from hl7bus.commands.demo import sample_profiles
from hl7bus.errors import MessageError
from hl7bus.mapping.profiles import ProfileSet, load_profiles
from hl7bus.mapping.router import Translation, translate
from hl7bus.simulate import SimulatedMessage, feed

SEED = 20261201
PATIENTS = 16
COUNT = 3000


@cache
def profiles() -> ProfileSet:
    return load_profiles([sample_profiles()])


@dataclass(frozen=True)
class Translated:
    sent: SimulatedMessage
    translation: Translation | None
    error: MessageError | None


@cache
def translated_feed(
    seed: int = SEED, patients: int = PATIENTS, count: int = COUNT
) -> tuple[Translated, ...]:
    """The first ``count`` messages of the feed, each with its translation or its error."""
    found = []
    for sent in islice(feed(seed, patients=patients), count):
        try:
            found.append(Translated(sent, translate(sent.data, profiles()), None))
        except MessageError as exc:
            found.append(Translated(sent, None, exc))
    return tuple(found)


def finished_stories(items: tuple[Translated, ...]) -> set[int]:
    """The stories whose last message is among ``items``."""
    return {item.sent.story for item in items if item.sent.last_of_story}

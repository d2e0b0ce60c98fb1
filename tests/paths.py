"""Where the tests find things: the repository, the project's own test messages, and the
public HL7 sample corpus beside the repository (``../shared/corpus``; ``HL7BUS_CORPUS``
overrides it).

``make test`` reads only the project's own messages (``tests/messages/`` and the sample
hospital's feed); a test that reads the corpus is marked ``corpus`` and runs with
``make test-corpus``, which reads the corpus in place.  ``SOURCES`` parametrizes a test
over both: its ``own`` case runs in ``make test``, its ``corpus`` case in ``make test-corpus``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("HL7BUS_CORPUS", REPO.parent / "shared" / "corpus"))
OWN_MESSAGES = REPO / "tests" / "messages"
SAMPLE_FEED = REPO / "hl7bus" / "samples" / "feed"

SOURCES = ("own", pytest.param("corpus", marks=pytest.mark.corpus))


def own_files() -> list[Path]:
    """The project's own test messages, then the sample hospital's feed: each file may
    hold several messages (batch, headerless)."""
    return sorted(OWN_MESSAGES.rglob("*.hl7")) + sorted(SAMPLE_FEED.glob("*.hl7"))


def corpus_missing() -> str | None:
    """Why the corpus cannot be read (one sentence), or None when it is there."""
    if CORPUS.is_dir() and any(CORPUS.glob("*.hl7")):
        return None
    return (
        f"The HL7 sample corpus is not at {CORPUS}: the tests marked `corpus` "
        "(make test-corpus) read it in place; clone hl7bus beside ../shared, or point "
        "HL7BUS_CORPUS at it."
    )

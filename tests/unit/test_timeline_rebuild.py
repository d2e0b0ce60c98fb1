"""A rebuilt timeline store numbers its entries after the old store's last one, so that a
stream client resuming from an old number misses nothing; when the old store cannot say
what its last number is, the rebuild stops with the store's error instead of starting
again from 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from timeline_support import event

from hl7bus.services.timeline import rebuild
from hl7bus.services.timeline.entries import event_entry
from hl7bus.services.timeline.store import StoreUnavailable, open_store


def test_the_rebuilt_store_numbers_entries_after_the_old_ones(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'timeline.db'}") as store:
        assert rebuild._after(store) == 1
        admitted = event("PATIENT_ADMITTED", "MRN|1", "2026-01-01T08:00Z")
        store.apply_batch([event_entry(admitted)], {("g", "t", 0): 1})
        assert rebuild._after(store) == store.latest_sequence() + 1 == 2


def test_an_old_store_that_does_not_answer_stops_the_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(f"sqlite:///{tmp_path / 'timeline.db'}") as store:

        def unavailable() -> int:
            raise StoreUnavailable("the timeline store sqlite:///… failed: disk I/O error")

        monkeypatch.setattr(store, "latest_sequence", unavailable)
        with pytest.raises(StoreUnavailable):
            rebuild._after(store)

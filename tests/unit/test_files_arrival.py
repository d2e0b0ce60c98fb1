"""Which files of the pickup folder have arrived: settled, renamed in, or already old;
never a temporary name, never a file still growing; a failed file waits, longer each time."""

from __future__ import annotations

import pytest

from hl7bus.connectors.files.arrival import ArrivalWatch, Seen, is_candidate, retry_delay

T0 = 1_700_000_000.0  # a wall-clock "now", in seconds
SETTLE = 2.0


def names(ready: list[Seen]) -> list[str]:
    return [seen.name for seen in ready]


@pytest.mark.parametrize("name", ["adt.hl7", "LAB_20240101.txt", "batch", "x.tmp.hl7"])
def test_ordinary_names_are_candidates(name):
    assert is_candidate(name)


@pytest.mark.parametrize(
    "name", [".adt.hl7", ".rsync.XYZ", "adt.hl7.tmp", "adt.hl7.part", "ADT.PART", "upload.TMP"]
)
def test_dotfiles_and_temporary_names_are_ignored(name):
    assert not is_candidate(name)


def test_a_new_file_waits_for_the_settle_interval():
    watch = ArrivalWatch(SETTLE)
    seen = Seen("adt.hl7", 100, T0, 7)
    assert watch.observe([seen], T0) == []
    assert watch.observe([seen], T0 + 1.0) == []
    assert names(watch.observe([seen], T0 + SETTLE)) == ["adt.hl7"]
    assert names(watch.observe([seen], T0 + SETTLE + 1)) == ["adt.hl7"]  # until it is gone


def test_a_growing_file_is_never_ready():
    watch = ArrivalWatch(SETTLE)
    for step in range(10):  # a new piece every 1.5 s, each shorter than the settle interval
        now = T0 + 1.5 * step
        assert watch.observe([Seen("slow.hl7", 100 * (step + 1), now, 7)], now) == []
    last = Seen("slow.hl7", 1000, T0 + 13.5, 7)
    assert watch.observe([last], T0 + 14.0) == []
    assert names(watch.observe([last], T0 + 13.5 + SETTLE)) == ["slow.hl7"]


def test_a_changed_mtime_restarts_the_settle_interval():
    watch = ArrivalWatch(SETTLE)
    watch.observe([Seen("a.hl7", 10, T0, 1)], T0)
    assert watch.observe([Seen("a.hl7", 10, T0 + 1.9, 1)], T0 + 1.9) == []
    assert watch.observe([Seen("a.hl7", 10, T0 + 1.9, 1)], T0 + 3.0) == []
    assert names(watch.observe([Seen("a.hl7", 10, T0 + 1.9, 1)], T0 + 3.9)) == ["a.hl7"]


def test_a_file_renamed_in_from_a_temporary_name_is_ready_at_once():
    watch = ArrivalWatch(SETTLE)
    assert watch.observe([Seen("adt.hl7.part", 50, T0, 42)], T0) == []
    ready = watch.observe([Seen("adt.hl7", 80, T0 + 0.5, 42)], T0 + 0.6)
    assert names(ready) == ["adt.hl7"]


def test_a_new_file_with_another_inode_than_the_temporary_one_still_settles():
    watch = ArrivalWatch(SETTLE)
    watch.observe([Seen("adt.hl7.part", 50, T0, 42)], T0)
    assert watch.observe([Seen("adt.hl7", 80, T0 + 0.5, 43)], T0 + 0.6) == []


def test_a_file_already_older_than_the_settle_interval_is_ready_on_first_sight():
    watch = ArrivalWatch(SETTLE)
    assert names(watch.observe([Seen("old.hl7", 10, T0 - 60, 3)], T0)) == ["old.hl7"]


def test_ready_files_come_oldest_first_and_temporary_ones_never():
    watch = ArrivalWatch(SETTLE)
    scan = [
        Seen("b.hl7", 1, T0 - 10, 1),
        Seen("a.hl7", 1, T0 - 20, 2),
        Seen("c.hl7", 1, T0 - 10, 3),
        Seen("d.hl7.tmp", 1, T0 - 30, 4),
        Seen(".hidden", 1, T0 - 30, 5),
    ]
    assert names(watch.observe(scan, T0)) == ["a.hl7", "b.hl7", "c.hl7"]


def test_a_failed_file_waits_longer_each_time_and_comes_back():
    watch = ArrivalWatch(SETTLE, retry_initial_s=1.0, retry_max_s=5.0)
    seen = Seen("adt.hl7", 10, T0 - 60, 1)
    assert names(watch.observe([seen], T0)) == ["adt.hl7"]
    assert watch.failed("adt.hl7", T0) == 1.0
    assert watch.observe([seen], T0 + 0.5) == []
    assert names(watch.observe([seen], T0 + 1.0)) == ["adt.hl7"]
    assert watch.failed("adt.hl7", T0 + 1.0) == 2.0
    assert watch.observe([seen], T0 + 2.9) == []
    assert names(watch.observe([seen], T0 + 3.0)) == ["adt.hl7"]
    assert [watch.failed("adt.hl7", T0 + 3.0) for _ in range(3)] == [4.0, 5.0, 5.0]


def test_a_finished_file_starts_over_when_one_of_the_same_name_comes():
    watch = ArrivalWatch(SETTLE, retry_initial_s=1.0)
    old = Seen("adt.hl7", 10, T0 - 60, 1)
    watch.observe([old], T0)
    watch.failed("adt.hl7", T0)
    watch.finished("adt.hl7")
    assert watch.waiting == 0
    new = Seen("adt.hl7", 20, T0 + 0.1, 2)
    assert watch.observe([new], T0 + 0.2) == []  # a new file settles; no old deferral
    assert names(watch.observe([new], T0 + 0.1 + SETTLE)) == ["adt.hl7"]


def test_a_file_gone_from_the_folder_is_forgotten():
    watch = ArrivalWatch(SETTLE)
    watch.observe([Seen("a.hl7", 1, T0, 1)], T0)
    assert watch.waiting == 1
    watch.observe([], T0 + 1)
    assert watch.waiting == 0


@pytest.mark.parametrize(("attempt", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (9, 30.0)])
def test_retry_delay_doubles_up_to_a_cap(attempt, delay):
    assert retry_delay(attempt, 0.5, 30.0) == delay

"""The operators' alarms (consumer lag, dead letters): each starts once when its value goes
above the threshold and clears once when it is back at or below it, never said again while
the value stays on its side; and the dead letters counted in a window from the connectors'
metrics readings."""

from __future__ import annotations

import pytest

from hl7bus.services.web.alarms import Alarm, AlarmKind, evaluate
from hl7bus.services.web.connector_figures import ConnectorReading, Reading, dead_letters_within


def run(values: list[float | None], threshold: float = 10) -> list[tuple[bool, float]]:
    """The changes a series of values makes: (started, value) each."""
    alarm = Alarm(AlarmKind.LAG, threshold)
    said = []
    for at, value in enumerate(values):
        alarm, change = evaluate(alarm, value, float(at), "records behind")
        if change is not None:
            said.append((change.started, change.value))
    return said


def test_starts_once_above_and_clears_once_back():
    assert run([0, 5, 11, 50, 12, 10, 3, 10]) == [(True, 11), (False, 10)]


def test_the_threshold_itself_is_not_above_it():
    assert run([10, 10]) == []


def test_an_unread_value_changes_nothing():
    assert run([11, None, None, 12, None, 1]) == [(True, 11), (False, 1)]


def test_it_starts_again_after_clearing():
    assert run([20, 0, 30, 0]) == [(True, 20), (False, 0), (True, 30), (False, 0)]


def test_the_change_says_what_and_how_much():
    alarm = Alarm(AlarmKind.DEAD_LETTERS, 0)
    alarm, started = evaluate(alarm, 3.0, 100.0, "in the last 60 s")
    assert started is not None and started.started
    assert started.message == "Dead letters above the threshold: 3 in the last 60 s (threshold 0)."
    assert (alarm.active, alarm.since, alarm.value) == (True, 100.0, 3.0)
    alarm, again = evaluate(alarm, 5.0, 101.0, "in the last 60 s")
    assert again is None and alarm.value == 5.0 and alarm.since == 100.0
    alarm, cleared = evaluate(alarm, 0.0, 160.0, "in the last 60 s")
    assert cleared is not None and not cleared.started
    assert cleared.message.startswith("Dead letters back at or below the threshold: 0 ")
    assert (alarm.active, alarm.since) == (False, 160.0)


def reading(at: float, **dead: float) -> Reading:
    return Reading(
        at,
        tuple(
            ConnectorReading(name, acks={"AA": 0.0}, rejected={"data_type": n})
            for name, n in dead.items()
        ),
    )


def test_dead_letters_within_a_window_of_every_connector():
    readings = [
        reading(0, a=5, b=1),
        reading(30, a=6, b=1),
        reading(60, a=8, b=2),
        reading(90, a=8, b=4),
    ]
    # from the last reading at least 60 s old (at 30) to the latest: a +2, b +3
    assert dead_letters_within(readings, 60) == 5
    # a window longer than the readings: from the oldest
    assert dead_letters_within(readings, 600) == 6
    assert dead_letters_within(readings, 1) == 2


def test_dead_letters_of_a_restarted_or_new_connector():
    readings = [reading(0, a=50), reading(10, a=2, c=1)]
    assert dead_letters_within(readings, 10) == 3, "a restart counts from 0; a new one all"


@pytest.mark.parametrize("readings", [[], [reading(0, a=3)]])
def test_no_count_without_two_readings(readings):
    assert dead_letters_within(readings, 60) is None

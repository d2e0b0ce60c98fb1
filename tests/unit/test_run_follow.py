"""`hl7bus run` follows the bus: one line per look of what grew since the last, raised
alerts shown as they come, and one run at a time (a lock the kernel frees with the run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from hl7bus.commands.run import AlreadyRunning, Look, alert_line, follow_line, run_lock
from hl7bus.kafka.topics import Topics

TOPICS = Topics.with_prefix("")
AT = datetime(2026, 12, 1, 14, 5, 9, tzinfo=timezone(timedelta(hours=-5)))


def test_a_line_says_what_grew_since_the_last_look():
    before = Look(
        acks={"AA": 10, "AR": 1, "AE": 0},
        ends={TOPICS.events: 40, TOPICS.dlq: 1, TOPICS.raw: 11},
        lag={"timeline": 0, "alerts": 0},
    )
    after = Look(
        acks={"AA": 34, "AR": 2, "AE": 0},
        ends={TOPICS.events: 71, TOPICS.dlq: 2, TOPICS.raw: 37},
        lag={"timeline": 3, "alerts": None},
    )
    assert follow_line(before, after, AT, TOPICS) == (
        "14:05:09 · messages +25 (AA 24 AR 1) · events +31 · dead letters +1 "
        "· lag timeline 3, alerts ?"
    )


def test_a_part_that_did_not_answer_before_or_restarted_adds_nothing():
    before = Look(acks={}, ends={TOPICS.events: 500})
    after = Look(acks={"AA": 900}, ends={TOPICS.events: 20, TOPICS.dlq: 7})
    assert follow_line(before, after, AT, TOPICS) == (
        "14:05:09 · messages +0 · events +0 · dead letters +0"
    )


def test_a_raised_alert_is_shown_and_its_later_steps_are_not():
    raised = {
        "rule": "critical-value",
        "severity": "CRITICAL",
        "patient_key": "SIMGEN|SG000042",
        "title": "Potassium 6.8 mmol/L (critical above 6.1)",
        "status": "RAISED",
    }
    assert alert_line(raised) == (
        "  ALERT CRITICAL critical-value  SIMGEN|SG000042  "
        "Potassium 6.8 mmol/L (critical above 6.1)"
    )
    assert alert_line({**raised, "status": "ACKNOWLEDGED"}) is None


def test_a_second_run_is_told_where_the_first_is(tmp_path):
    lock = tmp_path / "run" / "hl7bus-run.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from hl7bus.commands.run import run_lock
                with run_lock(Path({str(lock)!r}), "http://127.0.0.1:8400"):
                    print("held", flush=True)
                    time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning) as refused, run_lock(lock, "http://127.0.0.1:8400"):
            pass
        assert f"process {holder.pid}" in str(refused.value)
        assert "http://127.0.0.1:8400/" in str(refused.value)
    finally:
        holder.kill()
        holder.wait()
    # The killed run's lock went with it.
    with run_lock(lock, "http://127.0.0.1:8400"):
        assert lock.read_text().strip().isdigit()

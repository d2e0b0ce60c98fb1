"""The tables the operators' commands show people: one row per thing, every figure in it,
nothing cut off; and the JSON the same commands give scripts."""

from __future__ import annotations

import io
import json

from rich.console import Console
from test_operators_views import dead_letter

from hl7bus.commands.tables import (
    components_table,
    dead_letters_table,
    lags_table,
    replay_table,
    topics_table,
)
from hl7bus.operators.dlq_replay import ReplayOutcome, ReplayReport
from hl7bus.operators.lag import PartitionLag
from hl7bus.operators.status import Component
from hl7bus.operators.topics import TopicView


def text(table) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(table)
    return out.getvalue()


def rows(table) -> int:
    return table.row_count


def test_topics_table() -> None:
    views = [
        TopicView("hl7.raw", 3, 120, 604_800_000, "delete", "hl7.raw-value", 4, 2, "BACKWARD"),
        TopicView("alerts.state", 3, 8, -1, "compact", None, None, None, None),
    ]
    table = topics_table(views)
    shown = text(table)
    assert rows(table) == 2
    for cell in ("hl7.raw", "120", "7d", "delete", "id 4 v2", "BACKWARD", "forever", "compact"):
        assert cell in shown
    assert json.loads(json.dumps(views[0].as_dict()))["records"] == 120


def test_lags_table_and_totals() -> None:
    lags = [
        PartitionLag("timeline", "clinical.events", 0, 10, 12, 2),
        PartitionLag("timeline", "clinical.events", 1, None, 5, None),
    ]
    table = lags_table(lags)
    shown = text(table)
    assert rows(table) == 2
    assert "timeline" in shown and "clinical.events" in shown and "12" in shown
    assert "—" in shown  # no committed offset in partition 1


def test_dead_letters_table_shows_id_error_where_and_copies() -> None:
    letters = [dead_letter(dead_letter_id="abc-1"), dead_letter(1, 3)]
    shown = text(dead_letters_table(letters))
    for cell in ("abc-1", "1:3", "required field missing", "PID-3", "ADT^A01", "ADMITWISE"):
        assert cell in shown


def test_replay_table_says_what_became_of_each() -> None:
    report = ReplayReport(
        dry_run=False,
        outcomes=(
            ReplayOutcome("a", "C1", "replayed", ("e1", "e2"), raw="hl7.raw 0:9"),
            ReplayOutcome(
                "b", "C2", "failed", error_code="required field missing", error="PID-3 …"
            ),
        ),
    )
    shown = text(replay_table(report))
    assert "replayed" in shown and "2 events" in shown and "required field missing" in shown
    assert report.replayed == 1 and report.failed == 1
    assert json.loads(json.dumps(report.as_dict()))["outcomes"][0]["event_ids"] == ["e1", "e2"]


def test_components_table() -> None:
    components = [
        Component("Kafka", "127.0.0.1:9092", "up", "4.1.1", 42, None),
        Component("Alerts", "http://127.0.0.1:9467/healthz", "stopped", None, None, None),
    ]
    shown = text(components_table(components))
    assert "Kafka" in shown and "4.1.1" in shown and "stopped" in shown

"""What the operators' commands show people: tables (rich) and one line per record.  Pure:
values in, renderables out; nothing is cut off (long cells fold)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table
from rich.text import Text

from hl7bus.operators.dlq import DeadLetterView
from hl7bus.operators.dlq_replay import ReplayReport
from hl7bus.operators.lag import PartitionLag
from hl7bus.operators.status import Component
from hl7bus.operators.topics import TopicView
from hl7bus.operators.views import RecordView, text_of

NONE = "—"
STATE_STYLE = {"up": "green", "unhealthy": "yellow", "down": "red", "stopped": "dim"}


def _table(*columns: str, right: Iterable[str] = ()) -> Table:
    table = Table(header_style="bold", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return table


def _cell(value: Any) -> str:
    return NONE if value is None else str(value)


def topics_table(views: Iterable[TopicView]) -> Table:
    table = _table(
        "topic",
        "partitions",
        "records",
        "retention",
        "clean-up",
        "schema",
        "compatibility",
        right=("partitions", "records"),
    )
    for v in views:
        schema = f"id {v.schema_id} v{v.schema_version}" if v.schema_id is not None else NONE
        table.add_row(
            v.name,
            str(v.partitions),
            str(v.records),
            v.retention,
            _cell(v.cleanup_policy),
            schema,
            _cell(v.compatibility),
        )
    return table


def lags_table(lags: Iterable[PartitionLag]) -> Table:
    table = _table(
        "group",
        "topic",
        "partition",
        "committed",
        "end",
        "lag",
        right=("partition", "committed", "end", "lag"),
    )
    for x in lags:
        lag = Text(_cell(x.lag), style="yellow" if x.lag else "")
        table.add_row(x.group, x.topic, str(x.partition), _cell(x.committed), _cell(x.end), lag)
    return table


def dead_letters_table(letters: Iterable[DeadLetterView]) -> Table:
    table = _table("id", "when", "sender", "message", "error", "where", "copies", right=("copies",))
    for d in letters:
        sender = "/".join(p for p in (d.sending_application, d.sending_facility) if p) or NONE
        message = " ".join(p for p in (d.kind, d.message_control_id) if p) or NONE
        table.add_row(
            d.id, _cell(d.timestamp), sender, message, d.error_code, _cell(d.where), str(d.copies)
        )
    return table


def replay_table(report: ReplayReport) -> Table:
    table = _table("dead letter", "control id", "outcome", "what")
    for o in report.outcomes:
        if o.status == "failed":
            what = Text(f"{o.error_code or 'not replayable'}: {o.error}", style="red")
        else:
            count = len(o.event_ids)
            what = Text(f"{count} event{'s' * (count != 1)}" + (f", raw {o.raw}" if o.raw else ""))
        table.add_row(o.id, _cell(o.control_id), o.status, what)
    return table


def components_table(components: Iterable[Component]) -> Table:
    table = _table("part", "state", "address", "version", "pid", "detail", right=("pid",))
    for c in components:
        state = Text(c.state, style=STATE_STYLE.get(c.state, ""))
        table.add_row(c.name, state, c.address, _cell(c.version), _cell(c.pid), c.detail or "")
    return table


def summary(record: str | None, value: Any) -> str:
    """One line saying what a record is, by its record type."""
    if not isinstance(value, dict):
        return NONE if value is None else str(value)[:200]
    if record == "ClinicalEvent":
        source = value["source"]
        kind = "^".join(p for p in (source["message_type"], source.get("trigger_event")) if p)
        return (
            f"{value['event_type']} {value['patient']['key']}  "
            f"({kind} {source['message_control_id']})"
        )
    if record in ("RawMessage", "DeadLetter"):
        kind = "^".join(p for p in (value.get("message_type"), value.get("trigger_event")) if p)
        head = f"{kind or '?'} {value.get('message_control_id') or '?'}"
        if record == "DeadLetter":
            return f"{head}  {value['error_code']}: {value['error_message']}"
        replay = value.get("replay")
        note = f"  replay of dead letter {replay['dead_letter_id']}" if replay else ""
        sender = "/".join(
            p for p in (value.get("sending_application"), value.get("sending_facility")) if p
        )
        return f"{head} from {sender or '?'}, {len(value['raw'])} bytes{note}"
    if record == "ClinicalAlert":
        return (
            f"{value['severity']} {value['rule']} {value['patient_key']} "
            f"{value.get('status', '')}: {value['title']}"
        )
    if record == "AccessAudit":
        return (
            f"{value['user']} ({value['role']}) {value['method']} {value['path']} {value['status']}"
        )
    return text_of(str(value).encode())[:200]


def record_line(record: str | None, view: RecordView) -> Text:
    line = Text()
    line.append(view.timestamp or "?", style="dim")
    line.append(f"  {view.topic} {view.partition}:{view.offset}  ", style="cyan")
    line.append(summary(record, view.value))
    return line

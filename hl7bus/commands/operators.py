"""``hl7bus tail``, ``topics``, ``lag``, ``find`` and ``status``: the operators' core
(:mod:`hl7bus.operators`) shown to people as tables and lines, or to scripts as JSON
(``--json``: one document; JSON lines for ``tail``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from rich.console import Console

from hl7bus.commands import tables
from hl7bus.settings import KafkaSettings, RegistrySettings


def console() -> Console:
    """Tables and lines for people: as wide as the terminal, or wide enough when piped."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def emit(document: Any) -> None:
    """One JSON document (or line) on stdout, at once."""
    print(json.dumps(document, ensure_ascii=False), flush=True)


def tail(args: argparse.Namespace) -> int:
    from hl7bus.operators.bus import record_types, topic_name
    from hl7bus.operators.records import read_records
    from hl7bus.operators.times import Start, parse_start

    kafka, registry = KafkaSettings(), RegistrySettings()
    if args.start is not None:
        start = parse_start(args.start)
    else:
        start = Start("end" if args.follow else "beginning")
    record = record_types(kafka).get(topic_name(kafka, args.topic))
    out = console()
    records = read_records(
        kafka,
        registry,
        args.topic,
        start=start,
        patient=args.patient,
        kind=args.type,
        limit=args.limit,
        follow=args.follow,
    )
    with contextlib.closing(records):
        for view in records:
            if args.json:
                emit(view.as_dict())
            else:
                out.print(tables.record_line(record, view))
                sys.stdout.flush()
    return 0


def topics(args: argparse.Namespace) -> int:
    from hl7bus.operators.topics import describe_topics

    views = describe_topics(KafkaSettings(), RegistrySettings(), args.topics or None)
    if args.json:
        emit({"topics": [v.as_dict() for v in views]})
    else:
        console().print(tables.topics_table(views))
    return 0


def lag(args: argparse.Namespace) -> int:
    from hl7bus.operators.lag import group_lags

    lags = group_lags(KafkaSettings(), args.groups or None)
    if args.json:
        emit({"lags": [x.as_dict() for x in lags]})
        return 0
    out = console()
    out.print(tables.lags_table(lags))
    totals: dict[str, int] = {}
    for x in lags:
        totals[x.group] = totals.get(x.group, 0) + (x.lag or 0)
    for group, total in totals.items():
        out.print(f"{group}: {total} records behind")
    if not lags:
        out.print("No consumer group has committed offsets on a topic of this cluster.")
    return 0


def find(args: argparse.Namespace) -> int:
    from hl7bus.operators.bus import record_types
    from hl7bus.operators.find import find as find_records

    kafka = KafkaSettings()
    found = find_records(kafka, RegistrySettings(), args.query)
    if args.json:
        emit(found.as_dict())
        return 0
    out, types = console(), record_types(kafka)
    for title, views in (("Raw messages", found.raw), ("Events", found.events)):
        out.print(f"[bold]{title}[/bold] ({len(views)})")
        for view in views:
            out.print(tables.record_line(types.get(view.topic), view))
    out.print(f"[bold]Dead letters[/bold] ({len(found.dead_letters)})")
    if found.dead_letters:
        out.print(tables.dead_letters_table(found.dead_letters))
    out.print(f"[bold]Alerts[/bold] ({len(found.alerts)})")
    for view in found.alerts:
        out.print(tables.record_line(types.get(view.topic), view))
    return 0


def status(args: argparse.Namespace) -> int:
    from hl7bus.operators.status import status as components

    found = components(KafkaSettings(), RegistrySettings())
    if args.json:
        emit({"components": [c.as_dict() for c in found]})
    else:
        console().print(tables.components_table(found))
    return 0 if all(c.up for c in found) else 3

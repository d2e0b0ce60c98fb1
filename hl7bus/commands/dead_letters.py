"""``hl7bus dlq list|show|replay`` and ``hl7bus replay``: dead letters and replays shown to
people (tables, a progress bar on a terminal) or to scripts (``--json``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hl7bus.commands import tables
from hl7bus.commands.operators import console, emit
from hl7bus.mapping.profiles import ProfileSet
from hl7bus.operators.times import parse_time
from hl7bus.settings import KafkaSettings, RegistrySettings

SOME_FAILED = 2


def _since(args: argparse.Namespace, option: str = "since"):  # -> datetime | None
    text = getattr(args, option)
    return parse_time(text, option=f"--{option}") if text is not None else None


def profiles(paths: list[Path]) -> ProfileSet:
    """The sender profiles of ``--profile``, else those of ``HL7BUS_MLLP_PROFILES``."""
    from hl7bus.mapping.profiles import load_profiles
    from hl7bus.settings import MllpSettings

    return load_profiles(paths or MllpSettings().profiles)


@contextlib.contextmanager
def progress_bar(what: str, show: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing a bar on stderr when it is a terminal, else None."""
    if not (show and sys.stderr.isatty()):
        yield None
        return
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(what, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def dlq_list(args: argparse.Namespace) -> int:
    from hl7bus.operators.dlq import dead_letters

    letters = dead_letters(
        KafkaSettings(),
        RegistrySettings(),
        since=_since(args),
        code=args.code,
        sender=args.sender,
        limit=args.limit,
    )
    if args.json:
        emit({"dead_letters": [d.as_dict(raw=False) for d in letters]})
    elif letters:
        console().print(tables.dead_letters_table(letters))
    else:
        console().print("No dead letters.")
    return 0


def dlq_show(args: argparse.Namespace) -> int:
    from hl7bus.operators.dlq import dead_letter

    letter = dead_letter(KafkaSettings(), RegistrySettings(), args.id)
    if args.json:
        emit(letter.as_dict())
        return 0
    shown = letter.as_dict()
    out = console()
    for name in (
        "id",
        "error_code",
        "where",
        "error_message",
        "error_detail",
        "message_control_id",
        "sending_application",
        "sending_facility",
        "connector",
        "peer",
        "received_at",
        "failed_at",
        "mapping_version",
        "copies",
    ):
        if shown.get(name) is not None:
            out.print(f"[bold]{name:<20}[/bold] {escape(str(shown[name]))}")
    out.print(f"[bold]{'on Kafka':<20}[/bold] {letter.topic} {letter.partition}:{letter.offset}")
    if letter.raw_topic is not None:
        out.print(
            f"[bold]{'raw record':<20}[/bold] {letter.raw_topic} "
            f"{letter.raw_partition}:{letter.raw_offset}"
        )
    out.print("[bold]message[/bold]")
    for segment in shown["raw"].replace("\r\n", "\r").replace("\n", "\r").split("\r"):
        if segment:
            out.print(escape(segment))
    return 0


def dlq_replay(args: argparse.Namespace) -> int:
    from hl7bus.operators.dlq_replay import replay

    with progress_bar("Replaying dead letters", not args.json) as progress:
        report = replay(
            KafkaSettings(),
            RegistrySettings(),
            ids=args.ids,
            code=args.code,
            since=_since(args),
            max=args.max,
            dry_run=args.dry_run,
            profiles=profiles(args.profile),
            progress=progress,
        )
    if args.json:
        emit(report.as_dict())
    else:
        out = console()
        out.print(tables.replay_table(report))
        verb = "would replay" if report.dry_run else "replayed"
        out.print(f"{verb} {report.replayed}, failed {report.failed}")
    return SOME_FAILED if report.failed else 0


def replay_raw(args: argparse.Namespace) -> int:
    from hl7bus.errors import UsageError
    from hl7bus.operators.replay import replay_raw as run

    if args.since is None:
        raise UsageError(
            "say where the replay starts: --since T (2026-11-28T10:00+01:00, or a time ago: 6h, 2d)"
        )
    with progress_bar("Replaying hl7.raw", not args.json) as progress:
        report = run(
            KafkaSettings(),
            RegistrySettings(),
            _since(args),
            _since(args, "until"),
            max=args.max,
            rate=args.rate or None,
            profiles=profiles(args.profile),
            progress=progress,
        )
    if args.json:
        emit(report.as_dict())
        return 0
    out = console()
    out.print(
        f"Re-ran {report.messages} messages: {report.events} events written, "
        f"{report.without_events} without events, {len(report.failed)} failed."
    )
    for f in report.failed:
        out.print(
            f"  {f.partition}:{f.offset} {escape(f.control_id or '?')}: {escape(f.error_code)}"
        )
    return 0

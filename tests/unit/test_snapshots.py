"""Snapshots: what hl7bus gives for chosen corpus messages, recorded from its output.

Each ``tests/snapshots/<what it covers>.json`` holds the events hl7bus wrote for one
input file, named in it: a corpus file (read in place from ``CORPUS``) or one of the
project's own messages in ``tests/messages/``.  These are regression guards written by the
code under test, not expectations written from the HL7 text (those are the goldens of
``tests/golden/``).  When the code changes what it gives, a failure lists each differing
field; review each change, then rewrite the snapshots::

    .venv/bin/python tests/unit/test_snapshots.py --update [NAME ...]

Snapshots of corpus files run with ``make test-corpus``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from hl7bus.errors import MessageError
from hl7bus.events.records import decode, encode, to_record
from hl7bus.hl7 import split_messages
from hl7bus.mapping.profiles import ProfileSet, SenderProfile
from hl7bus.mapping.router import translate

REPO = Path(__file__).resolve().parents[2]
from paths import CORPUS  # noqa: E402

SNAPSHOTS = REPO / "tests" / "snapshots"
INPUTS = REPO / "tests" / "messages"

CASES = sorted(p.name for p in SNAPSHOTS.glob("*.json"))


def _input(name: str) -> Path:
    own = INPUTS / name
    return own if own.exists() else CORPUS / name


def _profiles(snapshot: dict[str, Any]) -> ProfileSet:
    if snapshot.get("profile"):
        return ProfileSet(default=SenderProfile.model_validate(snapshot["profile"]))
    return ProfileSet()


def actual_messages(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """What hl7bus gives today for the snapshot's input, in its form."""
    profiles = _profiles(snapshot)
    out: list[dict[str, Any]] = []
    for chunk in split_messages(_input(snapshot["input"]).read_bytes()):
        try:
            translation = translate(chunk, profiles)
        except MessageError as exc:
            out.append(
                {"rejected": {"code": exc.code.text, "segment": exc.segment, "field": exc.field}}
            )
            continue
        if not translation.mapped:  # well-formed, no mapper for its type: stored, no event
            out.append({"without_events": {"type": translation.kind}})
            continue
        events = []
        for event in translation.events:
            assert decode(encode(event)) == event, "the event does not survive Avro"
            record = to_record(event)
            record["source"].pop("received_at", None)
            events.append(record)
        out.append({"events": events})
    return out


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        if not value:
            out[path] = {}
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        out[f"{path}#len"] = len(value)
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out)
    else:
        out[path] = value


_MISSING = object()


def differences(expected: Any, actual: Any) -> list[str]:
    """One line per field that differs: ``path: expected ..., got ...``."""
    want: dict[str, Any] = {}
    got: dict[str, Any] = {}
    _flatten(expected, "", want)
    _flatten(actual, "", got)
    lines = []
    for path in sorted(set(want) | set(got), key=lambda p: (p.split("[")[0], p)):
        w, g = want.get(path, _MISSING), got.get(path, _MISSING)
        if w == g:
            continue
        shown_w = "(absent)" if w is _MISSING else repr(w)
        shown_g = "(absent)" if g is _MISSING else repr(g)
        lines.append(f"{path}: expected {shown_w}, got {shown_g}")
    return lines


def test_there_are_enough_snapshots() -> None:
    assert len(CASES) >= 40


def _case(name: str) -> pytest.ParameterSet:
    """A snapshot as a test case: marked ``corpus`` when its input is a corpus file."""
    marks = []
    snapshot = json.loads((SNAPSHOTS / name).read_text(encoding="utf-8"))
    if not (INPUTS / snapshot["input"]).exists():
        marks.append(pytest.mark.corpus)
    return pytest.param(name, marks=marks)


@pytest.mark.parametrize("case", [_case(c) for c in CASES])
def test_snapshot(case: str) -> None:
    snapshot = json.loads((SNAPSHOTS / case).read_text(encoding="utf-8"))
    assert _input(snapshot["input"]).is_file(), f"{case}: no input {snapshot['input']}"
    diff = differences(snapshot["messages"], actual_messages(snapshot))
    if diff:
        shown = "\n  ".join(diff[:60])
        more = f"\n  ... and {len(diff) - 60} more" if len(diff) > 60 else ""
        pytest.fail(
            f"{case}: {len(diff)} field(s) differ from the snapshot "
            f"({snapshot.get('covers', '')}):\n  {shown}{more}",
            pytrace=False,
        )


def update(names: list[str]) -> None:
    """Rewrite snapshots from the current output (keeping input, covers and profile)."""
    for name in names:
        name = name.removesuffix(".json")
        path = SNAPSHOTS / f"{name}.json"
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        snapshot["messages"] = actual_messages(snapshot)
        path.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--update":
        sys.exit("usage: test_snapshots.py --update [NAME ...]  (all snapshots when no NAME)")
    update(args[1:] or [c.removesuffix(".json") for c in CASES])
